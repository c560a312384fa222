r"""The numerical core: statistics of residuals and the formulas of every loss.

This module is the only place where the mathematics lives. It imports numpy and
nothing else. The elementwise formulas take an array namespace ``xp`` (``numpy``
by default) and use only ``abs``, ``where``, ``minimum``, ``maximum``, ``copysign``,
``log``, ``log1p``, ``sqrt`` and ``hypot``, so the PyTorch and JAX adapters call
the same functions with ``torch`` or ``jax.numpy`` instead of copying them.

Notation: ``u = y_pred - y_true`` and ``a = |u|``; every gradient is
:math:`\partial \rho / \partial\, y_{pred}`. Thresholds and scales are scalars of
the arrays' dtype (or 0-d tensors for the adapters).

The ASRL loss with continuous weights is

.. math::

    \rho(u) = \begin{cases}
        u^2 / 2 & |u| \le \delta_1 \\
        \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
        \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
            & |u| > \delta_2
    \end{cases}

with :math:`\psi(u) = u,\ \delta_1 \operatorname{sign}(u),\ \delta_1\delta_2/u`. See
``docs/maths.md`` for the derivation and the "stats" weights.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Generator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "IQR_TO_SIGMA",
    "MAD_TO_SIGMA",
    "absolute_psi",
    "absolute_rho",
    "continuous_exact_curvature",
    "continuous_irls_curvature",
    "continuous_psi",
    "continuous_psi_irls",
    "continuous_rho",
    "huber_irls_curvature",
    "huber_psi",
    "huber_rho",
    "mad_sigma",
    "pseudo_huber_curvature",
    "pseudo_huber_psi",
    "pseudo_huber_rho",
    "quantile_thresholds",
    "regions",
    "scale_floor",
    "scale_thresholds",
    "stats_exact_curvature",
    "stats_irls_curvature",
    "stats_psi",
    "stats_rho",
    "stats_scales",
    "subsample",
    "weighted_quantiles",
]

#: 1 / Phi^{-1}(3/4): the MAD of a normal sample times this estimates its sigma (~1.4826).
MAD_TO_SIGMA = 1.482602218505602
#: 2 Phi^{-1}(3/4): the IQR of a normal sample divided by this estimates its sigma (~1.349).
IQR_TO_SIGMA = 1.3489795003921634

Array = NDArray[np.floating[Any]]


# --------------------------------------------------------------------------------------
# Quantiles
# --------------------------------------------------------------------------------------


def _lerp(below: Any, above: Any, t: float) -> Any:
    """numpy's ``_lerp`` for scalars: the same operations in the same order."""
    diff = above - below
    if t >= 0.5:
        return above - diff * (1 - t)
    return below + diff * t


def _order_statistics(x: Array, ranks: set[int]) -> dict[int, Any]:
    """The values of rank ``r`` (0-based) in sorted ``x`` for each ``r`` in ``ranks``.

    Partitions a copy once per rank, each time only the part above the previous
    rank; a rank right after the previous one is the minimum of that part, and the
    top rank is its maximum. For the usual ranks (k1, k1 + 1, k2, k2 + 1, n - 1)
    this costs about 1.6 partitions of the whole array, where ``numpy.partition``
    with a list of ranks costs about two.
    """
    n = x.size
    part = x.copy()
    values: dict[int, Any] = {}
    start = 0  # part[start:] holds exactly the values of rank >= start
    for rank in sorted(ranks):
        rest = part[start:]
        if rank == n - 1:
            values[rank] = rest.max()
        elif rank == start:
            values[rank] = rest.min()
        else:
            rest.partition(rank - start)
            values[rank] = rest[rank - start]
            start = rank + 1
    return values


def _unweighted_quantiles(x: Array, qs: tuple[float, ...]) -> tuple[Any, ...]:
    """Quantiles of flat ``x`` bit-for-bit equal to ``numpy.quantile(x, q)``, plus the max.

    The interpolation repeats numpy's: virtual index ``(n - 1) q``, neighbours
    ``floor`` and ``floor + 1`` (both the last one beyond the end), and ``_lerp``.
    """
    n = x.size
    plan = [type7_ranks(n, q) for q in qs]
    values = _order_statistics(x, {r for b, a, _ in plan for r in (b, a)} | {n - 1})
    results = tuple(_lerp(values[b], values[a], t) for b, a, t in plan)
    return (*results, values[n - 1])


def _weighted_sorted_quantiles(x: Array, w: Array, qs: tuple[float, ...]) -> tuple[Any, ...]:
    """Weighted type-7 quantiles (see :func:`weighted_quantiles`), plus the maximum.

    ``w`` must be positive everywhere (zero weights are dropped by the caller).
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    if xs.size == 1:
        return (*(xs[0] for _ in qs), xs[0])
    ws = w[order].astype(np.float64)
    ws /= ws.max()  # keeps tiny weights out of the subnormal range
    centre = np.cumsum(ws) - 0.5 * ws
    position = (centre - centre[0]) / (centre[-1] - centre[0])
    results = []
    for q in qs:
        j = int(np.searchsorted(position, q, side="right")) - 1
        j = min(max(j, 0), xs.size - 2)
        span = position[j + 1] - position[j]  # 0 only if rounding merged two positions
        t = float((q - position[j]) / span) if span > 0 else 1.0
        results.append(_lerp(xs[j], xs[j + 1], min(max(t, 0.0), 1.0)))
    return (*results, xs[-1])


def weighted_quantiles(
    x: ArrayLike, qs: tuple[float, ...], sample_weight: ArrayLike | None = None
) -> tuple[Any, ...]:
    r"""Quantiles of ``x`` (flattened) at each level in ``qs``, optionally weighted.

    Without weights, or with all weights equal, the result equals
    ``numpy.quantile(x, q, method="linear")`` bit for bit, found by O(n) partitions.
    With weights, sorted values :math:`x_k` with weights :math:`w_k > 0` sit at the
    positions

    .. math:: p_k = \frac{c_k - c_1}{c_m - c_1}, \qquad c_k = \sum_{i \le k} w_i - w_k / 2

    and the quantile interpolates linearly between them. Equal weights give
    :math:`p_k = (k - 1)/(m - 1)`, Hyndman and Fan's type 7; the answer does not change
    when all weights are multiplied by a constant; zero-weight points are ignored.

    Parameters
    ----------
    x : array_like
        Values; any shape, flattened. Must be finite and non-empty (not checked here).
    qs : tuple of float
        Levels in [0, 1].
    sample_weight : array_like of the same shape as ``x``, optional
        Non-negative weights, not all zero (not checked here).

    Returns
    -------
    tuple
        One scalar of ``x``'s dtype per level, in the order of ``qs``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    >>> weighted_quantiles(x, (0.25, 0.5)) == (np.quantile(x, 0.25), np.quantile(x, 0.5))
    True
    >>> float(weighted_quantiles([1.0, 2.0, 3.0], (0.5,), sample_weight=[1, 0, 1])[0])
    2.0
    """
    return _quantiles_and_max(np.asarray(x), qs, sample_weight)[:-1]


def _quantiles_and_max(
    x: Array, qs: tuple[float, ...], sample_weight: ArrayLike | None
) -> tuple[Any, ...]:
    flat = x.reshape(-1)
    if sample_weight is not None:
        w = np.asarray(sample_weight).reshape(-1)
        keep = w > 0
        if not keep.all():
            flat, w = flat[keep], w[keep]
        if not (w == w[0]).all():
            return _weighted_sorted_quantiles(flat, w, qs)
    return _unweighted_quantiles(flat, qs)


@functools.lru_cache(maxsize=8)
def _sample_positions(n: int, size: int) -> NDArray[np.intp]:
    """``size`` positions in ``range(n)`` drawn with replacement by a fixed seed, sorted."""
    positions = np.sort(np.random.default_rng(20250409).integers(0, n, size))
    positions.flags.writeable = False
    return positions


def subsample(
    x: Array, sample_weight: Array | None, size: int | None
) -> tuple[Array, Array | None]:
    """A fixed pseudo-random subsample of ``size`` elements of flat ``x`` (and weights).

    Returns ``x`` unchanged when ``size`` is None or ``x.size <= size``. Otherwise the
    positions are drawn with replacement by a fixed seed (the same positions for every
    call with the same ``n``, cached), so the subsample is an i.i.d. draw from the
    empirical distribution of ``x``. By the Dvoretzky-Kiefer-Wolfowitz inequality
    with Massart's constant, the empirical CDF of the subsample is within
    ``eps = sqrt(ln(2 / alpha) / (2 size))`` of that of ``x`` everywhere with
    probability at least ``1 - alpha``: a quantile at level ``q`` computed from it is
    an exact quantile of ``x`` at a level in ``[q - eps, q + eps]``. For
    ``size = 65536`` and ``alpha = 1e-6``, ``eps = 0.0105``; the typical error is
    ``sqrt(q (1 - q) / size)``, 0.0012 at ``q = 0.9``.
    """
    if size is None or x.size <= size:
        return x, sample_weight
    positions = _sample_positions(x.size, size)
    flat = x.reshape(-1)[positions]
    weight = None if sample_weight is None else sample_weight.reshape(-1)[positions]
    return flat, weight


def _positive_threshold(value: Any, reference: Any, largest: Any, dtype: np.dtype[Any]) -> Any:
    """A threshold made safe: positive, and not so small that ``max|u| / delta`` overflows.

    A zero ``value`` (more than a ``q`` share of residuals is zero, or a zero MAD)
    becomes ``eps * reference``. Every threshold is then at least
    ``max(4 * max|u| / dtype_max, tiny)``, far below any scale the residuals show,
    which keeps ``|u| / delta`` finite and every division defined.
    """
    info = np.finfo(dtype)
    floor = max(float(largest) / (float(info.max) / 4), float(info.tiny))
    positive = float(value) if value > 0 else float(info.eps) * float(reference)
    return dtype.type(max(positive, floor))


def scale_floor(dtype: np.dtype[Any]) -> Any:
    """Floor of the "stats" scales and thresholds: ``tiny**(1/4)`` of the dtype.

    About 1.2e-77 in float64 and 3.3e-10 in float32: it keeps ``1 / s**2`` and
    ``1 / (s * delta)`` finite with room for sample weights. Only degenerate or
    absurdly small residuals reach it.
    """
    return dtype.type(float(np.finfo(dtype).tiny) ** 0.25)


def quantile_thresholds(
    abs_u: Array, q_low: float, q_high: float, sample_weight: ArrayLike | None = None
) -> tuple[Any, Any]:
    """The paper's thresholds: ``delta_j = Q(|u|, q_j)``, made positive and ordered.

    A zero ``delta1`` (more than a ``q_low`` share of residuals is zero) becomes
    ``eps * delta2``, or ``eps * max|u|`` if ``delta2`` is zero too, or the smallest
    normal number if every residual is zero; ``delta1`` is at least
    ``4 max|u| / dtype_max``; then ``delta2 = max(delta2, delta1)``.
    Quantile thresholds never exceed ``max|u|``.

    Examples
    --------
    >>> import numpy as np
    >>> d1, d2 = quantile_thresholds(np.abs(np.arange(-5.0, 6.0)), 0.5, 0.9)
    >>> float(d1), float(d2)
    (3.0, 5.0)
    """
    d1, d2, largest = _quantiles_and_max(abs_u, (q_low, q_high), sample_weight)
    d1 = _positive_threshold(d1, d2 if d2 > 0 else largest, largest, abs_u.dtype)
    return d1, max(d2, d1)


def mad_sigma(u: Array, sample_weight: ArrayLike | None = None) -> Any:
    """``MAD_TO_SIGMA`` times the (weighted) median absolute deviation about the median."""
    (median,) = weighted_quantiles(u, (0.5,), sample_weight)
    (mad,) = weighted_quantiles(np.abs(u - median), (0.5,), sample_weight)
    return u.dtype.type(MAD_TO_SIGMA * mad)


def scale_thresholds(
    u: Array,
    abs_u: Array,
    c1: float,
    c2: float,
    sample_weight: ArrayLike | None = None,
    *,
    largest: Any = None,
) -> tuple[Any, Any]:
    """Robust-statistics thresholds: ``delta_j = c_j * 1.4826 * MAD(u)``.

    A threshold above ``max|u|`` is lowered to ``max|u|``: every residual is in the
    quadratic region either way, and the unused branches cannot overflow. A zero MAD
    gives ``delta1 = delta2 = eps * max|u|``. When ``u`` is a subsample, pass the
    maximum of the full data as ``largest``.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 10.0])  # MAD about the median 0.5 is 1.5
    >>> d1, d2 = scale_thresholds(u, np.abs(u), 1.0, 3.0)
    >>> round(float(d1), 4), round(float(d2), 4)
    (2.2239, 6.6717)
    """
    sigma = float(mad_sigma(u, sample_weight))
    largest = abs_u.max() if largest is None else largest
    dtype = u.dtype
    d1 = _positive_threshold(dtype.type(min(c1 * sigma, largest)), largest, largest, dtype)
    return d1, max(dtype.type(min(c2 * sigma, largest)), d1)


def stats_scales(
    u: Array, abs_u: Array, sample_weight: ArrayLike | None = None
) -> tuple[Any, Any, Any]:
    """Scales of the "stats" weights: ``(std(u), IQR(u) / 1.349, 1.4826 MAD(u))``.

    A zero scale becomes ``eps * max|u|``; each is then floored at :func:`scale_floor`
    so ``1 / s**2`` is finite. The standard deviation is computed on ``u / max|u|``,
    so it cannot overflow.
    """
    dtype = u.dtype
    largest = abs_u.max()
    z = u / largest if largest > 0 else u
    if sample_weight is None:
        var = np.mean(np.square(z - z.mean()))
    else:
        w = np.asarray(sample_weight, dtype=dtype)
        total = w.sum()
        var = (w * np.square(z - (w * z).sum() / total)).sum() / total
    q25, q75 = weighted_quantiles(u, (0.25, 0.75), sample_weight)
    floor = scale_floor(dtype)
    raw = (
        dtype.type(np.sqrt(var) * (largest if largest > 0 else 1)),
        dtype.type((q75 - q25) / IQR_TO_SIGMA),
        mad_sigma(u, sample_weight),
    )
    s_var, s_iqr, s_mad = (max(_positive_threshold(s, largest, largest, dtype), floor) for s in raw)
    return s_var, s_iqr, s_mad


# --------------------------------------------------------------------------------------
# ASRL, continuous weights
# --------------------------------------------------------------------------------------


def regions(abs_u: Any, d1: Any, d2: Any) -> tuple[Any, Any]:
    """Masks ``(small, large)``: ``|u| <= d1`` and ``|u| > d2``; medium is neither."""
    return abs_u <= d1, abs_u > d2


def continuous_rho(abs_u: Any, d1: Any, d2: Any, xp: Any = np) -> Any:
    """ASRL with continuous weights (C^1 in u), elementwise.

    Written without branches as the sum of the three regions' integrals of psi,

    ``rho = s^2 / 2 + d1 (m - d1) + d1 d2 log(b / d2)``,
    ``s = min(|u|, d1)``, ``m = clip(|u|, d1, d2)``, ``b = max(|u|, d2)``,

    which is exactly ``u^2 / 2`` in the quadratic region and adds only non-negative
    terms elsewhere (no cancellation; a few roundings). No element can overflow in a
    region it does not belong to, and ``log`` never sees 0.

    Examples
    --------
    >>> import numpy as np
    >>> continuous_rho(np.array([0.5, 2.0, 8.0]), 1.0, 4.0).round(6).tolist()
    [0.125, 1.5, 6.272589]
    """
    s = xp.minimum(abs_u, d1)
    m = xp.minimum(xp.maximum(abs_u, d1), d2)
    b = xp.maximum(abs_u, d2)
    return 0.5 * s * s + d1 * (m - d1) + d1 * (d2 * xp.log(b / d2))


def continuous_psi(u: Any, abs_u: Any, d1: Any, d2: Any, xp: Any = np) -> Any:
    """Gradient of :func:`continuous_rho`: ``u``, ``d1 sign(u)``, ``d1 d2 / u``.

    Written as ``sign(u) min(|u|, d1) (d2 / max(|u|, d2))``: exact in the first two
    regions, two roundings in the third, no branches and no division by zero.
    """
    return xp.copysign(xp.minimum(abs_u, d1) * (d2 / xp.maximum(abs_u, d2)), u)


def continuous_irls_curvature(abs_u: Any, d1: Any, d2: Any, xp: Any = np) -> Any:
    """IRLS weight ``psi(u) / u``: ``1``, ``d1 / |u|``, ``d1 d2 / u^2``, in (0, 1].

    Computed as ``(d1 / max(|u|, d1)) (d2 / max(|u|, d2))``, which never overflows.
    """
    return (d1 / xp.maximum(abs_u, d1)) * (d2 / xp.maximum(abs_u, d2))


def continuous_exact_curvature(abs_u: Any, d1: Any, min_hessian: float, xp: Any = np) -> Any:
    """``rho''`` (1, 0, ``-d1 d2 / u^2``) floored at ``min_hessian``: 1 or ``min_hessian``."""
    return xp.where(abs_u <= d1, xp.ones_like(abs_u), min_hessian)


def continuous_psi_irls(
    u: Array, abs_u: Array, d1: Any, d2: Any, out: tuple[Array, Array] | None = None
) -> tuple[Array, Array]:
    """:func:`continuous_psi` and :func:`continuous_irls_curvature` in one numpy pass.

    The hot path of every boosting round: the same operations as the two generic
    functions (so the same bits) without temporaries. ``abs_u`` is used as scratch
    space and overwritten. ``out=(g, h)`` supplies the output arrays (reused across
    rounds by the boosting adapters); otherwise they are allocated.
    """
    g, h = (np.empty_like(u), np.empty_like(u)) if out is None else out
    np.maximum(abs_u, d2, out=h)
    np.divide(d2, h, out=h)  # d2 / max(|u|, d2)
    np.minimum(abs_u, d1, out=g)
    np.multiply(g, h, out=g)
    np.copysign(g, u, out=g)  # sign(u) min(|u|, d1) d2 / max(|u|, d2)
    np.maximum(abs_u, d1, out=abs_u)
    np.divide(d1, abs_u, out=abs_u)
    np.multiply(h, abs_u, out=h)  # (d2 / max(|u|, d2)) (d1 / max(|u|, d1))
    return g, h


# --------------------------------------------------------------------------------------
# ASRL, "stats" weights (the paper's statistic-derived region weights)
# --------------------------------------------------------------------------------------


def stats_rho(
    abs_u: Any, d1: Any, d2: Any, s_var: Any, s_iqr: Any, s_mad: Any, xp: Any = np
) -> Any:
    """``(u / s_var)^2 / 2``, ``|u| / s_iqr``, ``log(1 + |u| / s_mad)`` by region.

    Discontinuous at both thresholds, as the paper's region weights are.
    """
    small, large = regions(abs_u, d1, d2)
    z = xp.minimum(abs_u, d1) / s_var
    return xp.where(small, 0.5 * z * z, xp.where(large, xp.log1p(abs_u / s_mad), abs_u / s_iqr))


def stats_psi(
    u: Any, abs_u: Any, d1: Any, d2: Any, s_var: Any, s_iqr: Any, s_mad: Any, xp: Any = np
) -> Any:
    """Gradient of :func:`stats_rho` (where it is differentiable)."""
    small, large = regions(abs_u, d1, d2)
    magnitude = xp.where(
        small,
        (xp.minimum(abs_u, d1) / s_var) / s_var,
        xp.where(large, 1 / (s_mad + abs_u), (1 / s_iqr) * xp.ones_like(abs_u)),
    )
    return xp.copysign(magnitude, u)


def stats_irls_curvature(
    abs_u: Any, d1: Any, d2: Any, s_var: Any, s_iqr: Any, s_mad: Any, xp: Any = np
) -> Any:
    """``psi(u) / u`` of the "stats" form; positive, but not a majorizer there."""
    small, large = regions(abs_u, d1, d2)
    a = xp.maximum(abs_u, d1)  # > 0 outside the small region, where it is used
    return xp.where(
        small,
        ((1 / s_var) / s_var) * xp.ones_like(abs_u),
        xp.where(large, (1 / a) / (s_mad + a), (1 / s_iqr) / a),
    )


def stats_exact_curvature(abs_u: Any, d1: Any, s_var: Any, min_hessian: float, xp: Any = np) -> Any:
    """``rho''`` of the "stats" form floored at ``min_hessian``."""
    top = xp.maximum((1 / s_var) / s_var, min_hessian)
    return xp.where(abs_u <= d1, top * xp.ones_like(abs_u), min_hessian)


# --------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------


def absolute_rho(abs_u: Any) -> Any:
    """``|u|``."""
    return abs_u


def absolute_psi(u: Any, xp: Any = np) -> Any:
    """``sign(u)`` (0 at 0)."""
    return xp.sign(u)


def huber_rho(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Huber: ``u^2 / 2`` for ``|u| <= delta``, ``delta (|u| - delta / 2)`` beyond."""
    s = xp.minimum(abs_u, delta)
    return xp.where(abs_u <= delta, 0.5 * s * s, delta * (abs_u - 0.5 * delta))


def huber_psi(u: Any, abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Huber gradient ``sign(u) min(|u|, delta)``."""
    return xp.copysign(xp.minimum(abs_u, delta), u)


def huber_irls_curvature(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Huber's IRLS weight ``min(1, delta / |u|)``."""
    return delta / xp.maximum(abs_u, delta)


def _hypot1(z: Any, xp: Any) -> Any:
    """``sqrt(1 + z^2)`` without overflow."""
    return xp.hypot(xp.ones_like(z), z)


def pseudo_huber_rho(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber ``delta^2 (sqrt(1 + (u/delta)^2) - 1)`` without cancellation or overflow.

    Rewritten as ``delta |u| z / (1 + sqrt(1 + z^2))`` with ``z = |u| / delta``.
    """
    z = abs_u / delta
    return (delta * abs_u) * (z / (1 + _hypot1(z, xp)))


def pseudo_huber_psi(u: Any, abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber gradient ``u / sqrt(1 + (u/delta)^2)``."""
    z = abs_u / delta
    return u / _hypot1(z, xp)


def pseudo_huber_curvature(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber second derivative ``(1 + (u/delta)^2)^(-3/2)``, in (0, 1]."""
    z = abs_u / delta
    r = 1 / _hypot1(z, xp)
    return r * r * r


# ======================================================================================
# Threshold rules over any array namespace, for the PyTorch and JAX adapters
#
# The rules of quantile_thresholds, scale_thresholds, mad_sigma and stats_scales above,
# written once more for 0-d arrays of any namespace ``xp`` (numpy, torch, jax.numpy), so
# that asrl.torch and asrl.jax compute thresholds on the device, inside ``jit`` or
# ``torch.compile``, without a round trip to numpy. Only the order statistics are the
# adapter's business: it passes ``order_statistics(x, ranks)``, which returns a mapping
# from each 0-based rank in ``ranks`` to that value of sorted flat ``x`` (a 0-d array).
# Every scalar operation here happens in the arrays' dtype in the same order as above,
# so tests/test_torch.py and tests/test_jax.py check equality with the numpy functions.
# ======================================================================================

__all__ += [
    "mad_sigma_xp",
    "positive_threshold_xp",
    "quantile_thresholds_xp",
    "quantiles_xp",
    "scale_thresholds_xp",
    "stats_deltas_xp",
    "stats_scales_xp",
    "type7_ranks",
]


def type7_ranks(n: int, q: float) -> tuple[int, int, float]:
    """Ranks ``(below, above)`` (0-based) and weight ``t`` of numpy's linear quantile.

    The quantile at level ``q`` of ``n`` sorted values ``x`` is
    ``_lerp(x[below], x[above], t)``, as in :func:`weighted_quantiles` without weights.

    Examples
    --------
    >>> type7_ranks(5, 0.9)
    (3, 4, 0.6000000000000001)
    >>> type7_ranks(1, 0.5)
    (0, 0, 0.0)
    """
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return n - 1, n - 1, 0.0
    below = math.floor(virtual)
    return below, below + 1, virtual - below


def quantiles_xp(x: Any, qs: tuple[float, ...], order_statistics: Any) -> tuple[Any, ...]:
    """Type-7 quantiles of flat ``x`` at each level in ``qs``, plus its maximum.

    The same interpolation as :func:`weighted_quantiles` without weights, with the
    order statistics found by the adapter's ``order_statistics(x, ranks)``.

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
    values = order_statistics(x, ranks)
    return (*(_lerp(values[b], values[a], t) for b, a, t in plan), values[n - 1])


def positive_threshold_xp(value: Any, reference: Any, largest: Any, finfo: Any, xp: Any) -> Any:
    """:func:`_positive_threshold` for 0-d arrays; ``finfo`` is the dtype's ``finfo``.

    ``largest / (max / 4)`` is the correctly rounded ``4 * largest / max``; unlike a
    product ``4 * largest`` it cannot overflow.
    """
    floor = largest / (float(finfo.max) / 4)
    floor = xp.where(floor > float(finfo.tiny), floor, float(finfo.tiny))
    positive = xp.where(value > 0, value, float(finfo.eps) * reference)
    return xp.maximum(positive, floor)


def quantile_thresholds_xp(
    abs_u: Any, q_low: float, q_high: float, finfo: Any, order_statistics: Any, xp: Any
) -> tuple[Any, Any]:
    """:func:`quantile_thresholds` of flat ``abs_u`` (unweighted) as 0-d arrays."""
    d1, d2, largest = quantiles_xp(abs_u, (q_low, q_high), order_statistics)
    d1 = positive_threshold_xp(d1, xp.where(d2 > 0, d2, largest), largest, finfo, xp)
    return d1, xp.maximum(d2, d1)


def mad_sigma_xp(u: Any, order_statistics: Any, xp: Any) -> Any:
    """:func:`mad_sigma` of flat ``u`` (unweighted) as a 0-d array."""
    median = quantiles_xp(u, (0.5,), order_statistics)[0]
    mad = quantiles_xp(xp.abs(u - median), (0.5,), order_statistics)[0]
    return MAD_TO_SIGMA * mad


def scale_thresholds_xp(
    u: Any,
    largest: Any,
    c1: float,
    c2: float,
    finfo: Any,
    order_statistics: Any,
    xp: Any,
    times: Any = None,
) -> tuple[Any, Any]:
    """:func:`scale_thresholds` of flat ``u`` (unweighted) as 0-d arrays.

    ``largest`` is ``max|u|`` of the full data when ``u`` is a subsample.
    :func:`scale_thresholds` rounds ``c * sigma`` once, from float64, to the dtype;
    ``times(c, sigma)`` may do the same (the PyTorch adapter multiplies in float64).
    By default ``c * sigma`` is computed in the dtype, which can differ by one unit in
    the last place.
    """
    sigma = mad_sigma_xp(u, order_statistics, xp)
    scaled1, scaled2 = (c * sigma if times is None else times(c, sigma) for c in (c1, c2))
    d1 = positive_threshold_xp(xp.minimum(scaled1, largest), largest, largest, finfo, xp)
    return d1, xp.maximum(xp.minimum(scaled2, largest), d1)


def stats_scales_xp(u: Any, finfo: Any, order_statistics: Any, xp: Any) -> tuple[Any, Any, Any]:
    """:func:`stats_scales` of flat ``u`` (unweighted) as 0-d arrays.

    The standard deviation sums in the namespace's own order, so it may differ from
    numpy's pairwise sum in the last bits; the two quantile-based scales are exact.
    """
    q25, q75, _ = quantiles_xp(u, (0.25, 0.75), order_statistics)
    abs_u = xp.abs(u)
    largest = quantiles_xp(abs_u, (), order_statistics)[0]
    unit = xp.where(largest > 0, largest, 1.0)
    z = u / unit
    var = xp.mean(xp.square(z - xp.mean(z)))
    raw = (xp.sqrt(var) * unit, (q75 - q25) / IQR_TO_SIGMA, mad_sigma_xp(u, order_statistics, xp))
    floor = float(finfo.tiny) ** 0.25
    scales = []
    for s in raw:
        s = positive_threshold_xp(s, largest, largest, finfo, xp)
        scales.append(xp.where(s > floor, s, floor))
    return scales[0], scales[1], scales[2]


def stats_deltas_xp(d1: Any, d2: Any, finfo: Any, xp: Any) -> tuple[Any, Any]:
    """Thresholds of the "stats" weights: ``delta1`` at least :func:`scale_floor`."""
    floor = float(finfo.tiny) ** 0.25
    d1 = xp.where(d1 > floor, d1, floor)
    return d1, xp.maximum(d2, d1)


# ======================================================================================
# Exact quantiles of data split across workers (radix selection), for asrl.dask
#
# Each worker holds a shard of the residuals; the thresholds must be quantiles of all
# of them. Values map to unsigned integer keys in the same order (a float's bits; for
# signed values the sign bit flipped, or every bit of a negative value). An order
# statistic is found by radix selection, most significant bits first: a histogram of
# the next RADIX_BITS bits of the keys that share the prefix found so far, summed over
# the workers, tells which bin holds the wanted rank (or cumulative weight). After 3
# histograms for float32 (6 for float64) the prefix is the whole key, so the order
# statistics are exact and an unweighted quantile equals numpy's bit for bit.
#
# The protocol is a generator that holds no data: it yields ShardRequest objects, each
# worker answers with Shard.contribution(request), the answers are summed (or, for
# request.op == "max", maximised) over the workers, and the reduced array is sent back
# into the generator, which finally returns the statistic. Every decision depends on
# reduced arrays only, so all workers take the same steps and send arrays of the same
# size. The transport (XGBoost's allreduce, a Dask reduction, run_sharded) is the
# caller's; nothing here communicates.
# ======================================================================================

__all__ += [
    "RADIX_BITS",
    "Shard",
    "ShardRequest",
    "reduce_contributions",
    "run_sharded",
    "sharded_max_abs",
    "sharded_quantile_thresholds",
    "sharded_quantiles",
    "sharded_scale_thresholds",
]

#: Bits of the key resolved by one histogram (2048 bins of 8 bytes: 16 KiB per prefix).
RADIX_BITS = 11
_TOP64 = (1 << 64) - 1

#: What a sharded protocol yields, is sent back, and returns.
ShardProtocol = Generator["ShardRequest", NDArray[Any], Any]


class ShardRequest:
    """One reduction of a sharded protocol: what each worker contributes.

    Parameters
    ----------
    kind : {"hist", "range"}
        ``"hist"``: float64 counts (and weight sums) per bin, reduced by sum.
        ``"range"``: uint64 ``[max key, ~min key, max weight bits, ~min weight bits,
        max |x| key over every element]``, reduced by max.
    values : tuple of (str, float)
        Which values of the shard: ``("abs", c)`` for ``|x - c|``, ``("raw", 0.0)``
        for ``x``.
    weighting : {"all", "positive", "mass"}
        ``"all"``: every element counts; ``"positive"``: elements of positive weight
        count; ``"mass"``: they count and their weights are summed too.
    shift, width, prefixes, extra_keys
        For ``"hist"``: the elements whose key ``>> shift`` is in ``prefixes`` (every
        element when ``prefixes`` is empty) are binned by their next ``width`` bits,
        one block of ``2**width`` bins per prefix (or one block); the elements whose
        key is exactly one of ``extra_keys`` are counted (and weighed) at the end.
    """

    __slots__ = ("extra_keys", "kind", "prefixes", "shift", "values", "weighting", "width")

    def __init__(
        self,
        kind: str,
        values: tuple[str, float],
        weighting: str = "all",
        *,
        shift: int = 0,
        width: int = 0,
        prefixes: tuple[int, ...] = (),
        extra_keys: tuple[int, ...] = (),
    ) -> None:
        self.kind = kind
        self.values = values
        self.weighting = weighting
        self.shift = shift
        self.width = width
        self.prefixes = prefixes
        self.extra_keys = extra_keys

    @property
    def op(self) -> str:
        """How contributions are reduced: ``"sum"`` (histograms) or ``"max"``."""
        return "sum" if self.kind == "hist" else "max"

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"ShardRequest({fields})"


class Shard:
    """One worker's values (and weights), answering the requests of a sharded protocol.

    Keys are computed once per kind of values and cached, as is the subset of elements
    that matched the last histogram's prefixes (the next one refines it), so a
    protocol costs a few passes over the shard. Numpy only; nothing communicates.

    Parameters
    ----------
    x : array_like of float32 or float64
        This worker's values, flattened; may be empty.
    sample_weight : array_like of the same size, optional
        Non-negative weights (not checked here); elements of zero weight are ignored by
        weighted requests, as :func:`weighted_quantiles` ignores them.
    buffers : dict, optional
        Where to keep the shard-sized work arrays (about 14 bytes per element), to reuse
        them in the next round's ``Shard`` of the same size; one ``Shard`` at a time may
        use a given dict. Dask workers return freed memory to the system at once
        (``MALLOC_TRIM_THRESHOLD_``), so there fresh arrays cost page faults: with that
        setting a protocol on 400,000 values took 2.8 ms with buffers, 5.7 ms without.
    """

    def __init__(
        self,
        x: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        buffers: dict[str, NDArray[Any]] | None = None,
    ) -> None:
        values = np.asarray(x).reshape(-1)
        if values.dtype not in (np.float32, np.float64):
            raise TypeError(f"a Shard holds float32 or float64 values; got {values.dtype}.")
        self.x: Array = values
        self.w: Array | None = None
        if sample_weight is not None:
            self.w = np.asarray(sample_weight, dtype=values.dtype).reshape(-1)
            if self.w.shape != values.shape:
                raise ValueError(
                    f"sample_weight has {self.w.size} elements for {values.size} values."
                )
        self._uint = np.dtype(np.uint32 if values.itemsize == 4 else np.uint64)
        self._bits = 8 * values.itemsize
        self._keys: dict[Any, tuple[NDArray[Any], Array | None]] = {}
        self._subset: dict[Any, tuple[int, frozenset[int], NDArray[Any], Array | None]] = {}
        self._top: dict[Any, tuple[int, NDArray[Any]]] = {}
        self._buffers = buffers

    def _buffer(self, name: str, size: int, dtype: Any) -> NDArray[Any]:
        """A work array: the caller's buffer ``name`` if the array is shard-sized."""
        dtype = np.dtype(dtype)
        if self._buffers is None or size != self.x.size:
            return np.empty(size, dtype)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size != size or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(size, dtype)
        return buffer

    def _values(self, values: tuple[str, float]) -> NDArray[Any]:
        kind, centre = values
        x = self.x
        if kind == "abs":  # |x - c| computed as np.abs(x - c) would, into a buffer
            out = self._buffer("abs-centred" if centre else "abs", x.size, x.dtype)
            if centre:  # one buffer for every centre: forget what another centre left
                for cache in (self._keys, self._top, self._subset):
                    for key in [k for k in cache if k[0][0] == "abs" and k[0][1] != 0]:
                        del cache[key]
                np.subtract(x, x.dtype.type(centre), out=out)
            return np.abs(out if centre else x, out=out)
        bits = (x + x.dtype.type(0)).view(self._uint)  # -0.0 + 0.0 is +0.0
        sign = self._uint.type(1 << (self._bits - 1))
        keys: NDArray[Any] = np.where(bits >= sign, ~bits, bits | sign)
        return keys

    def keys(self, values: tuple[str, float], weighting: str) -> tuple[NDArray[Any], Array | None]:
        """Sortable keys of the requested values, and their weights if weighted."""
        cache_key = (values, weighting != "all")
        if cache_key not in self._keys:
            data = self._values(values)
            keys = data.view(self._uint) if data.dtype.kind == "f" else data
            weights = None
            if weighting != "all":
                if self.w is None:
                    raise ValueError("a weighted request reached a shard without weights.")
                keep = np.flatnonzero(self.w > 0)
                keys, weights = (
                    (keys, self.w) if keep.size == keys.size else (keys[keep], self.w[keep])
                )
            self._keys[cache_key] = (keys, weights)
        return self._keys[cache_key]

    def contribution(self, request: ShardRequest) -> NDArray[Any]:
        """This shard's array for ``request``; reduce it over shards by ``request.op``."""
        keys, weights = self.keys(request.values, request.weighting)
        if request.kind == "range":
            return self._range(keys, weights, request)
        return self._histogram(keys, weights, request)

    def _range(
        self, keys: NDArray[Any], weights: Array | None, request: ShardRequest
    ) -> NDArray[np.uint64]:
        out = np.zeros(5, dtype=np.uint64)
        if keys.size:
            out[0], out[1] = int(keys.max()), _TOP64 - int(keys.min())
        if weights is not None and weights.size:
            bits = weights.view(self._uint)  # positive floats: bits in the same order
            out[2], out[3] = int(bits.max()), _TOP64 - int(bits.min())
        if self.x.size:
            out[4] = int(self.keys(("abs", 0.0), "all")[0].max())
        return out

    def _histogram(
        self, keys: NDArray[Any], weights: Array | None, request: ShardRequest
    ) -> NDArray[np.float64]:
        mass = request.weighting == "mass"
        nbins = 1 << request.width
        low = request.shift - request.width
        cache_key = (request.values, request.weighting != "all")
        if not request.prefixes:  # the first histogram: every element
            slot = f"top {request.values[0]} {bool(request.values[1])} {cache_key[1]}"
            top = self._buffer(slot, keys.size, np.intp)  # what bincount wants: no copy
            np.right_shift(keys, low, out=top, casting="unsafe")  # < 2**11: fits
            self._top[cache_key] = (low, top)  # the next request's prefixes: spare a pass
            index, sub_w = top, weights
        else:
            sub, sub_w = self._candidates(request, keys, weights)
            cached = self._top.get(cache_key)
            if sub is keys and cached is not None and cached[0] == request.shift:
                top = cached[1]
            else:
                top = sub >> request.shift
            prefixes = np.asarray(request.prefixes, dtype=self._uint)
            inside = np.equal(top, prefixes[0], out=self._buffer("inside", top.size, bool))
            equal = self._buffer("equal", top.size, bool)
            for prefix in prefixes[1:]:  # a few prefixes: comparisons beat np.isin
                np.logical_or(inside, np.equal(top, prefix, out=equal), out=inside)
            kept = np.flatnonzero(inside)  # then take(): faster than boolean indexing
            sub, top = sub[kept], top[kept]
            sub_w = None if sub_w is None else sub_w[kept]
            self._subset[cache_key] = (request.shift, frozenset(request.prefixes), sub, sub_w)
            index = np.searchsorted(prefixes, top)  # the block of each element's prefix
            index *= nbins
            bins = np.right_shift(sub, low, out=np.empty(sub.size, np.intp), casting="unsafe")
            index += np.bitwise_and(bins, nbins - 1, out=bins)
        size = max(len(request.prefixes), 1) * nbins
        parts: list[NDArray[Any]] = [np.bincount(index, minlength=size).astype(np.float64)]
        if mass:
            parts.append(np.bincount(index, weights=sub_w, minlength=size))
        if request.extra_keys:
            counts, masses = [], []
            for key in request.extra_keys:
                equal = np.equal(
                    keys, self._uint.type(key), out=self._buffer("equal", keys.size, bool)
                )
                counts.append(np.count_nonzero(equal))
                if weights is not None:
                    masses.append(weights.sum(where=equal, dtype=np.float64))
            parts.append(np.array(counts, dtype=np.float64))
            if mass:
                parts.append(np.array(masses, dtype=np.float64))
        return np.concatenate(parts)

    def _candidates(
        self, request: ShardRequest, keys: NDArray[Any], weights: Array | None
    ) -> tuple[NDArray[Any], Array | None]:
        """The elements matched by the previous histogram, if this one refines it."""
        cached = self._subset.get((request.values, request.weighting != "all"))
        if cached is not None:
            shift, prefixes, sub, sub_w = cached
            if shift >= request.shift and all(
                p >> (shift - request.shift) in prefixes for p in request.prefixes
            ):
                return sub, sub_w
        return keys, weights


def reduce_contributions(op: str, arrays: list[NDArray[Any]]) -> NDArray[Any]:
    """Reduce the shards' contributions to one request: elementwise sum or maximum."""
    reduced: NDArray[Any] = np.sum(arrays, axis=0) if op == "sum" else np.maximum.reduce(arrays)
    return reduced


def run_sharded(protocol: ShardProtocol, shards: list[Shard]) -> Any:
    """Run a sharded protocol over shards held in this process and return its result.

    The reference transport: what the workers' allreduce computes, done by a loop.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=1001)
    >>> shards = [Shard(x[:300]), Shard(x[300:]), Shard(x[:0])]
    >>> q50, q90, top = run_sharded(sharded_quantiles((0.5, 0.9), x.dtype), shards)
    >>> (q50, q90, top) == (np.quantile(abs(x), 0.5), np.quantile(abs(x), 0.9), abs(x).max())
    True
    """
    try:
        request = next(protocol)
        while True:
            arrays = [shard.contribution(request) for shard in shards]
            request = protocol.send(reduce_contributions(request.op, arrays))
    except StopIteration as stop:
        return stop.value


def _key_bits(values: tuple[str, float], dtype: np.dtype[Any]) -> int:
    """Significant bits of the keys: an absolute value never sets the sign bit."""
    return 8 * dtype.itemsize - (values[0] == "abs")


def _radix_widths(bits: int) -> list[int]:
    """Bits resolved by each histogram: [11, 10, 10] for 31-bit keys."""
    passes = -(-bits // RADIX_BITS)
    base, extra = divmod(bits, passes)
    return [base + 1] * extra + [base] * (passes - extra)


def _decode(key: int, values: tuple[str, float], dtype: np.dtype[Any]) -> Any:
    """The value of a key (the inverse of ``Shard.keys``), a scalar of ``dtype``."""
    bits = 8 * dtype.itemsize
    if values[0] == "raw":
        sign = 1 << (bits - 1)
        key = key ^ sign if key >= sign else ~key & ((1 << bits) - 1)
    uint = np.uint32 if dtype.itemsize == 4 else np.uint64
    return np.array([key], dtype=uint).view(dtype)[0]


def _blocks(
    reply: NDArray[Any], n_blocks: int, nbins: int, mass: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    size = n_blocks * nbins
    counts = reply[:size].reshape(n_blocks, nbins)
    masses = reply[size : 2 * size].reshape(n_blocks, nbins) if mass else None
    return counts, masses


def _pick(
    counts: NDArray[np.float64], masses: NDArray[np.float64] | None, rest: float, by_mass: bool
) -> tuple[int, float, float]:
    """The bin holding 0-based rank ``rest`` (or cumulative weight ``rest``), and the
    count and weight of the bins before it."""
    filled = np.flatnonzero(counts > 0)
    if filled.size == 0:
        raise RuntimeError("sharded histogram is empty where data was counted before.")
    cum_n = np.cumsum(counts[filled])
    cum_w = None if masses is None else np.cumsum(masses[filled])
    if by_mass and cum_w is not None:
        k = int(np.searchsorted(cum_w, rest, side="left"))
    else:
        k = int(np.searchsorted(cum_n, rest, side="right"))
    k = min(k, filled.size - 1)  # a weight beyond the last bin by rounding
    n_before = float(cum_n[k - 1]) if k else 0.0
    w_before = float(cum_w[k - 1]) if k and cum_w is not None else 0.0
    return int(filled[k]), n_before, w_before


def _radix_search(
    targets: list[tuple[bool, float]],
    first: tuple[NDArray[np.float64], NDArray[np.float64] | None],
    values: tuple[str, float],
    weighting: str,
    bits: int,
) -> Generator[ShardRequest, NDArray[Any], list[tuple[int, float, float, float, float]]]:
    """Find, for each target ``(by_mass, position)``, the key at that 0-based rank (or
    the first key whose cumulative weight reaches ``position``).

    ``first`` is the reduced histogram of the top bits. Returns, per target, ``(key,
    count below, weight below, count equal, weight equal)``.
    """
    widths = _radix_widths(bits)
    prefix = [0] * len(targets)
    rest = [position for _, position in targets]
    n_below = [0.0] * len(targets)
    w_below = [0.0] * len(targets)
    last = [(0.0, 0.0)] * len(targets)
    blocks = {0: (first[0].reshape(-1), None if first[1] is None else first[1].reshape(-1))}
    shift = bits
    for depth, width in enumerate(widths):
        if depth:
            wanted = tuple(sorted(set(prefix)))
            reply = yield ShardRequest(
                "hist", values, weighting, shift=shift, width=width, prefixes=wanted
            )
            counts, masses = _blocks(reply, len(wanted), 1 << width, weighting == "mass")
            blocks = {
                p: (counts[i], None if masses is None else masses[i]) for i, p in enumerate(wanted)
            }
        shift -= width
        for i, (by_mass, _) in enumerate(targets):
            counts_i, masses_i = blocks[prefix[i]]
            b, n_before, w_before = _pick(counts_i, masses_i, rest[i], by_mass)
            rest[i] -= w_before if by_mass else n_before
            n_below[i] += n_before
            w_below[i] += w_before
            prefix[i] = (prefix[i] << width) | b
            last[i] = (float(counts_i[b]), 0.0 if masses_i is None else float(masses_i[b]))
    return [(prefix[i], n_below[i], w_below[i], *last[i]) for i in range(len(targets))]


def sharded_quantiles(
    qs: tuple[float, ...],
    dtype: Any,
    *,
    weighted: bool = False,
    values: tuple[str, float] = ("abs", 0.0),
) -> Generator[ShardRequest, NDArray[Any], tuple[Any, ...]]:
    r"""Protocol: the quantiles of values spread over shards, plus their maximum.

    The result is that of :func:`weighted_quantiles` on all shards' values together,
    returned as ``(*quantiles, max)`` in ``dtype`` like ``_quantiles_and_max``:

    - Without weights, or with all positive weights equal: the order statistics are
      exact, so every quantile equals ``numpy.quantile`` of the concatenated values
      bit for bit (rank error 0).
    - With unequal weights: the bracketing order statistics are exact; the
      interpolation uses weight sums added in another order, so the result is the
      single-machine quantile at a level within :math:`2 n \epsilon` of ``q``
      (:math:`\epsilon` of float64, ``n`` values). Where the bracketing values are tied
      and their points' weights differ, a single machine's result depends on the order
      of the tied points, which a partitioning does not define; here each tied point
      counts with its group's mean weight, and the level is within
      :math:`2 n \epsilon + 1.5\, w_{max} / (W - w_{max})` of ``q`` (``W`` the total
      weight). ``tests/test_dask.py`` checks both bounds.

    Requests: with weights, one ``"range"`` (40 bytes); then ``len(_radix_widths)``
    histograms (3 for float32, 6 for float64) of at most 16 KiB (32 KiB weighted) per
    distinct prefix among the needed order statistics; with unequal weights, the
    neighbours of the weighted positions take 2 (5) more. Every value counted must be
    finite; for ``values=("abs", c)`` a NaN or infinity raises ``FloatingPointError``
    on every worker alike.

    Parameters
    ----------
    qs : tuple of float
        Levels in [0, 1].
    dtype : float32 or float64
        The dtype of the shards' values.
    weighted : bool
        Whether the shards hold weights (all of them must, or none).
    values : tuple, default ``("abs", 0.0)``
        ``("abs", c)``: quantiles of ``|x - c|``; ``("raw", 0.0)``: of ``x``.
    """
    dtype = np.dtype(dtype)
    qs = tuple(float(q) for q in qs)
    bits = _key_bits(values, dtype)
    widths = _radix_widths(bits)
    weighting = "all"
    extra: tuple[int, ...] = ()
    low_key = top_key = 0
    if weighted:
        bounds = [int(b) for b in (yield ShardRequest("range", values, "positive"))]
        top_key, low_key = bounds[0], _TOP64 - bounds[1]
        if low_key > top_key:
            raise ValueError("every sample_weight is zero; at least one must be positive.")
        _check_finite(bounds[4], dtype)
        weighting = "positive" if bounds[2] == _TOP64 - bounds[3] else "mass"
        extra = (low_key, top_key) if weighting == "mass" else ()
    reply = yield ShardRequest(
        "hist", values, weighting, shift=bits, width=widths[0], extra_keys=extra
    )
    first = _blocks(reply, 1, 1 << widths[0], weighting == "mass")
    n = int(first[0].sum())
    if n == 0:
        raise ValueError("no shard holds any value; at least one is needed.")
    if weighting != "mass":
        plan = [type7_ranks(n, q) for q in qs]
        ranks = sorted({r for below, above, _ in plan for r in (below, above)} | {n - 1})
        found = yield from _radix_search(
            [(False, float(r)) for r in ranks], first, values, weighting, bits
        )
        value = {r: _decode(f[0], values, dtype) for r, f in zip(ranks, found, strict=True)}
        if values[0] == "abs":
            _check_finite(found[-1][0], dtype)
        results = [_lerp(value[below], value[above], t) for below, above, t in plan]
        return (*results, value[n - 1])
    # Unequal weights: the k-th sorted point sits at c_k = (weight up to it) - w_k / 2,
    # the quantile at q is at c_1 + q (c_m - c_1) (see weighted_quantiles).
    count_low, count_top, weight_low, weight_top = (float(v) for v in reply[-4:])
    total = float(first[1].sum()) if first[1] is not None else 0.0
    c_first = weight_low / count_low / 2
    c_last = total - weight_top / count_top / 2
    positions = [c_first + q * (c_last - c_first) for q in qs]
    groups = yield from _radix_search(
        [(True, p) for p in positions], first, values, weighting, bits
    )
    wanted: list[int | None] = []  # the neighbour each position interpolates with
    for position, (_, below, weight_below, count, weight) in zip(positions, groups, strict=True):
        half = weight / count / 2
        if position < weight_below + half and below > 0:
            wanted.append(int(below) - 1)  # between the previous group and this one
        elif position > weight_below + weight - half and below + count < n:
            wanted.append(int(below + count))  # between this group and the next
        else:
            wanted.append(None)  # among this group's tied points (or at an end)
    ranks = sorted({r for r in wanted if r is not None})
    neighbours = {}
    if ranks:
        search = _radix_search([(False, float(r)) for r in ranks], first, values, weighting, bits)
        neighbours = dict(zip(ranks, (yield from search), strict=True))
    results = []
    for position, group, rank in zip(positions, groups, wanted, strict=True):
        key, below, weight_below, count, weight = group
        mid = _decode(key, values, dtype)
        if rank is None:
            results.append(mid)
            continue
        other_key, _, _, other_count, other_weight = neighbours[rank]
        half, other_half = weight / count / 2, other_weight / other_count / 2
        other = _decode(other_key, values, dtype)
        if rank < below:
            left, right, lo, hi = weight_below - other_half, weight_below + half, other, mid
        else:
            edge = weight_below + weight
            left, right, lo, hi = edge - half, edge + other_half, mid, other
        t = min(max((position - left) / (right - left), 0.0), 1.0)
        results.append(_lerp(lo, hi, t))
    return (*results, _decode(top_key, values, dtype))


def _check_finite(abs_key: int, dtype: np.dtype[Any]) -> None:
    """Raise if the largest ``|x|`` (as a key) is NaN or infinite."""
    if not np.isfinite(_decode(abs_key, ("abs", 0.0), dtype)):
        raise FloatingPointError("the values are not all finite (NaN or infinity on a shard).")


def sharded_max_abs(dtype: Any) -> Generator[ShardRequest, NDArray[Any], Any]:
    """Protocol: the largest ``|x|`` over every element of every shard (one request).

    Raises ``FloatingPointError`` (on every worker alike) if any value is NaN or
    infinite, so it doubles as a global check of finiteness.
    """
    dtype = np.dtype(dtype)
    bounds = yield ShardRequest("range", ("abs", 0.0), "all")
    _check_finite(int(bounds[4]), dtype)
    return _decode(int(bounds[4]), ("abs", 0.0), dtype)


def sharded_quantile_thresholds(
    q_low: float, q_high: float, dtype: Any, *, weighted: bool = False
) -> Generator[ShardRequest, NDArray[Any], tuple[Any, Any]]:
    """Protocol: :func:`quantile_thresholds` of the residuals ``u`` held by the shards.

    The shards hold ``u`` (``Shard(u, w)``); the thresholds are those of all residuals
    together, with the accuracy of :func:`sharded_quantiles` (exact without weights).
    """
    d1, d2, largest = yield from sharded_quantiles((q_low, q_high), dtype, weighted=weighted)
    d1 = _positive_threshold(d1, d2 if d2 > 0 else largest, largest, np.dtype(dtype))
    return d1, max(d2, d1)


def sharded_scale_thresholds(
    c1: float, c2: float, dtype: Any, *, weighted: bool = False
) -> Generator[ShardRequest, NDArray[Any], tuple[Any, Any]]:
    """Protocol: :func:`scale_thresholds` of the residuals ``u`` held by the shards.

    A global median of ``u``, then a global median of ``|u - median|``, then the largest
    ``|u|`` over every element (weighted or not, as the single-machine rule uses it).
    """
    dtype = np.dtype(dtype)
    largest = yield from sharded_max_abs(dtype)
    median, _ = yield from sharded_quantiles((0.5,), dtype, weighted=weighted, values=("raw", 0.0))
    mad, _ = yield from sharded_quantiles(
        (0.5,), dtype, weighted=weighted, values=("abs", float(median))
    )
    sigma = float(dtype.type(MAD_TO_SIGMA * mad))
    d1 = _positive_threshold(dtype.type(min(c1 * sigma, largest)), largest, largest, dtype)
    return d1, max(dtype.type(min(c2 * sigma, largest)), d1)
