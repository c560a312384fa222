r"""Order statistics and quantiles of one array: exact, weighted, or from a subsample.

Unweighted quantiles equal ``numpy.quantile(x, q)`` (``method="linear"``, Hyndman and
Fan's type 7) bit for bit and cost O(n) partitions, not a sort. Weighted quantiles
treat weights as frequencies: with integer weights the result is the type-7 quantile
of the sample in which each value is repeated as often as its weight says, and it is
continuous in real weights (``docs/maths.md``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "lerp",
    "order_statistics",
    "quantiles_and_max",
    "sample_positions",
    "subsample",
    "type7_ranks",
    "weighted_quantiles",
]

Array = NDArray[np.floating[Any]]


def lerp(below: Any, above: Any, t: float) -> Any:
    """numpy's ``_lerp`` for scalars: the same operations in the same order."""
    diff = above - below
    if t >= 0.5:
        return above - diff * (1 - t)
    return below + diff * t


def type7_ranks(n: int, q: float) -> tuple[int, int, float]:
    """Ranks ``(below, above)`` (0-based) and weight ``t`` of numpy's linear quantile.

    The quantile at level ``q`` of ``n`` sorted values ``x`` is
    ``lerp(x[below], x[above], t)``.

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


def order_statistics(
    x: Array, ranks: Iterable[int], *, overwrite_input: bool = False
) -> dict[int, Any]:
    """The values of rank ``r`` (0-based) in sorted flat ``x`` for each ``r`` in ``ranks``.

    Partitions one copy (or, with ``overwrite_input``, ``x`` itself, whose order is
    then lost), each time only the part above the previous rank; a rank
    right after the previous one is the minimum of that part, and the top rank is its
    maximum. For the usual ranks (k1, k1 + 1, k2, k2 + 1, n - 1) this costs about 1.6
    partitions of the whole array, where ``numpy.partition`` with a list of ranks
    costs about two.

    Examples
    --------
    >>> order_statistics(np.array([3.0, 1.0, 2.0]), [0, 2])
    {0: np.float64(1.0), 2: np.float64(3.0)}
    """
    n = x.size
    part = x.reshape(-1) if overwrite_input else x.reshape(-1).copy()
    values: dict[int, Any] = {}
    start = 0  # part[start:] holds exactly the values of rank >= start
    for rank in sorted(set(ranks)):
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


def _unweighted(x: Array, qs: tuple[float, ...], overwrite: bool) -> tuple[Any, ...]:
    n = x.size
    plan = [type7_ranks(n, q) for q in qs]
    ranks = {r for b, a, _ in plan for r in (b, a)} | {n - 1}
    values = order_statistics(x, ranks, overwrite_input=overwrite)
    return (*(lerp(values[b], values[a], t) for b, a, t in plan), values[n - 1])


def frequency_quantile(
    values: NDArray[Any], cumulative: NDArray[np.float64], q: float
) -> tuple[int, int, float]:
    r"""Where the frequency-weighted quantile at ``q`` lies among distinct sorted values.

    ``values`` are distinct and ascending, ``cumulative`` the running sums of their
    positive weights :math:`C_k`. The rank axis of the weighted sample runs from 0 to
    :math:`S = C_m - \min(1, w_m)`; the level ``q`` sits at rank :math:`h = q S`. Value
    :math:`k` owns the ranks :math:`[C_{k-1},\ C_k - \min(1, w_k)]`; between there and
    :math:`C_k` the quantile runs linearly to value :math:`k + 1`. Returns ``(k, k2, t)``
    with the quantile ``lerp(values[k], values[k2], t)``. For integer weights this is
    numpy's type 7 on the sample with each value repeated :math:`w_k` times.
    """
    m = values.size
    total = float(cumulative[-1])
    last = total - float(cumulative[-2]) if m > 1 else total
    h = q * (total - min(1.0, last))
    k = min(int(np.searchsorted(cumulative, h, side="right")), m - 1)
    end = float(cumulative[k])
    weight = end - (float(cumulative[k - 1]) if k else 0.0)
    own = end - min(1.0, weight)
    if h <= own or k == m - 1:
        return k, k, 0.0
    return k, k + 1, min((h - own) / min(1.0, weight), 1.0)


def _weighted(x: Array, w: Array, qs: tuple[float, ...]) -> tuple[Any, ...]:
    """Frequency-weighted quantiles (see :func:`weighted_quantiles`), plus the maximum."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1])))
    values = xs[starts]
    cumulative = np.cumsum(np.add.reduceat(w[order].astype(np.float64), starts))
    results = []
    for q in qs:
        k, k2, t = frequency_quantile(values, cumulative, q)
        results.append(lerp(values[k], values[k2], t))
    return (*results, values[-1])


def quantiles_and_max(
    x: Array,
    qs: tuple[float, ...],
    sample_weight: ArrayLike | None = None,
    *,
    overwrite_input: bool = False,
) -> tuple[Any, ...]:
    """:func:`weighted_quantiles` of flat ``x`` followed by its maximum (over positive
    weights), each a scalar of ``x``'s dtype. With ``overwrite_input`` the unweighted
    selection partitions ``x`` in place instead of a copy (its order is lost)."""
    flat = x.reshape(-1)
    if sample_weight is None:
        return _unweighted(flat, qs, overwrite_input)
    w = np.asarray(sample_weight).reshape(-1)
    keep = w > 0
    if not keep.all():
        flat, w = flat[keep], w[keep]  # copies: free to partition
        overwrite_input = True
    if (w == 1).all():
        return _unweighted(flat, qs, overwrite_input)
    return _weighted(flat, w, qs)


def weighted_quantiles(
    x: ArrayLike, qs: tuple[float, ...], sample_weight: ArrayLike | None = None
) -> tuple[Any, ...]:
    r"""Quantiles of ``x`` (flattened) at each level in ``qs``, optionally weighted.

    Without weights, or with all weights 1, the result equals
    ``numpy.quantile(x, q, method="linear")`` bit for bit, found by O(n) partitions.
    Weights are frequencies: for integer weights the result is ``numpy.quantile`` of
    ``numpy.repeat(x, w)`` (equal up to the rounding of the weight sums, which are
    exact for integer weights below 2**53); it is continuous in positive real
    weights, and zero-weight points are ignored. With the distinct values
    :math:`x_k` ascending, their summed weights :math:`w_k` and the running sums
    :math:`C_k`, the level ``q`` sits at rank :math:`h = q\,(C_m - \min(1, w_m))`;
    the quantile is :math:`x_k` where :math:`C_{k-1} \le h \le C_k - \min(1, w_k)`,
    and runs linearly from :math:`x_k` to :math:`x_{k+1}` beyond, up to :math:`C_k`.

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
    >>> w = np.array([2, 0, 1, 3, 1])
    >>> weighted_quantiles(x, (0.3,), w)[0] == np.quantile(np.repeat(x, w), 0.3)
    np.True_
    """
    return quantiles_and_max(np.asarray(x), qs, sample_weight)[:-1]


@functools.lru_cache(maxsize=8)
def sample_positions(n: int, size: int) -> NDArray[np.intp]:
    """``size`` positions in ``range(n)`` drawn with replacement by a fixed seed, sorted.

    Read-only and cached: every adapter that subsamples ``n`` residuals takes the same
    positions, so their thresholds agree.
    """
    positions = np.sort(np.random.default_rng(20250409).integers(0, n, size))
    positions.flags.writeable = False
    return positions


def subsample(
    x: Array, sample_weight: Array | None, size: int | None, *, out: Array | None = None
) -> tuple[Array, Array | None]:
    """A fixed pseudo-random subsample of ``size`` elements of flat ``x`` (and weights).

    Returns ``x`` unchanged when ``size`` is None or ``x.size <= size``. Otherwise the
    positions are :func:`sample_positions`, so the subsample is an i.i.d. draw from
    the empirical distribution of ``x``. By the Dvoretzky-Kiefer-Wolfowitz inequality
    with Massart's constant, the empirical CDF of the subsample is within
    ``eps = sqrt(ln(2 / alpha) / (2 size))`` of that of ``x`` everywhere with
    probability at least ``1 - alpha``: a quantile at level ``q`` computed from it is
    an exact quantile of ``x`` at a level in ``[q - eps, q + eps]``. For
    ``size = 65536`` and ``alpha = 1e-6``, ``eps = 0.0105``; the typical error is
    ``sqrt(q (1 - q) / size)``, 0.0012 at ``q = 0.9``. ``out``, an array of
    ``x``'s dtype with at least ``size`` elements, receives the subsample of ``x``
    (its first ``size`` elements are returned), so a caller that runs every round
    allocates nothing.
    """
    if size is None or x.size <= size:
        return x, sample_weight
    positions = sample_positions(x.size, size)
    if out is None:
        flat = x.reshape(-1)[positions]
    else:
        flat = np.take(x.reshape(-1), positions, out=out.reshape(-1)[:size], mode="clip")
    weight = None if sample_weight is None else sample_weight.reshape(-1)[positions]
    return flat, weight
