r"""ASRL for JAX: :func:`~asrl.jax.asrl_loss`, elementwise like optax's losses.

A thin adapter over :mod:`asrl.core`: the loss is ``core.formulas.continuous_rho``
(or ``stats_rho``) on ``jax.numpy`` arrays, its derivative is the closed form
``continuous_psi`` (or ``stats_psi``) through a :func:`jax.custom_jvp`, and the
residual statistics come from the loss's own rule (:meth:`asrl.ASRL.statistics_rule`)
run by :func:`asrl.core.rules.run_xp` on the residuals under
:func:`jax.lax.stop_gradient`, so any rule of :data:`asrl.core.rules.THRESHOLD_RULES`
works here unchanged. This module only answers the rule's requests: the order
statistics come from one :func:`jax.numpy.sort` per request, so the thresholds equal
the numpy core's in the same dtype (float32 unless ``jax_enable_x64`` is set), with
two exceptions: means (the standard deviation of the "stats" weights) sum in XLA's
order (last bits), and without x64 a rule's ``c * sigma`` is rounded in float32
rather than once from float64 (at most one unit in the last place).

Everything is ``jit``-, ``grad``- and ``vmap``-compatible; the shapes, and so the
ranks of the order statistics, are static. ``import asrl`` never imports jax;
importing this module without jax raises an :class:`ImportError` that names the
extra to install (``pip install "asrl[jax]"``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ._optional import missing

try:
    import jax
    import jax.numpy as jnp
except ModuleNotFoundError as error:
    raise missing("JAX", "jax") from error

from .core import formulas
from .core.quantiles import sample_positions
from .core.rules import ASRLStatistics, Scalars, quantiles_xp, run_xp
from .losses import ASRL
from .params import NEWTON_ONLY, autograd_params, with_autograd_params

__all__ = ["NEWTON_ONLY", "asrl_loss", "asrl_statistics"]

Array = jax.Array
Function = TypeVar("Function", bound=Callable[..., Any])

# Statistics are values: as a pytree they cross jit, vmap and scan boundaries (a jitted
# asrl_statistics, running statistics in an optimiser's state).
jax.tree_util.register_dataclass(ASRLStatistics, data_fields=["deltas", "scales"], meta_fields=[])

# --------------------------------------------------------------------------------------
# Inputs and residual statistics
# --------------------------------------------------------------------------------------


def _compute_dtype(predictions: Array, targets: Array) -> Any:
    """float32 for half-precision and integer inputs, else the promoted float dtype."""
    dtype = jnp.result_type(predictions, targets)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"predictions and targets must be real; got dtype {dtype}.")
    if not jnp.issubdtype(dtype, jnp.floating) or np.dtype(dtype).itemsize < 4:
        return jnp.float32
    return dtype


def _residuals(predictions: Array, targets: Array) -> Array:
    """``predictions - targets`` as arrays of the compute dtype, after the shape checks."""
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError(
            "predictions and targets must have the same shape (no broadcasting); got "
            f"{predictions.shape} and {targets.shape}."
        )
    if predictions.size == 0:
        raise ValueError("predictions and targets are empty; at least one element is needed.")
    dtype = _compute_dtype(predictions, targets)
    return predictions.astype(dtype) - targets.astype(dtype)


def _x64() -> bool:
    return bool(jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


def _finite_quantiles(x: Array, levels: tuple[float, ...]) -> tuple[Array, ...]:
    """Type-7 quantiles of the finite values of flat ``x``, and their maximum: one sort.

    The non-finite values are sorted to the end. When every value is finite the
    ranks are the static ones of :func:`asrl.core.rules.quantiles_xp` (so the
    thresholds equal the numpy core's bit for bit); otherwise they come from the
    count of finite values, computed in float64 with ``jax_enable_x64`` (then exact)
    and in float32 without: the virtual rank ``(count - 1) q`` is then rounded to
    float32, so the interpolation weight may be off by ``count * 6e-8``. With no
    finite value every answer is 0.
    """
    finite = jnp.isfinite(x)
    count = finite.sum()
    ordered = jnp.sort(jnp.where(finite, x, jnp.inf))
    static = quantiles_xp(ordered, levels, lambda _, ranks: {r: ordered[r] for r in ranks})
    last = jnp.maximum(count - 1, 0).astype(jnp.float64 if _x64() else jnp.float32)

    def at(rank: Array) -> Array:
        return jnp.where(count > 0, ordered[rank.astype(jnp.int32)], 0)

    found = []
    for q in levels:
        below = jnp.floor(last * q)
        t = last * q - below
        low, high = at(below), at(jnp.minimum(below + 1, last))
        diff = high - low
        upper = t >= 0.5
        w = jnp.where(upper, 1 - t, t).astype(x.dtype)
        found.append(jnp.where(upper, high - diff * w, low + diff * w))
    dynamic = (*found, at(last))
    every = count == x.shape[0]
    return tuple(jnp.where(every, a, b) for a, b in zip(static, dynamic, strict=True))


def _times(c: float, sigma: Array) -> Array:
    """``c * sigma`` rounded once from float64, as the numpy driver does (needs x64)."""
    return (c * sigma.astype(jnp.float64)).astype(sigma.dtype)


def _statistics(u: Array, loss: ASRL) -> ASRLStatistics:
    """The loss's rule run on the finite residuals of ``u``: statistics of 0-d arrays.

    The rule sees the finite values of the numpy core's fixed subsample above
    ``threshold_sample`` elements, and ``max |u|`` over all finite elements when it
    asks for it.
    """
    flat = jax.lax.stop_gradient(u).reshape(-1)
    n, size = flat.shape[0], loss.sample_size
    sampled = size is not None and n > size
    sample = flat[np.asarray(sample_positions(n, size))] if sampled else flat
    times = _times if _x64() and flat.dtype != jnp.float64 else (lambda c, x: c * x)
    ops = Scalars(jnp, np.finfo(flat.dtype), times)
    finite = jnp.isfinite(sample)
    count = finite.sum()
    every = count == sample.shape[0]

    def largest() -> Array:
        a = jnp.abs(flat)
        return jnp.max(jnp.where(jnp.isfinite(a), a, 0))

    def mean(f: Array) -> Array:  # XLA's own mean when every residual is finite
        return jnp.where(every, jnp.mean(f), jnp.where(finite, f, 0).sum() / jnp.maximum(count, 1))

    statistics: ASRLStatistics = run_xp(
        loss.statistics_rule, sample, ops, None, largest, quantiles=_finite_quantiles, mean=mean
    )
    return statistics


def _values(u: Array, loss: ASRL, statistics: ASRLStatistics | None) -> tuple[Array, ...]:
    """The given ``statistics`` (numbers or 0-d arrays) or these residuals', flat."""
    if statistics is None:
        statistics = _statistics(u, loss)
    else:
        loss.check_statistics(statistics)
    values = statistics.flat()
    return tuple(jax.lax.stop_gradient(jnp.asarray(v, dtype=u.dtype)) for v in values)


# --------------------------------------------------------------------------------------
# The loss with its closed-form derivative
# --------------------------------------------------------------------------------------


def _full(stats: tuple[Array, ...], shape: tuple[int, ...]) -> tuple[Array, ...]:
    """The statistics as arrays of ``shape``, materialised behind an optimisation barrier.

    XLA rewrites a division by a broadcast scalar into a multiplication by its
    reciprocal, which is not correctly rounded (about 4 float32 quotients in 10
    differ): ``log(max(|u|, d2) / d2)`` would then be ``-6e-8`` rather than 0 inside
    the thresholds, and the loss slightly negative at ``u = 0``. With full arrays
    every division is an elementwise, correctly rounded one, as in numpy.
    """
    full: tuple[Array, ...] = jax.lax.optimization_barrier(  # type: ignore[no-untyped-call]
        tuple(jnp.broadcast_to(s, shape) for s in stats)
    )
    return full


def _psi(u: Array, stats: tuple[Array, ...], weights: str) -> Array:
    if weights == "continuous":
        d1, d2 = stats
        psi: Array = formulas.continuous_psi(u, jnp.abs(u), d1, d2, xp=jnp)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        psi = formulas.stats_psi(u, jnp.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=jnp)
    return psi


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _rho(u: Array, stats: tuple[Array, ...], weights: str) -> Array:
    """The elementwise loss; its derivative in ``u`` is the closed-form ``psi``."""
    if weights == "continuous":
        d1, d2 = stats
        rho: Array = formulas.continuous_rho(jnp.abs(u), d1, d2, xp=jnp)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        rho = formulas.stats_rho(jnp.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=jnp)
    return rho


@_rho.defjvp
def _rho_jvp(
    weights: str, primals: tuple[Array, tuple[Array, ...]], tangents: tuple[Array, Any]
) -> tuple[Array, Array]:
    # The statistics are constants (computed under stop_gradient): their tangents drop.
    # A NaN residual has derivative 0, so a masked loss passes no NaN back.
    u, stats = primals
    du = tangents[0]
    return _rho(u, stats, weights), jnp.where(jnp.isnan(u), 0, _psi(u, stats, weights)) * du


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@with_autograd_params
def asrl_loss(
    predictions: Array,
    targets: Array,
    *,
    statistics: ASRLStatistics | None = None,
    **params: Any,
) -> Array:
    r"""Elementwise ASRL of ``predictions - targets`` (no reduction, as in optax).

    With ``u = predictions - targets`` and thresholds :math:`\delta_1 \le \delta_2`
    computed from the residuals under :func:`jax.lax.stop_gradient`, the loss for the
    default ``weights="continuous"`` is

    .. math::

        \rho(u) = \begin{cases}
            u^2 / 2 & |u| \le \delta_1 \\
            \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
            \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
                & |u| > \delta_2
        \end{cases}

    with derivative :math:`u`, :math:`\delta_1 \operatorname{sign}(u)`,
    :math:`\delta_1 \delta_2 / u` (``docs/maths.md``). The thresholds are computed
    from all elements together, whatever the shape.

    Parameters
    ----------
    predictions, targets : array of the same shape
        Any shape (no broadcasting). float16 and bfloat16 are computed in float32.
    statistics : asrl.core.rules.ASRLStatistics, optional
        Thresholds (and, for ``weights="stats"``, scales) to use instead of computing
        them; fields may be Python numbers (validated when the value is made) or 0-d
        arrays (traced values included; the value is a pytree).
    q_low, q_high, thresholds, c1, c2, weights, threshold_sample
        ASRL's parameters: see :class:`asrl.params.ASRLParams`, which defines,
        defaults and checks them for every adapter. Above ``threshold_sample``
        elements the statistics come from the numpy core's fixed subsample of that
        size; None: always exact (one sort of all elements). ``hessian`` and
        ``min_hessian`` are for Newton learners and raise :class:`TypeError` here.

    Returns
    -------
    Array of the inputs' shape, in their promoted dtype (float32 for half-precision
    and integer inputs).

    Notes
    -----
    Non-finite residuals are allowed, as in ``optax.huber_loss``: the statistics
    are those of the finite residuals only (above ``threshold_sample`` elements, of
    the finite ones among the fixed subsample), the loss is NaN exactly where
    ``predictions - targets`` is NaN, and its derivative there is 0, so a masked
    loss (``jnp.where(mask, loss, 0)``, missing targets as NaN) trains without NaN
    gradients. A mean over a NaN element is NaN: mask first.

    Examples
    --------
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from asrl.jax import asrl_loss
    >>> pred = jnp.array([0.1, -0.2, 0.4, 1.0, 50.0])
    >>> loss = lambda p: asrl_loss(p, jnp.zeros(5), q_low=0.5, q_high=0.75).sum()
    >>> np.asarray(jax.jit(jax.grad(loss))(pred), dtype=float).round(6).tolist()
    [0.1, -0.2, 0.4, 0.4, 0.008]
    """
    loss = ASRL(**autograd_params(params, "asrl.jax"))
    u = _residuals(predictions, targets)
    return _rho(u, _full(_values(u, loss, statistics), u.shape), loss.params.weights)


@with_autograd_params
def asrl_statistics(predictions: Array, targets: Array, **params: Any) -> ASRLStatistics:
    """The statistics :func:`asrl_loss` computes for these arrays, as 0-d arrays.

    Pass them back as ``asrl_loss(..., statistics=...)``.
    :class:`~asrl.core.rules.ASRLStatistics` is
    registered as a pytree, so the value may be returned from and passed to jitted
    functions.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from asrl.jax import asrl_statistics
    >>> d1, d2 = asrl_statistics(jnp.arange(-5.0, 6.0), jnp.zeros(11)).deltas
    >>> float(d1), float(d2)
    (3.0, 5.0)
    """
    loss = ASRL(**autograd_params(params, "asrl.jax"))
    return _statistics(_residuals(predictions, targets), loss)
