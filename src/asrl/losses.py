r"""Loss objects: ASRL and its baselines, one method family, one registry.

Every loss offers ``loss`` (elementwise), ``gradient``, ``gradient_hessian``,
``__call__`` (weighted mean), ``statistics`` and ``best_constant`` (the initial
prediction of a booster), each taking ``(y_true, y_pred, *, sample_weight=None)``.
They check their input and call the unchecked ``residual_*`` methods, which take the
residuals ``u = y_pred - y_true`` directly and are what the boosting rounds call
every round. The formulas live in :mod:`asrl.core.formulas`, the statistics'
rules in :mod:`asrl.core.rules`.

A loss is a function of its parameters only: its residual statistics (ASRL's
thresholds, adaptive Huber's delta) are values that ``statistics`` returns and every
method accepts back as ``statistics=``; calling a method changes nothing on the
object, so one loss can serve several threads.

Adding a loss is one class here and one line in :data:`LOSSES`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import check_pair, check_residuals, check_sample_weight, check_target
from .core import formulas
from .core.quantiles import weighted_quantiles
from .core.rules import (
    THRESHOLD_RULES,
    ASRLStatistics,
    DeltaStatistics,
    Rule,
    Scalars,
    adaptive_huber_rule,
    as_floats,
    asrl_rule,
    auto_pseudo_huber_rule,
    run_local,
)
from .params import (
    AdaptiveHuberParams,
    ASRLParams,
    AutoPseudoHuberParams,
    HuberParams,
    NoParams,
    PseudoHuberParams,
)

__all__ = [
    "ASRL",
    "LOSSES",
    "AbsoluteError",
    "AdaptiveHuber",
    "AutoPseudoHuber",
    "BaseLoss",
    "Huber",
    "PseudoHuber",
    "SquaredError",
    "get_loss",
]

Array = NDArray[np.floating[Any]]
Out = tuple[Array, Array] | None


class BaseLoss:
    """Common machinery of every loss.

    A subclass names its parameter record ``Params`` (a frozen dataclass of
    :mod:`asrl.params`; the constructor takes its fields as keywords) and, if it has
    residual statistics, their class ``Statistics`` and a ``statistics_rule``. It
    implements the unchecked ``residual_loss``, ``residual_gradient`` and
    ``residual_gradient_hessian``.

    Attributes
    ----------
    name : str
        The key of this loss in :data:`LOSSES`.
    params : dataclass
        The validated parameters (``loss.params.q_low``; also ``loss.q_low``).
    continuous : bool
        Whether the loss is continuous in ``y_pred`` everywhere.
    approx_hessian : bool
        Whether ``gradient_hessian`` returns a hessian other than the exact second
        derivative (an IRLS weight, a floor or a constant).
    """

    name: ClassVar[str]
    Params: ClassVar[type[Any]] = NoParams
    Statistics: ClassVar[type[Any] | None] = None
    continuous: ClassVar[bool] = True
    approx_hessian: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        fields = [f.name for f in dataclasses.fields(self.Params)]
        unknown = sorted(set(params) - set(fields))
        if unknown:
            valid = ", ".join(fields) or "none"
            raise TypeError(
                f"{type(self).__name__} got unexpected parameter(s) {', '.join(unknown)}; "
                f"its parameters: {valid}."
            )
        self.params = self.Params(**params)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The constructor's signature is the record's fields, keyword-only (what
        # help(), IDEs and scikit-learn-style introspection read).
        parameters = [
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
            for f in dataclasses.fields(cls.Params)
        ]
        cls.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params")
        if params is not None and name in {f.name for f in dataclasses.fields(params)}:
            return getattr(params, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- parameters ------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments: ``type(loss)(**loss.get_params())`` is a copy."""
        return dataclasses.asdict(self.params)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BaseLoss)
            and type(self) is type(other)
            and self.params == other.params
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.params))

    # -- statistics ------------------------------------------------------------------
    @property
    def sample_size(self) -> int | None:
        """Above this many residuals the statistics come from a fixed subsample."""
        return None

    def statistics_rule(self, ops: Scalars) -> Rule:
        """The rule of this loss's statistics (see :mod:`asrl.core.rules`), for drivers."""
        raise TypeError(f"{type(self).__name__} has no residual statistics.")

    def residual_statistics(
        self, u: Array, sample_weight: Array | None = None, *, scratch: Array | None = None
    ) -> Any:
        """The statistics of residuals ``u`` (flat, finite; unchecked), or None.

        ``scratch`` is a work buffer of ``u``'s shape and dtype (see
        :func:`asrl.core.rules.run_local`).
        """
        if self.Statistics is None:
            return None
        return run_local(
            self.statistics_rule, u, sample_weight, sample=self.sample_size, scratch=scratch
        )

    def statistics(
        self, y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
    ) -> Any:
        """The residual statistics of these residuals, to pass back as ``statistics=``.

        ``loss.gradient(y2, p2, statistics=loss.statistics(y1, p1))`` evaluates the
        loss at ``p2`` with the thresholds (or delta) of the residuals ``p1 - y1``:
        for mini-batches, chunked or distributed evaluation, or statistics lagged by
        one round. None for a loss without statistics.

        Examples
        --------
        >>> from asrl import ASRL, AdaptiveHuber
        >>> ASRL(thresholds="quantile", q_high=0.75).statistics([0, 0, 0, 0, 0], [1, 2, 3, 4, 5])
        ASRLStatistics(deltas=(3.0, 4.0), scales=None)
        >>> AdaptiveHuber(alpha=0.5).statistics([0, 0, 0], [1, -2, 9])
        DeltaStatistics(delta=2.0)
        """
        u, _ = check_residuals(y_true, y_pred)
        w = check_sample_weight(sample_weight, u.shape, u.dtype)
        statistics = self.residual_statistics(u.reshape(-1), None if w is None else w.reshape(-1))
        return None if statistics is None else as_floats(statistics)

    def check_statistics(self, statistics: Any) -> Any:
        """Return ``statistics`` if it is a value this loss's methods accept."""
        if self.Statistics is None:
            raise TypeError(
                f"{type(self).__name__} has no residual statistics; got {statistics!r}."
            )
        if not isinstance(statistics, self.Statistics):
            raise TypeError(
                f"{type(self).__name__} takes statistics of type {self.Statistics.__name__} "
                f"(as loss.statistics(...) returns them); got {statistics!r}."
            )
        return statistics

    # -- the unchecked residual methods (hot paths) -----------------------------------
    # Subclasses implement the hooks _rho, _psi and _psi_hessian; ``out`` is a pair of
    # output arrays or None.
    def residual_loss(self, u: Array, statistics: Any) -> Array:
        """Elementwise loss of the residuals ``u`` with these statistics (unchecked)."""
        return self._rho(u, statistics)

    def residual_gradient(self, u: Array, statistics: Any) -> Array:
        """Elementwise gradient ``d loss / d y_pred`` at residuals ``u`` (unchecked)."""
        return self._psi(u, statistics)

    def residual_gradient_hessian(
        self,
        u: Array,
        statistics: Any,
        *,
        gradient_out: Array | None = None,
        hessian_out: Array | None = None,
    ) -> tuple[Array, Array]:
        """Gradient and hessian at residuals ``u`` (unchecked), into the buffers if given.

        ``u`` may be overwritten (it is scratch space for the fused kernels).
        """
        out = None if gradient_out is None or hessian_out is None else (gradient_out, hessian_out)
        return self._psi_hessian(u, statistics, out)

    def _rho(self, u: Array, statistics: Any) -> Array:
        raise NotImplementedError

    def _psi(self, u: Array, statistics: Any) -> Array:
        raise NotImplementedError

    def _psi_hessian(self, u: Array, statistics: Any, out: Out) -> tuple[Array, Array]:
        raise NotImplementedError

    # -- the checked public methods ------------------------------------------------------
    # Each formula is evaluated for every element and then selected by region, so an
    # element far beyond a region can overflow in a branch that is discarded:
    # overflow and underflow are silenced, while invalid operations (NaN) still warn.
    # A loss value that truly exceeds the dtype's range comes out as inf.
    def _prepare(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: Any, statistics: Any
    ) -> tuple[Array, Array | None, Any]:
        u, _ = check_residuals(y_true, y_pred)
        w = check_sample_weight(sample_weight, u.shape, u.dtype)
        if statistics is None:
            statistics = self.residual_statistics(
                u.reshape(-1), None if w is None else w.reshape(-1)
            )
        else:
            statistics = self.check_statistics(statistics)
        return u, w, statistics

    def _weighted(
        self,
        method: Callable[[Array, Any], Array],
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: Any,
        statistics: Any,
    ) -> Array:
        """An elementwise residual method on checked input, times the weights."""
        with np.errstate(over="ignore", under="ignore"):
            u, w, stats = self._prepare(y_true, y_pred, sample_weight, statistics)
            values = method(u, stats)
            return values if w is None else np.multiply(values, w, out=values)

    def loss(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        statistics: Any = None,
    ) -> Array:
        """Elementwise loss ``rho(y_pred - y_true)``, times ``sample_weight`` if given.

        Parameters
        ----------
        y_true, y_pred : array_like of the same shape
            Finite targets and predictions; any shape, no broadcasting.
        sample_weight : array_like of the same shape, optional
            Finite, non-negative, not all zero. A weight of 2 counts as the row twice,
            in the loss and in the statistics.
        statistics : optional
            Residual statistics to use instead of computing them from these
            residuals, as :meth:`statistics` returns them.

        Returns
        -------
        ndarray of the inputs' shape; float32 if both inputs are float32, else float64.
        """
        return self._weighted(self.residual_loss, y_true, y_pred, sample_weight, statistics)

    def gradient(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        statistics: Any = None,
    ) -> Array:
        """Elementwise ``d loss / d y_pred`` (statistics held fixed), times the weights."""
        return self._weighted(self.residual_gradient, y_true, y_pred, sample_weight, statistics)

    def gradient_hessian(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        statistics: Any = None,
        gradient_out: Array | None = None,
        hessian_out: Array | None = None,
    ) -> tuple[Array, Array]:
        """Gradient and positive hessian for Newton learners, each times the weights.

        ``gradient_out`` and ``hessian_out``, arrays of the residuals' shape and dtype,
        receive the results (as in scikit-learn's losses), so a caller that runs every
        round allocates once.
        """
        with np.errstate(over="ignore", under="ignore"):
            if statistics is not None or self.Statistics is None:
                blocked = self._blocked_gradient_hessian(
                    y_true, y_pred, sample_weight, statistics, gradient_out, hessian_out
                )
                if blocked is not None:
                    return blocked
            u, _ = check_residuals(y_true, y_pred)
            w = check_sample_weight(sample_weight, u.shape, u.dtype)
            _check_out(u, gradient_out, hessian_out)
            g, h = gradient_out, hessian_out
            if statistics is None and self.Statistics is not None:
                # The gradient's buffer holds |u| for the statistics first (partitioned
                # in place), then the gradient: one array of n fewer.
                g = np.empty_like(u, order="C") if g is None else g
                scratch = g.reshape(-1) if g.flags.c_contiguous else None
                stats = self.residual_statistics(
                    u.reshape(-1), None if w is None else w.reshape(-1), scratch=scratch
                )
                h = np.empty_like(u, order="C") if h is None else h
            else:
                stats = statistics if statistics is None else self.check_statistics(statistics)
            if (g is None) != (h is None):  # one buffer given: it receives its result
                g = np.empty_like(u) if g is None else g
                h = np.empty_like(u) if h is None else h
            g, h = self.residual_gradient_hessian(u, stats, gradient_out=g, hessian_out=h)
            if w is not None:
                np.multiply(g, w, out=g)
                np.multiply(h, w, out=h)
            return g, h

    def _blocked_gradient_hessian(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: Any,
        statistics: Any,
        gradient_out: Array | None,
        hessian_out: Array | None,
    ) -> tuple[Array, Array] | None:
        """``gradient_hessian`` block by block when no statistics need all residuals.

        The residuals of a block of :data:`asrl.core.formulas.BLOCK` elements go into
        one small buffer and through the formulas into the outputs while in cache; no
        array of all residuals is made. The same operations on every element as the whole-array
        path, so the same bits. None (use that path) for short or non-contiguous data.
        """
        true, pred = check_pair(y_true, y_pred)
        n = true.size
        outputs = [a for a in (gradient_out, hessian_out) if a is not None]
        if n <= 2 * formulas.BLOCK or not all(a.flags.c_contiguous for a in outputs):
            return None
        w = check_sample_weight(sample_weight, true.shape, true.dtype)
        stats = None if statistics is None else self.check_statistics(statistics)
        g = np.empty_like(true, order="C") if gradient_out is None else gradient_out
        h = np.empty_like(true, order="C") if hessian_out is None else hessian_out
        _check_out(true, g, h)
        flat = [a.reshape(-1) for a in (true, pred, g, h)]
        true_f, pred_f, g_f, h_f = flat
        w_f = None if w is None else w.reshape(-1)
        work = np.empty(formulas.BLOCK, dtype=true.dtype)
        for lo in range(0, n, formulas.BLOCK):
            block = slice(lo, lo + formulas.BLOCK)
            u = work[: min(formulas.BLOCK, n - lo)]
            with np.errstate(invalid="ignore"):
                np.subtract(pred_f[block], true_f[block], out=u)
                total = np.add.reduce(u)
            if not np.isfinite(total):
                check_residuals(true, pred)  # says which value is not finite
            self.residual_gradient_hessian(
                u, stats, gradient_out=g_f[block], hessian_out=h_f[block]
            )
            if w_f is not None:
                np.multiply(g_f[block], w_f[block], out=g_f[block])
                np.multiply(h_f[block], w_f[block], out=h_f[block])
        return g, h

    def __call__(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        statistics: Any = None,
    ) -> float:
        """Weighted mean loss ``sum(w * rho) / sum(w)`` (plain mean without weights)."""
        rho = self.loss(y_true, y_pred, sample_weight=sample_weight, statistics=statistics)
        with np.errstate(over="ignore"):
            if sample_weight is None:
                return float(rho.mean())
            return float(rho.sum() / np.asarray(sample_weight, dtype=rho.dtype).sum())

    def best_constant(self, y_true: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
        """A good constant first prediction: the weighted median of ``y_true``.

        Robust losses need a robust start (``docs/maths.md``); the squared error
        overrides this with the weighted mean, its exact minimiser.
        """
        y = check_target("y_true", y_true)
        w = check_sample_weight(sample_weight, y.shape, y.dtype)
        (median,) = weighted_quantiles(y, (0.5,), w)
        return float(median)


def _check_out(u: Array, gradient_out: Array | None, hessian_out: Array | None) -> None:
    """Output buffers must have the residuals' shape and dtype."""
    for name, out in (("gradient_out", gradient_out), ("hessian_out", hessian_out)):
        if out is not None and (out.shape != u.shape or out.dtype != u.dtype):
            raise ValueError(
                f"{name} must have shape {u.shape} and dtype {u.dtype}; got "
                f"{out.shape} and {out.dtype}."
            )


def _scalars(u: Array, values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(u.dtype.type(v) for v in values)


class ASRL(BaseLoss):
    r"""Adaptive Segmented Robust Loss.

    Residuals ``u = y_pred - y_true`` are split by two thresholds recomputed from
    the residuals of every call: squared loss for :math:`|u| \le \delta_1`, absolute
    loss up to :math:`\delta_2`, logarithmic loss beyond. With ``weights="continuous"``

    .. math::

        \rho(u) = \begin{cases}
            u^2 / 2 & |u| \le \delta_1 \\
            \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
            \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
                & |u| > \delta_2
        \end{cases}

    which is :math:`C^1`, even, non-decreasing in :math:`|u|`, with a gradient bounded
    by :math:`\delta_1` that decays like :math:`1/|u|`.

    Parameters
    ----------
    q_low, q_high, thresholds, c1, c2, weights, hessian, min_hessian, threshold_sample
        See :class:`asrl.params.ASRLParams`, where they are defined, defaulted and
        checked once for the loss and every adapter.

    Notes
    -----
    The defaults are provisional until the benchmark (``asrl bench``) settles them.
    Thresholds are statistics of the residuals, held fixed when differentiating; a
    method computes them from its residuals unless ``statistics=`` gives them.
    See ``docs/maths.md`` for the derivations and every degenerate case.

    References
    ----------
    .. [1] "ASRL: A robust loss function with potential for development",
       arXiv:2504.06935.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl import ASRL
    >>> loss = ASRL(q_low=0.5, q_high=0.75)
    >>> y_true = np.zeros(5)
    >>> y_pred = np.array([0.1, -0.2, 0.4, 1.0, 50.0])
    >>> loss.statistics(y_true, y_pred).deltas
    (0.4, 1.0)
    >>> loss.gradient(y_true, y_pred).tolist()
    [0.1, -0.2, 0.4, 0.4, 0.008]
    >>> round(loss(y_true, y_pred), 4)
    0.462
    """

    name = "asrl"
    Params = ASRLParams
    Statistics = ASRLStatistics
    params: ASRLParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # Kept on the object so that a pickled loss (sent to Dask workers) carries its
        # rule, even one registered at run time.
        self._threshold_rule = THRESHOLD_RULES[self.params.thresholds]

    @property
    def continuous(self) -> bool:  # type: ignore[override]
        """True for ``weights="continuous"``; the "stats" form jumps at the thresholds."""
        return self.params.weights == "continuous"

    @property
    def approx_hessian(self) -> bool:  # type: ignore[override]
        """True unless ``hessian="exact"`` with continuous weights."""
        return self.params.hessian != "exact" or self.params.weights == "stats"

    @property
    def sample_size(self) -> int | None:
        """``threshold_sample``: above it the statistics come from a fixed subsample."""
        return self.params.threshold_sample

    def statistics_rule(self, ops: Scalars) -> Rule:
        """ASRL's rule: the threshold rule, plus the scales for ``weights="stats"``."""
        return asrl_rule(self._threshold_rule, self.params, ops)

    def check_statistics(self, statistics: Any) -> Any:
        """Return ``statistics`` if it suits this loss (scales iff ``weights="stats"``)."""
        statistics = super().check_statistics(statistics)
        if (statistics.scales is None) != self.continuous:
            need = "needs" if self.params.weights == "stats" else "takes no"
            raise ValueError(f"weights={self.params.weights!r} {need} scales in its statistics.")
        return statistics

    def _stats(self, u: Array, statistics: ASRLStatistics) -> tuple[Any, ...]:
        return _scalars(u, statistics.flat())

    def _rho(self, u: Array, statistics: Any) -> Array:
        stats, abs_u = self._stats(u, statistics), np.abs(u)
        if self.continuous:
            return formulas.continuous_rho(abs_u, *stats)
        return formulas.stats_rho(abs_u, *stats)

    def _psi(self, u: Array, statistics: Any) -> Array:
        stats = self._stats(u, statistics)
        if self.continuous:
            return formulas.continuous_psi(u, np.abs(u), *stats)
        return formulas.stats_psi(u, np.abs(u), *stats)

    def _psi_hessian(self, u: Array, statistics: Any, out: Out) -> tuple[Array, Array]:
        stats = self._stats(u, statistics)
        hessian, floor = self.params.hessian, self.params.min_hessian
        if hessian == "irls" and self.continuous:
            d1, d2 = stats
            return formulas.continuous_psi_irls(u, d1, d2, out=out)
        abs_u = np.abs(u)
        if self.continuous:
            g = formulas.continuous_psi(u, abs_u, *stats)
            h = (
                formulas.continuous_exact_hessian(abs_u, stats[0], floor)
                if hessian == "exact"
                else np.ones_like(u)
            )
        else:
            g = formulas.stats_psi(u, abs_u, *stats)
            if hessian == "irls":
                h = formulas.stats_irls_hessian(abs_u, *stats)
            elif hessian == "exact":
                h = formulas.stats_exact_hessian(abs_u, stats[0], stats[2], floor)
            else:
                h = np.ones_like(u)
        return _into(g, h, out)


def _into(gradient: Array, hessian: Array, out: Out) -> tuple[Array, Array]:
    """The pair copied into ``out`` if buffers are given (else the pair itself)."""
    if out is None:
        return gradient, hessian
    np.copyto(out[0], gradient)
    np.copyto(out[1], hessian)
    return out


class SquaredError(BaseLoss):
    """Half squared error ``u^2 / 2``; gradient ``u``, hessian 1.

    The gradient and hessian equal XGBoost's ``reg:squarederror``.

    Examples
    --------
    >>> from asrl import SquaredError
    >>> SquaredError().gradient_hessian([1.0, 2.0], [1.5, 0.0])
    (array([ 0.5, -2. ]), array([1., 1.]))
    """

    name = "mse"

    def _rho(self, u: Array, statistics: Any) -> Array:
        return 0.5 * u * u

    def _psi(self, u: Array, statistics: Any) -> Array:
        return u.copy()

    def _psi_hessian(self, u: Array, statistics: Any, out: Out) -> tuple[Array, Array]:
        return _into(u, np.ones_like(u), out)

    def best_constant(self, y_true: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
        """The weighted mean of ``y_true``, the minimiser of the squared error."""
        y = check_target("y_true", y_true)
        w = check_sample_weight(sample_weight, y.shape, y.dtype)
        return float(np.average(y, weights=w))


class AbsoluteError(BaseLoss):
    """Absolute error ``|u|``; gradient ``sign(u)``; hessian 1 (as XGBoost's).

    Examples
    --------
    >>> from asrl import AbsoluteError
    >>> AbsoluteError().loss([1.0, 2.0], [1.5, 0.0])
    array([0.5, 2. ])
    """

    name = "mae"
    approx_hessian = True

    def _rho(self, u: Array, statistics: Any) -> Array:
        return formulas.absolute_rho(np.abs(u))

    def _psi(self, u: Array, statistics: Any) -> Array:
        return formulas.absolute_psi(u)

    def _psi_hessian(self, u: Array, statistics: Any, out: Out) -> tuple[Array, Array]:
        return _into(formulas.absolute_psi(u), np.ones_like(u), out)


class _DeltaLoss(BaseLoss):
    """A loss with one scale ``delta``: its parameter, or (the adaptive forms) its
    residual statistic."""

    params: Any

    def _delta(self, u: Array, statistics: Any) -> Any:
        return u.dtype.type(self.params.delta if statistics is None else statistics.delta)


class _HuberFamily(_DeltaLoss):
    """Huber's loss with the hessian chosen by ``hessian``."""

    @property
    def approx_hessian(self) -> bool:  # type: ignore[override]
        """True unless ``hessian="exact"``."""
        return bool(self.params.hessian != "exact")

    def _rho(self, u: Array, statistics: Any) -> Array:
        return formulas.huber_rho(np.abs(u), self._delta(u, statistics))

    def _psi(self, u: Array, statistics: Any) -> Array:
        return formulas.huber_psi(u, np.abs(u), self._delta(u, statistics))

    def _psi_hessian(self, u: Array, statistics: Any, out: Out) -> tuple[Array, Array]:
        delta, abs_u = self._delta(u, statistics), np.abs(u)
        g = formulas.huber_psi(u, abs_u, delta)
        if self.params.hessian == "irls":
            h = formulas.huber_irls_hessian(abs_u, delta)
        elif self.params.hessian == "exact":
            h = formulas.continuous_exact_hessian(abs_u, delta, self.params.min_hessian)
        else:
            h = np.ones_like(u)
        return _into(g, h, out)


class Huber(_HuberFamily):
    """Huber loss with a fixed ``delta``.

    Parameters
    ----------
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; > 0, in the units of ``y``.
    hessian : {"irls", "exact", "unit"}, default "irls"
        ``"irls"``: ``min(1, delta / |u|)``; ``"exact"``: 1 or ``min_hessian``; ``"unit"``: 1.
    min_hessian : float, default 1e-6

    Examples
    --------
    >>> from asrl import Huber
    >>> Huber(delta=1.0).loss([0.0, 0.0], [0.5, 3.0])
    array([0.125, 2.5  ])
    """

    name = "huber"
    Params = HuberParams


class AdaptiveHuber(_HuberFamily):
    """Huber loss whose ``delta`` is the ``alpha``-quantile of ``|u|`` at every call.

    This is how scikit-learn's ``GradientBoostingRegressor(loss="huber")`` sets it.

    Parameters
    ----------
    alpha : float, default 0.9
        Quantile level of ``|u|``, in (0, 1).
    hessian, min_hessian
        As for :class:`Huber`.

    Examples
    --------
    >>> from asrl import AdaptiveHuber
    >>> loss = AdaptiveHuber(alpha=0.5)
    >>> loss.gradient([0.0, 0.0, 0.0], [1.0, -2.0, 9.0])
    array([ 1., -2.,  2.])
    >>> loss.statistics([0.0, 0.0, 0.0], [1.0, -2.0, 9.0])
    DeltaStatistics(delta=2.0)
    """

    name = "huber-adaptive"
    Params = AdaptiveHuberParams
    Statistics = DeltaStatistics

    def statistics_rule(self, ops: Scalars) -> Rule:
        """``delta`` at the ``alpha``-quantile of ``|u|``."""
        return adaptive_huber_rule(self.params.alpha, ops)


class PseudoHuber(_DeltaLoss):
    """Pseudo-Huber ``delta^2 (sqrt(1 + (u/delta)^2) - 1)``.

    With ``hessian="exact"``, gradient and hessian equal XGBoost's
    ``reg:pseudohubererror`` with ``huber_slope=delta``.

    Parameters
    ----------
    delta : float, default 1.0
        Slope parameter, > 0, in the units of ``y``.
    hessian : {"irls", "exact"}, default "irls"
        The curvature for Newton learners: the IRLS weight ``(1 + (u/delta)^2)^(-1/2)``
        (a majorizer: no step overshoots) or the second derivative
        ``(1 + (u/delta)^2)^(-3/2)`` (see :class:`asrl.params.PseudoHuberParams`).

    Examples
    --------
    >>> from asrl import PseudoHuber
    >>> PseudoHuber().gradient_hessian([0.0], [1.0])
    (array([0.70710678]), array([0.70710678]))
    >>> PseudoHuber(hessian="exact").gradient_hessian([0.0], [1.0])
    (array([0.70710678]), array([0.35355339]))
    """

    name = "pseudo-huber"
    Params: ClassVar[type[Any]] = PseudoHuberParams

    @property
    def approx_hessian(self) -> bool:  # type: ignore[override]
        """True unless ``hessian="exact"``."""
        return bool(self.params.hessian != "exact")

    def _rho(self, u: Array, statistics: Any) -> Array:
        return formulas.pseudo_huber_rho(np.abs(u), self._delta(u, statistics))

    def _psi(self, u: Array, statistics: Any) -> Array:
        return formulas.pseudo_huber_psi(u, np.abs(u), self._delta(u, statistics))

    def _psi_hessian(self, u: Array, statistics: Any, out: Out) -> tuple[Array, Array]:
        delta, abs_u = self._delta(u, statistics), np.abs(u)
        g = formulas.pseudo_huber_psi(u, abs_u, delta)
        if self.params.hessian == "exact":
            h = formulas.pseudo_huber_hessian(abs_u, delta)
        else:
            h = formulas.pseudo_huber_irls_hessian(abs_u, delta)
        return _into(g, h, out)


class AutoPseudoHuber(PseudoHuber):
    """Pseudo-Huber whose ``delta`` is ``(weighted mean of sqrt|u|)^2`` at every call.

    The automatic scale of XGBoost 3.4's pseudo-Huber objective, which is not
    installable here, so it lives here as a baseline.

    Examples
    --------
    >>> from asrl import AutoPseudoHuber
    >>> AutoPseudoHuber().statistics([0.0, 0.0], [1.0, 9.0])
    DeltaStatistics(delta=4.0)
    """

    name = "pseudo-huber-auto"
    Params = AutoPseudoHuberParams
    Statistics = DeltaStatistics

    def statistics_rule(self, ops: Scalars) -> Rule:
        """``delta = (mean of sqrt|u|)**2``."""
        return auto_pseudo_huber_rule(ops)


#: Every loss by name; the estimators, the CLI and the benchmark all pick from here.
LOSSES: dict[str, type[BaseLoss]] = {
    cls.name: cls
    for cls in (
        ASRL,
        SquaredError,
        AbsoluteError,
        Huber,
        AdaptiveHuber,
        PseudoHuber,
        AutoPseudoHuber,
    )
}


def get_loss(loss: str | BaseLoss, **params: Any) -> BaseLoss:
    """Return a loss object from a name in :data:`LOSSES` (or the object itself).

    Examples
    --------
    >>> from asrl import get_loss
    >>> get_loss("huber", delta=2.0)
    Huber(delta=2.0, hessian='irls', min_hessian=1e-06)
    """
    if isinstance(loss, BaseLoss):
        if params:
            raise TypeError("parameters can only be given with a loss name, not a loss object.")
        return loss
    if loss not in LOSSES:
        names = ", ".join(repr(n) for n in LOSSES)
        raise ValueError(f"unknown loss {loss!r}; choose one of {names}.")
    return LOSSES[loss](**params)
