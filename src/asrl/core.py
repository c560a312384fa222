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
    plan = []
    for q in qs:
        virtual = (n - 1) * q
        below = math.floor(virtual)
        if virtual >= n - 1:
            below = above = n - 1
        else:
            above = below + 1
        plan.append((below, above, virtual - below))
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
    floor = max(4.0 * float(largest) / float(info.max), float(info.tiny))
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
