r"""Residual statistics: each rule written once, answered by a driver.

A *rule* computes a loss's residual statistics (ASRL's thresholds and scales, a Huber
delta) from the few order statistics and moments it asks for. It is a generator: it
yields requests (:class:`Quantiles`, :class:`Largest`, :class:`Mean`), receives each
answer, and returns its result; between requests it does scalar arithmetic only,
through the driver's :class:`Scalars` (``where``, ``maximum``, ... of an array
namespace). How a request is answered is a *driver*'s business:

- :func:`run_local`: exact, with numpy, on one array (optionally weighted or
  subsampled): the losses, the boosting rounds, the linear model.
- :func:`run_xp`: on 0-d arrays of any namespace (torch, jax), on the device and
  inside ``jit`` or ``torch.compile``.
- :func:`asrl.core.sharded.sharded_rule`: across workers, each request answered by
  radix selection or a summed moment over an allreduce (Dask).

So a new threshold rule is one function and one line in :data:`THRESHOLD_RULES`, and
then works in every adapter:

>>> import numpy as np
>>> def middle(params, ops):
...     d1, d2, largest = yield Quantiles((0.3, 0.8))
...     return ordered_thresholds(d1, d2, largest, ops)
>>> THRESHOLD_RULES["middle"] = middle
>>> from asrl import ASRL
>>> ASRL(thresholds="middle").statistics(np.zeros(11), np.arange(11.0)).deltas
(3.0, 8.0)
>>> del THRESHOLD_RULES["middle"]

Every rule's scalar operations happen in the residuals' dtype in the same order for
every driver, so the drivers agree bit for bit on the same residuals (tests check it),
except where a driver sums moments in another order (noted there).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .quantiles import lerp, quantiles_and_max, subsample, type7_ranks

__all__ = [
    "IQR_TO_SIGMA",
    "MAD_TO_SIGMA",
    "THRESHOLD_RULES",
    "ASRLStatistics",
    "DeltaStatistics",
    "Largest",
    "Mean",
    "Quantiles",
    "Rule",
    "Scalars",
    "adaptive_huber_rule",
    "as_floats",
    "asrl_rule",
    "auto_pseudo_huber_rule",
    "capped_rule",
    "mad_sigma",
    "numpy_scalars",
    "ordered_thresholds",
    "positive_threshold",
    "quantile_rule",
    "quantiles_xp",
    "run_local",
    "run_xp",
    "scale_rule",
    "stats_scales",
]

#: 1 / Phi^{-1}(3/4): the MAD of a normal sample times this estimates its sigma (~1.4826).
MAD_TO_SIGMA = 1.482602218505602
#: 2 Phi^{-1}(3/4): the IQR of a normal sample divided by this estimates its sigma (~1.349).
IQR_TO_SIGMA = 1.3489795003921634

Array = NDArray[np.floating[Any]]


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantiles:
    """Quantiles at ``levels`` of ``|u - centre|`` (``of="abs"``) or of ``u`` (``"raw"``).

    Answer: ``(*quantiles, maximum)``, the maximum of the same values, each a scalar
    in the residuals' dtype. Drivers that subsample answer from the subsample.
    """

    levels: tuple[float, ...]
    of: str = "abs"
    centre: Any = 0.0


@dataclass(frozen=True)
class Largest:
    """``max |u|`` over every residual of positive weight, never a subsample.
    Answer: a scalar."""


@dataclass(frozen=True)
class Mean:
    """The (weighted) mean of ``u / scale`` (``of="raw"``), of ``(u / scale - centre)**2``
    (``"square"``) or of ``sqrt(|u|)`` (``"sqrt-abs"``). Answer: a scalar."""

    of: str
    centre: Any = 0.0
    scale: Any = 1.0


Request = Quantiles | Largest | Mean
#: What a rule is: yields requests, receives their answers, returns its statistics.
Rule = Generator[Request, Any, Any]


@dataclass(frozen=True)
class Scalars:
    """A driver's scalar arithmetic: an array namespace, the dtype's ``finfo``, and
    ``times(c, x)``: the Python float ``c`` times ``x``, rounded once to ``x``'s dtype."""

    xp: Any
    finfo: Any
    times: Callable[[float, Any], Any]


def numpy_scalars(dtype: Any) -> Scalars:
    """:class:`Scalars` for numpy scalars of ``dtype`` (float32 or float64)."""
    dtype = np.dtype(dtype)
    return Scalars(np, np.finfo(dtype), lambda c, x: dtype.type(c * float(x)))


# --------------------------------------------------------------------------------------
# Statistics: the values rules return and every loss method accepts
# --------------------------------------------------------------------------------------


def _check_positive(name: str, value: Any) -> Any:
    """Python and numpy numbers must be positive and finite; tensors pass unchecked
    (reading them would synchronise with the device)."""
    if isinstance(value, numbers.Real) and not (math.isfinite(value) and float(value) > 0):
        raise ValueError(f"{name} must be positive and finite; got {value!r}.")
    return value


@dataclass(frozen=True)
class ASRLStatistics:
    """ASRL's residual statistics: the thresholds and, for ``weights="stats"``, the scales.

    Parameters
    ----------
    deltas : pair
        ``(delta1, delta2)`` with ``0 < delta1 <= delta2``.
    scales : triple or None
        ``(s_var, s_iqr, s_mad)``, each positive; only with ``weights="stats"``.

    Examples
    --------
    >>> ASRLStatistics((1.0, 3.0))
    ASRLStatistics(deltas=(1.0, 3.0), scales=None)
    """

    deltas: tuple[Any, Any]
    scales: tuple[Any, Any, Any] | None = None

    def __post_init__(self) -> None:
        try:
            d1, d2 = self.deltas
        except (TypeError, ValueError):
            message = f"deltas must be a pair (delta1, delta2); got {self.deltas!r}."
            raise TypeError(message) from None
        object.__setattr__(
            self, "deltas", (_check_positive("deltas[0]", d1), _check_positive("deltas[1]", d2))
        )
        if isinstance(d1, numbers.Real) and isinstance(d2, numbers.Real) and d1 > d2:
            raise ValueError(f"deltas must satisfy delta1 <= delta2; got {self.deltas!r}.")
        if self.scales is not None:
            s = tuple(self.scales) if isinstance(self.scales, (tuple, list)) else ()
            if len(s) != 3:
                raise TypeError(
                    f"scales must be a triple (s_var, s_iqr, s_mad); got {self.scales!r}."
                )
            object.__setattr__(
                self, "scales", tuple(_check_positive(f"scales[{i}]", v) for i, v in enumerate(s))
            )

    def flat(self) -> tuple[Any, ...]:
        """``(delta1, delta2)``, followed by the three scales if there are any: the
        statistics in the order the formulas take them."""
        return (*self.deltas, *(self.scales or ()))


@dataclass(frozen=True)
class DeltaStatistics:
    """The one residual statistic of adaptive Huber and automatic pseudo-Huber: ``delta``.

    Examples
    --------
    >>> DeltaStatistics(2.0)
    DeltaStatistics(delta=2.0)
    """

    delta: Any

    def __post_init__(self) -> None:
        _check_positive("delta", self.delta)


def as_floats(statistics: Any) -> Any:
    """A statistics value with its numpy scalars as Python floats (exact), for users
    and records; not for tensors (reading them synchronises with the device).

    Examples
    --------
    >>> as_floats(ASRLStatistics((np.float32(0.5), np.float32(2.0))))
    ASRLStatistics(deltas=(0.5, 2.0), scales=None)
    """
    values = {}
    for field in dataclasses.fields(statistics):
        value = getattr(statistics, field.name)
        if isinstance(value, tuple):
            value = tuple(float(v) for v in value)
        elif value is not None:
            value = float(value)
        values[field.name] = value
    return type(statistics)(**values)


# --------------------------------------------------------------------------------------
# Floors and rules
# --------------------------------------------------------------------------------------


def positive_threshold(value: Any, reference: Any, largest: Any, ops: Scalars) -> Any:
    """A threshold made safe: positive, and not so small that ``max|u| / delta`` overflows.

    A zero ``value`` (more than a ``q`` share of residuals is zero, or a zero MAD)
    becomes ``eps * reference``. Every threshold is then at least
    ``max(4 * max|u| / dtype_max, tiny)``, far below any scale the residuals show,
    which keeps ``|u| / delta`` finite and every division defined. ``largest / (max /
    4)`` is the correctly rounded ``4 * largest / max``; unlike ``4 * largest`` it
    cannot overflow.
    """
    xp, finfo = ops.xp, ops.finfo
    floor = largest / (float(finfo.max) / 4)
    floor = xp.where(floor > float(finfo.tiny), floor, float(finfo.tiny))
    positive = xp.where(value > 0, value, float(finfo.eps) * reference)
    return xp.maximum(positive, floor)


def ordered_thresholds(d1: Any, d2: Any, largest: Any, ops: Scalars) -> tuple[Any, Any]:
    """``(d1, d2)`` made positive (:func:`positive_threshold`) and ordered.

    A zero ``d1`` becomes ``eps * d2``, or ``eps * max|u|`` if ``d2`` is zero too, or
    the smallest normal number if every residual is zero; then ``d2 = max(d2, d1)``.
    """
    d1 = positive_threshold(d1, ops.xp.where(d2 > 0, d2, largest), largest, ops)
    return d1, ops.xp.maximum(d2, d1)


def quantile_rule(params: Any, ops: Scalars) -> Rule:
    """The paper's thresholds: ``delta_j = Q(|u|, q_j)``, made positive and ordered.

    Quantile thresholds never exceed ``max|u|``.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.params import ASRLParams
    >>> rule = lambda ops: quantile_rule(ASRLParams(), ops)
    >>> d1, d2 = run_local(rule, np.arange(-5.0, 6.0))
    >>> float(d1), float(d2)
    (3.0, 5.0)
    """
    d1, d2, largest = yield Quantiles((params.q_low, params.q_high))
    return ordered_thresholds(d1, d2, largest, ops)


def mad_sigma() -> Rule:
    """``MAD_TO_SIGMA`` times the median absolute deviation of ``u`` about its median."""
    median, _ = yield Quantiles((0.5,), of="raw")
    mad, _ = yield Quantiles((0.5,), of="abs", centre=median)
    return MAD_TO_SIGMA * mad


def scale_rule(params: Any, ops: Scalars) -> Rule:
    """Robust-statistics thresholds: ``delta_j = c_j * 1.4826 * MAD(u)``.

    A threshold above ``max|u|`` is lowered to ``max|u|``: every residual is in the
    quadratic region either way, and the unused branches cannot overflow. A zero MAD
    gives ``delta1 = delta2 = eps * max|u|``.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.params import ASRLParams
    >>> u = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 10.0])  # MAD about the median 0.5 is 1.5
    >>> rule = lambda ops: scale_rule(ASRLParams(c1=1.0, c2=3.0), ops)
    >>> [round(float(d), 4) for d in run_local(rule, u)]
    [2.2239, 6.6717]
    """
    xp = ops.xp
    largest = yield Largest()
    sigma = yield from mad_sigma()
    d1 = xp.minimum(ops.times(params.c1, sigma), largest)
    d1 = positive_threshold(d1, largest, largest, ops)
    return d1, xp.maximum(xp.minimum(ops.times(params.c2, sigma), largest), d1)


def capped_rule(params: Any, ops: Scalars) -> Rule:
    """The default: quantile thresholds capped on the scale of the median residual,
    ``delta_j = min(Q(|u|, q_j), c_j * 1.4826 * Q(|u|, 0.5))``.

    ``1.4826 * Q(|u|, 0.5)`` is the MAD about zero, the residuals' scale when they
    are centred (as a fit makes them), and like the MAD it breaks down only when half
    the residuals are outliers. On clean residuals the quantiles lie below the caps
    (Gaussian: ``Q(|u|, 0.9) = 2.44 Q(|u|, 0.5)`` against the cap of ``3.7 Q(|u|, 0.5)``)
    and this is the quantile rule; when more than ``1 - q_high`` of the residuals are
    outliers, ``Q(|u|, q_high)`` lies among them and the cap keeps ``delta2`` on the
    inliers' scale. At ``q_low = 0.5`` the cap on ``delta1`` never binds
    (``c1 * 1.4826 > 1``). A zero median caps nothing (the quantiles stand). One
    request of three quantiles (its maximum gives the floors, as in the quantile
    rule); docs/defaults.md has the evidence.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.params import ASRLParams
    >>> u = np.r_[np.linspace(-1.0, 1.0, 70), np.full(30, 50.0)]  # 30 % outliers
    >>> rule = lambda ops: capped_rule(ASRLParams(), ops)
    >>> [round(float(d), 4) for d in run_local(rule, u)]  # Q(|u|, 0.9) = 50 is capped
    [0.7246, 2.6859]
    """
    median, q1, q2, largest = yield Quantiles((0.5, params.q_low, params.q_high))
    xp = ops.xp
    sigma = ops.times(MAD_TO_SIGMA, median)
    scaled = sigma > 0
    d1 = xp.where(scaled, xp.minimum(q1, ops.times(params.c1, sigma)), q1)
    d2 = xp.where(scaled, xp.minimum(q2, ops.times(params.c2, sigma)), q2)
    return ordered_thresholds(d1, d2, largest, ops)


#: Threshold rules by the name ASRL's ``thresholds=`` takes. Each maps ``(params,
#: ops)`` (an :class:`asrl.params.ASRLParams` and the driver's :class:`Scalars`) to a
#: rule returning ``(delta1, delta2)``.
THRESHOLD_RULES: dict[str, Callable[[Any, Scalars], Rule]] = {
    "quantile": quantile_rule,
    "scale": scale_rule,
    "capped": capped_rule,
}


def _stats_floor(ops: Scalars) -> float:
    """Floor of the "stats" scales and thresholds: ``tiny**(1/4)`` of the dtype.

    About 1.2e-77 in float64 and 3.3e-10 in float32: it keeps ``1 / s**2`` and
    ``1 / (s * delta)`` finite with room for sample weights.
    """
    return float(float(ops.finfo.tiny) ** 0.25)


def stats_scales(ops: Scalars) -> Rule:
    """Scales of the "stats" weights: ``(std(u), IQR(u) / 1.349, 1.4826 MAD(u))``.

    A zero scale becomes ``eps * max|u|``; each is then floored at ``tiny**(1/4)`` so
    ``1 / s**2`` is finite. The standard deviation is computed on ``u / max|u|`` (the
    largest over every residual of positive weight, from a subsample or not), so it
    cannot overflow.
    """
    xp = ops.xp
    q25, q75, _ = yield Quantiles((0.25, 0.75), of="raw")
    largest = yield Largest()
    unit = xp.where(largest > 0, largest, 1.0)
    mean = yield Mean("raw", scale=unit)
    var = yield Mean("square", centre=mean, scale=unit)
    raw = (xp.sqrt(var) * unit, (q75 - q25) / IQR_TO_SIGMA, (yield from mad_sigma()))
    floor = _stats_floor(ops)
    safe = [positive_threshold(s, largest, largest, ops) for s in raw]
    s_var, s_iqr, s_mad = (xp.where(s > floor, s, floor) for s in safe)
    return s_var, s_iqr, s_mad


def asrl_rule(threshold_rule: Callable[[Any, Scalars], Rule], params: Any, ops: Scalars) -> Rule:
    """ASRL's statistics: the thresholds of ``threshold_rule`` and, for the "stats"
    weights, the scales (with ``delta1`` floored as the scales are)."""
    d1, d2 = yield from threshold_rule(params, ops)
    if params.weights == "continuous":
        return ASRLStatistics((d1, d2))
    floor = _stats_floor(ops)
    d1 = ops.xp.where(d1 > floor, d1, floor)
    d2 = ops.xp.maximum(d2, d1)
    return ASRLStatistics((d1, d2), (yield from stats_scales(ops)))


def adaptive_huber_rule(alpha: float, ops: Scalars) -> Rule:
    """Huber's ``delta`` at the ``alpha``-quantile of ``|u|`` (scikit-learn's rule)."""
    delta, largest = yield Quantiles((alpha,))
    return DeltaStatistics(positive_threshold(delta, largest, largest, ops))


def auto_pseudo_huber_rule(ops: Scalars) -> Rule:
    """Pseudo-Huber's ``delta = (mean of sqrt|u|)**2`` (XGBoost 3.4's automatic slope)."""
    mean = yield Mean("sqrt-abs")
    largest = yield Largest()
    return DeltaStatistics(positive_threshold(mean * mean, largest, largest, ops))


# --------------------------------------------------------------------------------------
# Drivers: one array with numpy, or 0-d arrays of any namespace
# --------------------------------------------------------------------------------------


def _drive(rule: Rule, answer: Callable[[Request], Any]) -> Any:
    try:
        request = next(rule)
        while True:
            request = rule.send(answer(request))
    except StopIteration as stop:
        return stop.value


def run_local(
    rule: Callable[[Scalars], Rule],
    u: Array,
    sample_weight: Array | None = None,
    *,
    sample: int | None = None,
    scratch: Array | None = None,
) -> Any:
    """Run ``rule(ops)`` on the residuals ``u`` (flat numpy, finite) and return its result.

    Quantiles and means are exact (weighted quantiles as in
    :func:`asrl.core.quantiles.weighted_quantiles`), from the fixed subsample of
    :func:`asrl.core.quantiles.subsample` when ``u`` has more than ``sample``
    elements; :class:`Largest` is always over every residual (of positive weight).
    ``scratch``, an array
    of ``u``'s shape and dtype, receives the subsample, or else ``|u|`` if it is
    needed, which is then partitioned in place: the boosting rounds reuse one buffer
    every round and a quantile rule allocates nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl import ASRL
    >>> run_local(ASRL(thresholds="quantile", q_high=0.75).statistics_rule, np.arange(1.0, 6.0))
    ASRLStatistics(deltas=(np.float64(3.0), np.float64(4.0)), scales=None)
    """
    ops = numpy_scalars(u.dtype)
    sampled = sample is not None and u.size > sample
    # scratch holds the subsample if there is one, else |u|; nothing else is allocated
    # for a quantile rule.
    u_s, w_s = subsample(u, sample_weight, sample, out=scratch if sampled else None)
    cache: dict[str, Array] = {}

    def absolute(full: bool) -> Array:
        key = "full" if full or not sampled else "sample"
        if key not in cache:
            source = u if key == "full" else u_s
            out = scratch if key == "full" and not sampled else None
            cache[key] = np.abs(source, out=out)
        return cache[key]

    def quantiles(request: Quantiles) -> tuple[Any, ...]:
        if request.of == "raw":
            return quantiles_and_max(u_s, request.levels, w_s)
        if request.centre != 0:
            centred = np.abs(u_s - request.centre)
            return quantiles_and_max(centred, request.levels, w_s, overwrite_input=True)
        # |u| is partitioned in place (no copy), so it leaves the cache.
        key = "full" if not sampled else "sample"
        values = absolute(False)
        del cache[key]
        return quantiles_and_max(values, request.levels, w_s, overwrite_input=True)

    def mean(request: Mean) -> Any:
        x, w = u_s, w_s
        if w is not None and not (w > 0).all():
            # Over the rows of positive weight only: a zero-weight row is not in the
            # sample (its value may even overflow, and 0 * inf is NaN).
            keep = w > 0
            x, w = x[keep], w[keep]
        if request.of == "sqrt-abs":
            f = np.sqrt(absolute(False) if x is u_s else np.abs(x))
        else:
            f = x / request.scale
            f = f if request.of == "raw" else np.square(f - request.centre)
        return np.mean(f) if w is None else (w * f).sum() / w.sum()

    def answer(request: Request) -> Any:
        if isinstance(request, Quantiles):
            return quantiles(request)
        if isinstance(request, Largest):
            if sample_weight is None and "full" not in cache:
                # max|u| by two reductions, without an array of |u|: the same value.
                return np.abs(np.maximum(u.max(), -u.min()))
            full = absolute(True)
            if sample_weight is None:
                return full.max()
            return full.max(where=sample_weight > 0, initial=full.dtype.type(0))
        return mean(request)

    with np.errstate(over="ignore", under="ignore"):
        return _drive(rule(ops), answer)


def quantiles_xp(x: Any, qs: tuple[float, ...], order_statistics: Any) -> tuple[Any, ...]:
    """Type-7 quantiles of flat ``x`` at each level in ``qs``, plus its maximum.

    The interpolation of :func:`asrl.core.quantiles.weighted_quantiles` without
    weights, with the order statistics from ``order_statistics(x, ranks)`` (a mapping
    of each 0-based rank to its value in sorted ``x``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    >>> pick = lambda x, ranks: {r: np.sort(x)[r] for r in ranks}
    >>> q25, q90, top = quantiles_xp(x, (0.25, 0.9), pick)
    >>> (q25, q90) == (np.quantile(x, 0.25), np.quantile(x, 0.9)), float(top)
    (True, 5.0)
    """
    n = int(x.shape[0])
    plan = [type7_ranks(n, q) for q in qs]
    ranks = sorted({r for below, above, _ in plan for r in (below, above)} | {n - 1})
    found = order_statistics(x, ranks)
    return (*(lerp(found[b], found[a], t) for b, a, t in plan), found[n - 1])


def run_xp(
    rule: Callable[[Scalars], Rule],
    u: Any,
    ops: Scalars,
    order_statistics: Callable[[Any, Sequence[int]], dict[int, Any]] | None,
    largest: Callable[[], Any] | None = None,
    *,
    quantiles: Callable[[Any, tuple[float, ...]], tuple[Any, ...]] | None = None,
    mean: Callable[[Any], Any] | None = None,
) -> Any:
    """Run ``rule(ops)`` on the flat residuals ``u`` of the namespace ``ops.xp``.

    Unweighted; ``u`` is the sample the statistics are taken from (the adapter
    subsamples or gathers it). Order statistics come from ``order_statistics``;
    :class:`Largest` from ``largest()`` when the full data are not ``u`` (a
    subsample, or one rank of many), else ``max|u|``. Means sum in the namespace's
    own order, so they may differ from numpy's pairwise sums in the last bits.
    ``quantiles(x, levels)``, if given, answers quantile requests in place of
    :func:`quantiles_xp` (which needs the length of ``x`` as a Python int), and
    ``order_statistics`` may be None: for a graph whose length is known only when it
    runs (Keras on TensorFlow), or for quantiles of the finite values only.
    ``mean(f)``, if given, answers mean requests in place of ``xp.mean(f)``, where
    ``f`` is the requested function of ``u`` elementwise: for residuals that hold
    values to leave out (the adapters skip non-finite ones, which their
    ``quantiles`` skip too).
    """
    xp = ops.xp
    average = xp.mean if mean is None else mean
    if order_statistics is None and quantiles is None:
        raise TypeError("run_xp needs order_statistics or quantiles to answer quantiles.")

    def answer(request: Request) -> Any:
        if isinstance(request, Quantiles):
            if request.of == "raw":
                x = u
            elif isinstance(request.centre, (int, float)) and request.centre == 0:
                x = xp.abs(u)
            else:
                x = xp.abs(u - request.centre)
            if quantiles is None:
                return quantiles_xp(x, request.levels, order_statistics)
            return quantiles(x, request.levels)
        if isinstance(request, Largest):
            return xp.max(xp.abs(u)) if largest is None else largest()
        if request.of == "sqrt-abs":
            return average(xp.sqrt(xp.abs(u)))
        z = u / request.scale
        return average(z if request.of == "raw" else xp.square(z - request.centre))

    return _drive(rule(ops), answer)
