r"""ASRL for Keras 3: the :class:`~asrl.keras.ASRLLoss` loss and :func:`~asrl.keras.asrl_loss`.

A thin adapter over :mod:`asrl.core`, written with :mod:`keras.ops` so that it runs
on the TensorFlow, JAX and PyTorch backends: the loss is
``core.formulas.continuous_rho`` (or ``stats_rho``), its gradient the closed form
``continuous_psi`` (or ``stats_psi``) through :func:`keras.ops.custom_gradient`, and
the residual statistics come from the loss's own rule
(:meth:`asrl.ASRL.statistics_rule`) run by :func:`asrl.core.rules.run_xp` on the
residuals under :func:`keras.ops.stop_gradient`, so any rule of
:data:`asrl.core.rules.THRESHOLD_RULES` works here unchanged. This module only
answers the rule's requests: order statistics by one :func:`keras.ops.sort` per
request, the numpy core's fixed subsample above ``threshold_sample`` elements, and
``max |u|`` over all elements.

The closed-form gradient is not a matter of speed only: ``min(|u|, d1)`` and
``max(|u|, d1)`` both pass TensorFlow's whole gradient to ``|u|`` when ``|u| == d1``,
so autodiff through the branchless formula gives ``2 d1`` at the threshold, and a
quantile threshold is often exactly one of the residuals.

Reduction and sample weights are Keras's own (as in :class:`keras.losses.Huber`):
the elementwise loss is averaged over the last axis, giving one value per sample,
and :class:`keras.losses.Loss` weights and reduces those.

``import asrl`` never imports Keras; importing this module without it raises an
:class:`ImportError` that names the extra to install (``pip install "asrl[keras]"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._optional import missing

try:
    import keras
    from keras import ops
except ModuleNotFoundError as error:
    if error.name == "keras":
        raise missing("Keras", "keras") from error
    raise ImportError(
        f"Keras is installed but its backend is not ({error}): install TensorFlow, JAX or "
        "PyTorch and choose it with the KERAS_BACKEND environment variable."
    ) from error

from .core import formulas
from .core.quantiles import sample_positions
from .core.rules import ASRLStatistics, Scalars, quantiles_xp, run_xp
from .losses import ASRL
from .params import NEWTON_ONLY, ASRLParams, autograd_params, with_autograd_params

__all__ = ["NEWTON_ONLY", "ASRLLoss", "asrl_loss", "asrl_statistics"]

Tensor = Any

# --------------------------------------------------------------------------------------
# Inputs and residual statistics
# --------------------------------------------------------------------------------------


def _same_rank(y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    """Keras's rule for labels of one rank less: ``(n,)`` against ``(n, 1)`` becomes
    ``(n, 1)`` against ``(n, 1)`` (and a trailing axis of 1 is squeezed otherwise)."""
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        if pred_rank == 1:
            return y_true, ops.expand_dims(y_pred, -1)
        return ops.squeeze(y_true, -1), y_pred
    if pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        if true_rank == 1:
            return ops.expand_dims(y_true, -1), y_pred
        return y_true, ops.squeeze(y_pred, -1)
    return y_true, y_pred


def _residuals(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_pred - y_true`` in the compute dtype, after Keras's rank rule and the shape check.

    float16 and bfloat16 are computed in float32 (so are integers), else the dtype of
    ``y_pred``, to which ``y_true`` is cast (as Keras's losses do).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if "float" not in dtype or np.dtype(dtype if dtype != "bfloat16" else "float16").itemsize < 4:
        dtype = "float32"
    y_pred = ops.cast(y_pred, dtype)
    y_true = ops.cast(ops.convert_to_tensor(y_true), dtype)
    y_true, y_pred = _same_rank(y_true, y_pred)
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(true_shape) != len(pred_shape) or any(
        a is not None and b is not None and a != b
        for a, b in zip(true_shape, pred_shape, strict=True)
    ):
        raise ValueError(
            "y_true and y_pred must have the same shape (no broadcasting); got "
            f"{true_shape} and {pred_shape}."
        )
    if any(d == 0 for d in pred_shape):
        raise ValueError("y_true and y_pred are empty; at least one element is needed.")
    return y_pred - y_true


def _finite_quantiles(x: Tensor, levels: tuple[float, ...]) -> tuple[Tensor, ...]:
    """Type-7 quantiles of the finite values of flat ``x``, and their maximum: one sort.

    The non-finite values are sorted to the end, and the ranks come from the count
    of finite values: the arithmetic of :func:`asrl.core.quantiles.type7_ranks` and
    ``lerp`` on tensors, the virtual rank ``(count - 1) q`` in float64 (as the
    Python float is; float32 on JAX without x64) and the weight rounded to ``x``'s
    dtype where the core's Python float would be. When the length is known and
    every value is finite, the static ranks of :func:`asrl.core.rules.quantiles_xp`
    are used, so those thresholds equal the numpy core's bit for bit on every
    backend. With no finite value every answer is 0. A TensorFlow graph whose
    length is known only when it runs (Keras's ``fit``) takes the counted ranks.
    """
    finite = ops.isfinite(x)
    count = ops.sum(ops.cast(finite, "int32"))
    ordered = ops.sort(ops.where(finite, x, np.inf))
    wide = "float64" if _float64_available() else "float32"
    last = ops.cast(ops.maximum(count - 1, 0), wide)
    some = count > 0

    def at(rank: Tensor) -> Tensor:
        return ops.where(some, ops.take(ordered, ops.cast(rank, "int32")), 0.0)

    found = []
    for q in levels:
        virtual = last * q
        below = ops.floor(virtual)
        t = virtual - below
        low, high = at(below), at(ops.minimum(below + 1.0, last))
        diff = high - low
        upper = t >= 0.5
        w = ops.cast(ops.where(upper, 1.0 - t, t), x.dtype)
        found.append(ops.where(upper, high - diff * w, low + diff * w))
    counted = (*found, at(last))
    n = x.shape[0]
    if n is None:
        return counted
    static = quantiles_xp(ordered, levels, lambda _, ranks: {r: ordered[r] for r in ranks})
    every = count == n
    return tuple(ops.where(every, a, b) for a, b in zip(static, counted, strict=True))


def _float64_available() -> bool:
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


def _times(c: float, sigma: Tensor) -> Tensor:
    """``c * sigma`` rounded once from float64, as the numpy driver does."""
    return ops.cast(c * ops.cast(sigma, "float64"), sigma.dtype)


def _statistics(u: Tensor, loss: ASRL) -> ASRLStatistics:
    """The loss's rule run on the finite residuals of ``u``: statistics of 0-d tensors.

    The rule sees the finite values of the numpy core's fixed subsample above
    ``threshold_sample`` elements, and ``max |u|`` over all finite elements when it
    asks for it. A length known only when a TensorFlow graph runs (Keras's ``fit``
    traces with the batch size unknown) cannot choose the subsample's positions, so
    those statistics are exact.
    """
    flat = ops.reshape(ops.stop_gradient(u), (-1,))
    n, size = flat.shape[0], loss.sample_size
    dtype = keras.backend.standardize_dtype(flat.dtype)
    sampled = n is not None and size is not None and n > size
    sample = ops.take(flat, ops.convert_to_tensor(sample_positions(n, size))) if sampled else flat
    float64 = dtype != "float64" and _float64_available()
    ops_ = Scalars(_XP, np.finfo(dtype), _times if float64 else (lambda c, x: c * x))
    finite = ops.isfinite(sample)
    count = ops.sum(ops.cast(finite, "int32"))
    every = count == ops.shape(sample)[0]

    def largest() -> Tensor:
        a = ops.abs(flat)
        return ops.max(ops.where(ops.isfinite(a), a, 0.0))

    def mean(f: Tensor) -> Tensor:  # the backend's own mean when every residual is finite
        masked = ops.sum(ops.where(finite, f, 0.0)) / ops.cast(ops.maximum(count, 1), dtype)
        return ops.where(every, ops.mean(f), masked)

    statistics: ASRLStatistics = run_xp(
        loss.statistics_rule, sample, ops_, None, largest, quantiles=_finite_quantiles, mean=mean
    )
    return statistics


def _values(u: Tensor, loss: ASRL, statistics: ASRLStatistics | None) -> tuple[Tensor, ...]:
    """The given ``statistics`` (numbers or 0-d tensors) or these residuals', flat."""
    if statistics is None:
        statistics = _statistics(u, loss)
    else:
        loss.check_statistics(statistics)
    values = statistics.flat()
    return tuple(ops.stop_gradient(ops.cast(v, u.dtype)) for v in values)


# --------------------------------------------------------------------------------------
# The elementwise loss with its closed-form gradient
# --------------------------------------------------------------------------------------


def _barrier(stats: tuple[Tensor, ...], shape: Any) -> tuple[Tensor, ...]:
    """On JAX, the statistics as full arrays behind an optimisation barrier.

    XLA turns a division by a broadcast scalar into a multiplication by its
    reciprocal, which is not correctly rounded; ``log(max(|u|, d2) / d2)`` would
    then be ``-6e-8`` rather than 0 inside the thresholds (see :mod:`asrl.jax`).
    """
    if keras.backend.backend() != "jax":
        return stats
    import jax

    full: tuple[Tensor, ...] = jax.lax.optimization_barrier(  # type: ignore[no-untyped-call]
        tuple(ops.broadcast_to(s, shape) for s in stats)
    )
    return full


class _Ops:
    """:mod:`keras.ops` with the one function of the core's formulas it lacks."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ops, name)

    @staticmethod
    def copysign(x: Tensor, y: Tensor) -> Tensor:
        """``numpy.copysign`` for numbers (the sign bit of ``y``, so ``-0.0`` too)."""
        magnitude = ops.abs(x)
        return ops.where(ops.signbit(y), -magnitude, magnitude)


_XP = _Ops()


def _rho(u: Tensor, stats: Sequence[Tensor], weights: str) -> Tensor:
    if weights == "continuous":
        d1, d2 = stats
        return formulas.continuous_rho(ops.abs(u), d1, d2, xp=_XP)
    d1, d2, s_var, s_iqr, s_mad = stats
    return formulas.stats_rho(ops.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=_XP)


def _psi(u: Tensor, stats: Sequence[Tensor], weights: str) -> Tensor:
    if weights == "continuous":
        d1, d2 = stats
        return formulas.continuous_psi(u, ops.abs(u), d1, d2, xp=_XP)
    d1, d2, s_var, s_iqr, s_mad = stats
    return formulas.stats_psi(u, ops.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=_XP)


def _elementwise(u: Tensor, stats: tuple[Tensor, ...], weights: str) -> Tensor:
    """``rho(u)``, whose gradient in ``u`` is ``psi(u)`` (the statistics are constants)."""

    @ops.custom_gradient  # type: ignore[untyped-decorator]
    def rho(u: Tensor, *stats: Tensor) -> tuple[Tensor, Any]:
        def grad(*args: Tensor, upstream: Tensor | None = None) -> tuple[Tensor, ...]:
            if upstream is None:  # TensorFlow and JAX pass it alone, torch by keyword
                (upstream,) = args
            # 0 where the residual is NaN, so a masked loss passes no NaN back.
            grad = ops.where(ops.isnan(u), 0.0, _psi(u, stats, weights) * upstream)
            return (grad, *(ops.zeros_like(s) for s in stats))

        return _rho(u, stats, weights), grad

    result: Tensor = rho(u, *_barrier(stats, ops.shape(u)))
    return result


def _per_sample(
    y_true: Tensor, y_pred: Tensor, loss: ASRL, statistics: ASRLStatistics | None
) -> Tensor:
    u = _residuals(y_true, y_pred)
    rho = _elementwise(u, _values(u, loss, statistics), loss.params.weights)
    return ops.mean(rho, axis=-1)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@with_autograd_params
def asrl_loss(
    y_true: Tensor, y_pred: Tensor, *, statistics: ASRLStatistics | None = None, **params: Any
) -> Tensor:
    r"""ASRL of ``y_pred - y_true``, averaged over the last axis (as :func:`keras.losses.huber`).

    With ``u = y_pred - y_true`` and thresholds :math:`\delta_1 \le \delta_2`
    computed from all the residuals under :func:`keras.ops.stop_gradient`, the
    elementwise loss for the default ``weights="continuous"`` is

    .. math::

        \rho(u) = \begin{cases}
            u^2 / 2 & |u| \le \delta_1 \\
            \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
            \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
                & |u| > \delta_2
        \end{cases}

    and its gradient is :math:`u`, :math:`\delta_1 \operatorname{sign}(u)`,
    :math:`\delta_1 \delta_2 / u` (``docs/maths.md``).

    Parameters
    ----------
    y_true, y_pred : tensors of the same shape
        Targets and predictions. ``y_true`` of one rank less than a ``y_pred`` whose
        last axis is 1 is given that axis (Keras's rule); otherwise no broadcasting.
        float16 and bfloat16 are computed in float32; ``y_true`` is cast to
        ``y_pred``'s dtype.
    statistics : asrl.ASRLStatistics, optional
        Thresholds (and, for ``weights="stats"``, scales) to use instead of computing
        them: Python numbers (checked when the value is made) or 0-d tensors.
    q_low, q_high, thresholds, c1, c2, weights, threshold_sample
        ASRL's parameters: see :class:`asrl.params.ASRLParams`. ``hessian`` and
        ``min_hessian`` are for Newton learners and raise :class:`TypeError` here.

    Returns
    -------
    Tensor
        ``y_pred``'s shape without its last axis: one loss per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.keras import asrl_loss
    >>> y_pred = np.array([[0.1, -0.2, 0.4, 1.0, 50.0]], dtype="float32")
    >>> loss = asrl_loss(np.zeros((1, 5)), y_pred, q_low=0.5, q_high=0.75)
    >>> [round(float(v), 4) for v in np.asarray(loss)]
    [0.462]
    """
    loss = ASRL(**autograd_params(params, "asrl.keras"))
    return _per_sample(y_true, y_pred, loss, statistics)


@with_autograd_params
def asrl_statistics(y_true: Tensor, y_pred: Tensor, **params: Any) -> ASRLStatistics:
    """The statistics :func:`asrl_loss` computes for these tensors, as 0-d tensors.

    Equal to ``asrl.ASRL(**params).statistics(y_true, y_pred)`` in the same dtype;
    pass them back as ``asrl_loss(..., statistics=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.keras import asrl_statistics
    >>> d1, d2 = asrl_statistics(np.zeros(11), np.arange(-5.0, 6.0, dtype="float32")).deltas
    >>> float(d1), float(d2)
    (3.0, 5.0)
    """
    loss = ASRL(**autograd_params(params, "asrl.keras"))
    return _statistics(_residuals(y_true, y_pred), loss)


@keras.saving.register_keras_serializable(package="asrl")
class ASRLLoss(keras.losses.Loss):  # type: ignore[misc]
    r"""ASRL as a :class:`keras.losses.Loss`, for ``model.compile(loss=ASRLLoss())``.

    Computes :func:`asrl_loss` (see there for the formula and ASRL's parameters
    ``q_low``, ``q_high``, ``thresholds``, ``c1``, ``c2``, ``weights`` and
    ``threshold_sample``, defined once in :class:`asrl.params.ASRLParams`): one loss
    per sample (the mean over the last axis), then Keras's ``sample_weight`` and
    ``reduction``, exactly as for :class:`keras.losses.Huber`. Every call computes
    its thresholds from all the residuals of its batch, unweighted (sample weights
    and masks weight the loss, not the thresholds).

    Parameters
    ----------
    reduction : str or None, default "sum_over_batch_size"
        Keras's: ``"sum_over_batch_size"`` (and ``"mean"``), ``"sum"``,
        ``"mean_with_sample_weight"``, or ``None``/``"none"`` (one value per sample).
    name : str, default "asrl"
    dtype : str or keras.DTypePolicy, optional
        The dtype the inputs are converted to (``keras.backend.floatx()`` by default);
        half precision is then computed in float32.

    Attributes
    ----------
    params : asrl.params.ASRLParams
        The validated parameters. ``get_config()`` holds every one of them, so
        ``model.save`` and ``keras.models.load_model`` keep them.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.keras import ASRLLoss
    >>> loss_fn = ASRLLoss(q_low=0.5, q_high=0.75)
    >>> y_pred = np.array([[0.1], [-0.2], [0.4], [1.0], [50.0]], dtype="float32")
    >>> round(float(loss_fn(np.zeros((5, 1)), y_pred)), 4)
    0.462
    >>> ASRLLoss.from_config(loss_fn.get_config()).params.q_high
    0.75
    """

    @with_autograd_params
    def __init__(
        self,
        *,
        reduction: str | None = "sum_over_batch_size",
        name: str = "asrl",
        dtype: Any = None,
        **params: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._loss = ASRL(**autograd_params(params, "asrl.keras"))
        self.params: ASRLParams = self._loss.params
        self._dtype_argument = dtype

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """One loss per sample (Keras's ``__call__`` applies the weights and reduction)."""
        return _per_sample(y_true, y_pred, self._loss, None)

    def statistics(self, y_true: Tensor, y_pred: Tensor) -> ASRLStatistics:
        """The statistics a call computes for these tensors, as 0-d tensors."""
        return _statistics(_residuals(y_true, y_pred), self._loss)

    def get_config(self) -> dict[str, Any]:
        """Keras's name and reduction, the dtype, and every ASRL parameter."""
        dtype = self._dtype_argument
        if isinstance(dtype, keras.DTypePolicy):
            dtype = keras.dtype_policies.serialize(dtype)
        params = {k: v for k, v in dataclasses.asdict(self.params).items() if k not in NEWTON_ONLY}
        config: dict[str, Any] = {**super().get_config(), "dtype": dtype, **params}
        return config

    def __repr__(self) -> str:
        config = self.get_config()
        return f"ASRLLoss({', '.join(f'{k}={v!r}' for k, v in config.items())})"
