r"""Loss objects: ASRL and its baselines, one method family, one registry.

Every loss offers ``loss`` (elementwise), ``gradient``, ``gradient_hessian``,
``__call__`` (weighted mean) and ``best_constant`` (the initial prediction of a
booster), each taking ``(y_true, y_pred, *, sample_weight=None)``. The formulas live
in :mod:`asrl.core`; this module validates input, computes the statistics a loss
needs from the residuals (thresholds, scales) and applies the weights.

Adding a loss is one class here and one line in :data:`LOSSES`.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import core
from ._validation import (
    check_choice,
    check_interval,
    check_residuals,
    check_sample_weight,
    check_target,
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
HESSIANS = ("irls", "exact", "unit")


class BaseLoss:
    """Common machinery of every loss; subclasses implement four small hooks.

    Subclasses define ``name``, ``continuous`` and the hooks ``_statistics``
    (scalars computed from the residuals, e.g. thresholds), ``_rho``, ``_psi`` and
    ``_psi_curvature`` (gradient and curvature in one pass).

    Attributes
    ----------
    name : str
        The key of this loss in :data:`LOSSES`.
    continuous : bool
        Whether the loss is continuous in ``y_pred`` everywhere.
    approx_hessian : bool
        Whether ``gradient_hessian`` returns a curvature other than the exact second
        derivative (an IRLS weight, a floor or a constant).
    fixed_statistics : tuple of str
        Keywords the methods accept to hold residual statistics fixed.
    """

    name: ClassVar[str]
    continuous: ClassVar[bool] = True
    approx_hessian: bool = False
    robust_start: ClassVar[bool] = True
    fixed_statistics: ClassVar[tuple[str, ...]] = ()

    # -- hooks -----------------------------------------------------------------------
    def _statistics(self, u: Array, abs_u: Array, w: Array | None, fixed: dict[str, Any]) -> Any:
        return None

    def _rho(self, u: Array, abs_u: Array, stats: Any) -> Array:
        raise NotImplementedError

    def _psi(self, u: Array, abs_u: Array, stats: Any) -> Array:
        raise NotImplementedError

    def _psi_curvature(self, u: Array, abs_u: Array, stats: Any) -> tuple[Array, Array]:
        raise NotImplementedError

    # -- parameters ------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments: ``type(loss)(**loss.get_params())`` is a copy."""
        return {name: getattr(self, f"_{name}") for name in self._param_names()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BaseLoss)
            and type(self) is type(other)
            and (self.get_params() == other.get_params())
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_params().items()))))

    # -- evaluation ------------------------------------------------------------------
    # Each formula is evaluated for every element and then selected by region, so
    # an element far beyond a region can overflow in a branch that is discarded:
    # overflow and underflow are silenced, while invalid operations (NaN) still warn.
    # A loss value that truly exceeds the dtype's range comes out as inf.
    def _prepare(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: ArrayLike | None,
        fixed: dict[str, Any],
    ) -> tuple[Array, Array, Array | None, Any]:
        u, _ = check_residuals(y_true, y_pred)
        w = check_sample_weight(sample_weight, u.shape, u.dtype)
        abs_u = np.abs(u)
        return u, abs_u, w, self._statistics(u, abs_u, w, fixed)

    def _loss(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: Any, fixed: dict[str, Any]
    ) -> Array:
        with np.errstate(over="ignore", under="ignore"):
            u, abs_u, w, stats = self._prepare(y_true, y_pred, sample_weight, fixed)
            rho = self._rho(u, abs_u, stats)
            return rho if w is None else np.multiply(rho, w, out=rho)

    def _gradient(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: Any, fixed: dict[str, Any]
    ) -> Array:
        with np.errstate(over="ignore", under="ignore"):
            u, abs_u, w, stats = self._prepare(y_true, y_pred, sample_weight, fixed)
            psi = self._psi(u, abs_u, stats)
            return psi if w is None else np.multiply(psi, w, out=psi)

    def _gradient_hessian(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: Any, fixed: dict[str, Any]
    ) -> tuple[Array, Array]:
        with np.errstate(over="ignore", under="ignore"):
            u, abs_u, w, stats = self._prepare(y_true, y_pred, sample_weight, fixed)
            g, h = self._psi_curvature(u, abs_u, stats)
            if w is not None:
                g = np.multiply(g, w, out=g)
                h = np.multiply(h, w, out=h)
            return g, h

    def _mean(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: Any, fixed: dict[str, Any]
    ) -> float:
        rho = self._loss(y_true, y_pred, sample_weight, fixed)
        with np.errstate(over="ignore"):
            if sample_weight is None:
                return float(rho.mean())
            return float(rho.sum() / np.asarray(sample_weight, dtype=rho.dtype).sum())

    def loss(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        **fixed: Any,
    ) -> Array:
        """Elementwise loss ``rho(y_pred - y_true)``, times ``sample_weight`` if given.

        Parameters
        ----------
        y_true, y_pred : array_like of the same shape
            Finite targets and predictions; any shape, no broadcasting.
        sample_weight : array_like of the same shape, optional
            Finite, non-negative, not all zero.
        **fixed
            Statistics to use instead of computing them from these residuals, by the
            names in ``fixed_statistics`` (ASRL: ``deltas=(d1, d2)`` and, for the
            "stats" weights, ``scales=(s_var, s_iqr, s_mad)``; adaptive Huber and
            automatic pseudo-Huber: ``delta=``). For mini-batches, distributed
            workers or statistics lagged by one round.

        Returns
        -------
        ndarray of the inputs' shape; float32 if both inputs are float32, else float64.
        """
        return self._loss(y_true, y_pred, sample_weight, self._check_fixed(fixed))

    def gradient(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        **fixed: Any,
    ) -> Array:
        """Elementwise ``d loss / d y_pred`` (statistics held fixed), times the weights."""
        return self._gradient(y_true, y_pred, sample_weight, self._check_fixed(fixed))

    def gradient_hessian(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        **fixed: Any,
    ) -> tuple[Array, Array]:
        """Gradient and positive curvature for Newton learners, each times the weights."""
        return self._gradient_hessian(y_true, y_pred, sample_weight, self._check_fixed(fixed))

    def __call__(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        **fixed: Any,
    ) -> float:
        """Weighted mean loss ``sum(w * rho) / sum(w)`` (plain mean without weights)."""
        return self._mean(y_true, y_pred, sample_weight, self._check_fixed(fixed))

    def _check_fixed(self, fixed: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fixed) - set(self.fixed_statistics))
        if unknown:
            allowed = ", ".join(self.fixed_statistics) or "none"
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) "
                f"{', '.join(unknown)}; statistics it can hold fixed: {allowed}."
            )
        return fixed

    def statistics(
        self, y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
    ) -> dict[str, Any]:
        """The residual statistics this loss computes, as keywords to hold them fixed.

        ``loss.gradient(y2, p2, **loss.statistics(y1, p1))`` evaluates the loss at
        ``p2`` with the thresholds (or scale) of the residuals ``p1 - y1``: for
        chunked or distributed evaluation, or statistics lagged by one round. Losses
        without such statistics return ``{}``.

        Examples
        --------
        >>> from asrl import ASRL, AdaptiveHuber
        >>> ASRL(q_low=0.5, q_high=0.75).statistics([0, 0, 0, 0, 0], [1, 2, 3, 4, 5])
        {'deltas': (3.0, 4.0)}
        >>> AdaptiveHuber(alpha=0.5).statistics([0, 0, 0], [1, -2, 9])
        {'delta': 2.0}
        """
        with np.errstate(over="ignore", under="ignore"):
            _, _, _, stats = self._prepare(y_true, y_pred, sample_weight, {})
        return self._fixed_from(stats)

    def _fixed_from(self, stats: Any) -> dict[str, Any]:
        """Map the internal statistics of ``_statistics`` to ``fixed_statistics`` keywords."""
        return {}

    def best_constant(self, y_true: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
        """A good constant first prediction: the weighted median of ``y_true``.

        Robust losses need a robust start (``docs/maths.md``); the squared error
        overrides this with the weighted mean, its exact minimiser.
        """
        y = check_target("y_true", y_true)
        w = check_sample_weight(sample_weight, y.shape, y.dtype)
        (median,) = core.weighted_quantiles(y, (0.5,), w)
        return float(median)


def _check_hessian(hessian: str, min_hessian: float) -> tuple[str, float]:
    return (
        check_choice("hessian", hessian, HESSIANS),
        check_interval("min_hessian", min_hessian, 0.0, 1.0, high_open=False),
    )


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
    q_low, q_high : float, default 0.5 and 0.9
        Quantile levels of :math:`|u|` giving the thresholds when
        ``thresholds="quantile"``; ``0 < q_low < q_high < 1``.
    thresholds : {"quantile", "scale"}, default "quantile"
        ``"quantile"``: :math:`\delta_j = Q(|u|, q_j)` (the paper's rule).
        ``"scale"``: :math:`\delta_j = c_j \sigma` with :math:`\sigma = 1.4826\,
        \mathrm{MAD}(u)`, which does not force a share of points into the outer regions.
    c1, c2 : float, default 1.345 and 3.0
        Multipliers of the robust scale when ``thresholds="scale"``; ``0 < c1 < c2``.
    weights : {"continuous", "stats"}, default "continuous"
        ``"continuous"``: the region weights that make the loss and its gradient
        continuous. ``"stats"``: each region normalised by a residual scale (std, IQR,
        MAD), our reading of the paper; discontinuous at the thresholds.
    hessian : {"irls", "exact", "unit"}, default "irls"
        Curvature returned by ``gradient_hessian``. ``"irls"``: ``psi(u) / u``, in
        (0, 1], whose quadratic majorizes the loss (each Newton step is a descent step).
        ``"exact"``: the second derivative floored at ``min_hessian``. ``"unit"``: 1.
    min_hessian : float, default 1e-6
        Floor of the ``"exact"`` curvature, in (0, 1].
    threshold_sample : int or None, default None
        If set and there are more residuals than this, thresholds and scales are
        computed from a fixed pseudo-random subsample of this size
        (:func:`asrl.core.subsample` states the accuracy: for 65536, quantile levels
        within 0.0105 with probability 1 - 1e-6). None: always exact.

    Attributes
    ----------
    deltas_ : tuple of float
        ``(delta1, delta2)`` used by the last call.
    scales_ : tuple of float or None
        ``(s_var, s_iqr, s_mad)`` used by the last call with ``weights="stats"``.

    Notes
    -----
    The defaults are provisional until the benchmark (``asrl bench``) settles them.
    Thresholds are statistics of the residuals, held fixed when differentiating.
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
    >>> loss.thresholds(y_true, y_pred)
    (0.4, 1.0)
    >>> loss.gradient(y_true, y_pred).tolist()
    [0.1, -0.2, 0.4, 0.4, 0.008]
    >>> round(loss(y_true, y_pred), 4)
    0.462
    """

    name = "asrl"
    fixed_statistics = ("deltas", "scales")

    def __init__(
        self,
        *,
        q_low: float = 0.5,
        q_high: float = 0.9,
        thresholds: str = "quantile",
        c1: float = 1.345,
        c2: float = 3.0,
        weights: str = "continuous",
        hessian: str = "irls",
        min_hessian: float = 1e-6,
        threshold_sample: int | None = None,
    ) -> None:
        self._q_low = check_interval("q_low", q_low, 0.0, 1.0)
        self._q_high = check_interval("q_high", q_high, 0.0, 1.0)
        if not self._q_low < self._q_high:
            raise ValueError(f"q_low must be < q_high; got q_low={q_low!r}, q_high={q_high!r}.")
        self._thresholds = check_choice("thresholds", thresholds, ("quantile", "scale"))
        self._c1 = check_interval("c1", c1, 0.0, np.inf)
        self._c2 = check_interval("c2", c2, 0.0, np.inf)
        if not self._c1 < self._c2:
            raise ValueError(f"c1 must be < c2; got c1={c1!r}, c2={c2!r}.")
        self._weights = check_choice("weights", weights, ("continuous", "stats"))
        self._hessian, self._min_hessian = _check_hessian(hessian, min_hessian)
        if threshold_sample is not None:
            if isinstance(threshold_sample, bool) or not isinstance(threshold_sample, int):
                raise TypeError(
                    f"threshold_sample must be an int >= 100 or None; got {threshold_sample!r}."
                )
            if threshold_sample < 100:
                raise ValueError(
                    f"threshold_sample must be an int >= 100 or None; got {threshold_sample!r}."
                )
        self._threshold_sample = threshold_sample
        self.approx_hessian = self._hessian != "exact" or self._weights == "stats"
        self.deltas_: tuple[float, float] | None = None
        self.scales_: tuple[float, float, float] | None = None

    # Constructor arguments, read-only. ``thresholds`` is also a method, so the rule
    # it names is ``threshold_rule``.
    q_low = property(lambda self: self._q_low)
    q_high = property(lambda self: self._q_high)
    threshold_rule = property(lambda self: self._thresholds)
    c1 = property(lambda self: self._c1)
    c2 = property(lambda self: self._c2)
    weights = property(lambda self: self._weights)
    hessian = property(lambda self: self._hessian)
    min_hessian = property(lambda self: self._min_hessian)
    threshold_sample = property(lambda self: self._threshold_sample)

    @property
    def continuous(self) -> bool:  # type: ignore[override]
        """True for ``weights="continuous"``; the "stats" form jumps at the thresholds."""
        return self._weights == "continuous"

    # -- statistics ------------------------------------------------------------------
    def _deltas(self, u: Array, abs_u: Array, w: Array | None) -> tuple[Any, Any]:
        u_s, w_s = core.subsample(u, w, self._threshold_sample)
        abs_s = abs_u if u_s is u else np.abs(u_s)
        if self._thresholds == "quantile":
            return core.quantile_thresholds(abs_s, self._q_low, self._q_high, w_s)
        largest = abs_u.max()
        return core.scale_thresholds(u_s, abs_s, self._c1, self._c2, w_s, largest=largest)

    def _statistics(self, u: Array, abs_u: Array, w: Array | None, fixed: dict[str, Any]) -> Any:
        deltas, scales = fixed.get("deltas"), fixed.get("scales")
        dtype = u.dtype.type
        if deltas is None:
            d1, d2 = self._deltas(u, abs_u, w)
        else:
            d1, d2 = (dtype(d) for d in _check_deltas(deltas))
        if self._weights == "continuous":
            self.deltas_ = (float(d1), float(d2))
            return d1, d2
        # The "stats" curvature divides by |u| beyond delta1: keep it off the dust.
        d1 = max(d1, core.scale_floor(u.dtype))
        d2 = max(d2, d1)
        self.deltas_ = (float(d1), float(d2))
        if scales is None:
            u_s, w_s = core.subsample(u, w, self._threshold_sample)
            scales = core.stats_scales(u_s, abs_u if u_s is u else np.abs(u_s), w_s)
        else:
            scales = tuple(dtype(s) for s in _check_scales(scales))
        self.scales_ = tuple(float(s) for s in scales)  # type: ignore[assignment]
        return (d1, d2, *scales)

    @classmethod
    def autograd_spec(
        cls,
        q_low: float,
        q_high: float,
        thresholds: str,
        c1: float,
        c2: float,
        weights: str,
        threshold_sample: int | None,
    ) -> ASRL:
        """The validated parameters of the autograd adapters (torch, jax), which have no
        curvature options: the same checks and messages as the constructor."""
        return cls(
            q_low=q_low,
            q_high=q_high,
            thresholds=thresholds,
            c1=c1,
            c2=c2,
            weights=weights,
            threshold_sample=threshold_sample,
        )

    def _fixed_from(self, stats: Any) -> dict[str, Any]:
        fixed: dict[str, Any] = {"deltas": (float(stats[0]), float(stats[1]))}
        if self._weights == "stats":
            fixed["scales"] = tuple(float(s) for s in stats[2:])
        return fixed

    def thresholds(
        self, y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
    ) -> tuple[float, float]:
        """``(delta1, delta2)`` for these residuals: ``0 < delta1 <= delta2``.

        Pass them back as ``deltas=`` to evaluate the loss with fixed thresholds (for
        mini-batches, distributed workers or thresholds lagged by one round).
        """
        with np.errstate(over="ignore", under="ignore"):
            u, _ = check_residuals(y_true, y_pred)
            w = check_sample_weight(sample_weight, u.shape, u.dtype)
            d1, d2 = self._deltas(u, np.abs(u), w)
        return float(d1), float(d2)

    def scales(
        self, y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
    ) -> tuple[float, float, float]:
        """``(s_var, s_iqr, s_mad)`` used by ``weights="stats"``; pass back as ``scales=``."""
        with np.errstate(over="ignore", under="ignore"):
            u, _ = check_residuals(y_true, y_pred)
            w = check_sample_weight(sample_weight, u.shape, u.dtype)
            s_var, s_iqr, s_mad = core.stats_scales(u, np.abs(u), w)
        return float(s_var), float(s_iqr), float(s_mad)

    # -- formulas --------------------------------------------------------------------
    def _rho(self, u: Array, abs_u: Array, stats: Any) -> Array:
        if self._weights == "continuous":
            return core.continuous_rho(abs_u, *stats)
        return core.stats_rho(abs_u, *stats)

    def _psi(self, u: Array, abs_u: Array, stats: Any) -> Array:
        if self._weights == "continuous":
            return core.continuous_psi(u, abs_u, *stats)
        return core.stats_psi(u, abs_u, *stats)

    def _psi_curvature(self, u: Array, abs_u: Array, stats: Any) -> tuple[Array, Array]:
        if self._hessian == "irls" and self._weights == "continuous":
            return core.continuous_psi_irls(u, abs_u, *stats)
        g = self._psi(u, abs_u, stats)
        if self._hessian == "unit":
            h = np.ones_like(u)
        elif self._weights == "continuous":
            if self._hessian == "irls":
                h = core.continuous_irls_curvature(abs_u, *stats)
            else:
                h = core.continuous_exact_curvature(abs_u, stats[0], self._min_hessian)
        elif self._hessian == "irls":
            h = core.stats_irls_curvature(abs_u, *stats)
        else:
            h = core.stats_exact_curvature(abs_u, stats[0], stats[2], self._min_hessian)
        return g, h


def _check_deltas(deltas: Any) -> tuple[float, float]:
    try:
        d1, d2 = deltas
    except (TypeError, ValueError):
        raise TypeError(f"deltas must be a pair (delta1, delta2); got {deltas!r}.") from None
    d1 = check_interval("deltas[0]", d1, 0.0, np.inf)
    d2 = check_interval("deltas[1]", d2, 0.0, np.inf)
    if d1 > d2:
        raise ValueError(f"deltas must satisfy delta1 <= delta2; got {deltas!r}.")
    return d1, d2


def _check_scales(scales: Any) -> tuple[float, float, float]:
    try:
        s_var, s_iqr, s_mad = scales
    except (TypeError, ValueError):
        raise TypeError(f"scales must be a triple (s_var, s_iqr, s_mad); got {scales!r}.") from None
    return (
        check_interval("scales[0]", s_var, 0.0, np.inf),
        check_interval("scales[1]", s_iqr, 0.0, np.inf),
        check_interval("scales[2]", s_mad, 0.0, np.inf),
    )


class SquaredError(BaseLoss):
    """Half squared error ``u^2 / 2``; gradient ``u``, curvature 1.

    The gradient and curvature equal XGBoost's ``reg:squarederror``.

    Examples
    --------
    >>> from asrl import SquaredError
    >>> SquaredError().gradient_hessian([1.0, 2.0], [1.5, 0.0])
    (array([ 0.5, -2. ]), array([1., 1.]))
    """

    name = "mse"
    robust_start = False

    def __init__(self) -> None:
        pass

    def _rho(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return 0.5 * u * u

    # ``u`` is a fresh array made by the caller for this call alone: no copy needed.
    def _psi(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return u

    def _psi_curvature(self, u: Array, abs_u: Array, stats: Any) -> tuple[Array, Array]:
        return u, np.ones_like(u)

    def best_constant(self, y_true: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
        """The weighted mean of ``y_true``, the minimiser of the squared error."""
        y = check_target("y_true", y_true)
        w = check_sample_weight(sample_weight, y.shape, y.dtype)
        return float(np.average(y, weights=w))


class AbsoluteError(BaseLoss):
    """Absolute error ``|u|``; gradient ``sign(u)``; curvature 1 (as XGBoost's).

    Examples
    --------
    >>> from asrl import AbsoluteError
    >>> AbsoluteError().loss([1.0, 2.0], [1.5, 0.0])
    array([0.5, 2. ])
    """

    name = "mae"
    approx_hessian = True

    def __init__(self) -> None:
        pass

    def _rho(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return core.absolute_rho(abs_u)

    def _psi(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return core.absolute_psi(u)

    def _psi_curvature(self, u: Array, abs_u: Array, stats: Any) -> tuple[Array, Array]:
        return core.absolute_psi(u), np.ones_like(u)


class _HuberFamily(BaseLoss):
    """Huber's loss given a ``delta`` from ``_statistics``; curvature by ``hessian``."""

    _hessian: str
    _min_hessian: float
    delta_: float | None = None

    def _rho(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return core.huber_rho(abs_u, stats)

    def _psi(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return core.huber_psi(u, abs_u, stats)

    def _psi_curvature(self, u: Array, abs_u: Array, stats: Any) -> tuple[Array, Array]:
        g = core.huber_psi(u, abs_u, stats)
        if self._hessian == "irls":
            return g, core.huber_irls_curvature(abs_u, stats)
        if self._hessian == "exact":
            return g, np.where(abs_u <= stats, np.ones_like(u), self._min_hessian)
        return g, np.ones_like(u)


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

    def __init__(
        self, *, delta: float = 1.0, hessian: str = "irls", min_hessian: float = 1e-6
    ) -> None:
        self._delta = check_interval("delta", delta, 0.0, np.inf)
        self._hessian, self._min_hessian = _check_hessian(hessian, min_hessian)
        self.approx_hessian = self._hessian != "exact"

    def _statistics(self, u: Array, abs_u: Array, w: Array | None, fixed: dict[str, Any]) -> Any:
        return u.dtype.type(self._delta)


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
    >>> loss.delta_
    2.0
    """

    name = "huber-adaptive"
    fixed_statistics = ("delta",)

    def _fixed_from(self, stats: Any) -> dict[str, Any]:
        return {"delta": float(stats)}

    def __init__(
        self, *, alpha: float = 0.9, hessian: str = "irls", min_hessian: float = 1e-6
    ) -> None:
        self._alpha = check_interval("alpha", alpha, 0.0, 1.0)
        self._hessian, self._min_hessian = _check_hessian(hessian, min_hessian)
        self.approx_hessian = self._hessian != "exact"

    def _statistics(self, u: Array, abs_u: Array, w: Array | None, fixed: dict[str, Any]) -> Any:
        if "delta" in fixed:
            return u.dtype.type(check_interval("delta", fixed["delta"], 0.0, np.inf))
        delta, largest = core._quantiles_and_max(abs_u, (self._alpha,), w)
        delta = core._positive_threshold(delta, largest, largest, u.dtype)
        self.delta_ = float(delta)
        return delta


class PseudoHuber(BaseLoss):
    """Pseudo-Huber ``delta^2 (sqrt(1 + (u/delta)^2) - 1)`` with its exact curvature.

    Gradient and curvature equal XGBoost's ``reg:pseudohubererror`` with
    ``huber_slope=delta``.

    Parameters
    ----------
    delta : float, default 1.0
        Slope parameter, > 0, in the units of ``y``.

    Examples
    --------
    >>> from asrl import PseudoHuber
    >>> PseudoHuber().gradient_hessian([0.0], [1.0])
    (array([0.70710678]), array([0.35355339]))
    """

    name = "pseudo-huber"
    delta_: float | None = None

    def __init__(self, *, delta: float = 1.0) -> None:
        self._delta = check_interval("delta", delta, 0.0, np.inf)

    def _statistics(self, u: Array, abs_u: Array, w: Array | None, fixed: dict[str, Any]) -> Any:
        return u.dtype.type(self._delta)

    def _rho(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return core.pseudo_huber_rho(abs_u, stats)

    def _psi(self, u: Array, abs_u: Array, stats: Any) -> Array:
        return core.pseudo_huber_psi(u, abs_u, stats)

    def _psi_curvature(self, u: Array, abs_u: Array, stats: Any) -> tuple[Array, Array]:
        return core.pseudo_huber_psi(u, abs_u, stats), core.pseudo_huber_curvature(abs_u, stats)


class AutoPseudoHuber(PseudoHuber):
    """Pseudo-Huber whose ``delta`` is ``(weighted mean of sqrt|u|)^2`` at every call.

    The automatic scale of XGBoost 3.4's pseudo-Huber objective, which is not
    installable here, so it lives here as a baseline.

    Examples
    --------
    >>> from asrl import AutoPseudoHuber
    >>> loss = AutoPseudoHuber()
    >>> _ = loss.gradient([0.0, 0.0], [1.0, 9.0])
    >>> loss.delta_
    4.0
    """

    name = "pseudo-huber-auto"
    fixed_statistics = ("delta",)

    def _fixed_from(self, stats: Any) -> dict[str, Any]:
        return {"delta": float(stats)}

    def __init__(self) -> None:
        pass

    def _statistics(self, u: Array, abs_u: Array, w: Array | None, fixed: dict[str, Any]) -> Any:
        if "delta" in fixed:
            return u.dtype.type(check_interval("delta", fixed["delta"], 0.0, np.inf))
        root = np.sqrt(abs_u)
        mean = root.mean() if w is None else (root * w).sum() / w.sum()
        largest = abs_u.max()
        delta = core._positive_threshold(u.dtype.type(mean * mean), largest, largest, u.dtype)
        self.delta_ = float(delta)
        return delta


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
