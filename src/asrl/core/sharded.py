r"""Exact quantiles and moments of data split across workers, and the rule driver for them.

Each worker holds a shard of the residuals; the statistics must be those of all of
them. Values map to unsigned integer keys in the same order (a float's bits; for
signed values the sign bit flipped, or every bit of a negative value). An order
statistic is found by radix selection, most significant bits first: a histogram of the
next ``RADIX_BITS`` bits of the keys that share the prefix found so far, summed over
the workers, tells which bin holds the wanted rank (or cumulative weight). After 3
histograms for float32 (6 for float64) the prefix is the whole key, so the order
statistics are exact and an unweighted quantile equals numpy's bit for bit.

A protocol is a generator that holds no data: it yields :class:`ShardRequest` objects,
each worker answers with ``Shard.contribution(request)``, the answers are summed (or,
for ``request.op == "max"``, maximised) over the workers, and the reduced array is
sent back into the generator, which finally returns the statistic. Every decision
depends on reduced arrays only, so all workers take the same steps and send arrays of
the same size. The transport (XGBoost's allreduce, a Dask reduction,
:func:`run_sharded`) is the caller's; nothing here communicates.

:func:`sharded_rule` runs any rule of :mod:`asrl.core.rules` this way, so every
threshold rule works across workers without being written again.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .quantiles import lerp, type7_ranks
from .rules import Largest, Mean, Quantiles, Rule, Scalars, numpy_scalars

__all__ = [
    "RADIX_BITS",
    "Shard",
    "ShardProtocol",
    "ShardRequest",
    "reduce_contributions",
    "run_sharded",
    "sharded_max_abs",
    "sharded_mean",
    "sharded_quantiles",
    "sharded_rule",
]

Array = NDArray[np.floating[Any]]

#: Bits of the key resolved by one histogram (2048 bins of 8 bytes: 16 KiB per prefix).
RADIX_BITS = 11
_TOP64 = (1 << 64) - 1

#: What a sharded protocol yields, is sent back, and returns.
ShardProtocol = Generator["ShardRequest", NDArray[Any], Any]


class ShardRequest:
    """One reduction of a sharded protocol: what each worker contributes.

    Parameters
    ----------
    kind : {"hist", "range", "moment"}
        ``"hist"``: float64 counts (and weight sums) per bin, reduced by sum.
        ``"range"``: uint64 ``[max key, ~min key, max weight bits, ~min weight bits,
        max |x| key over every element]``, reduced by max.
        ``"moment"``: float64 ``[sum of w f(x), sum of w]``, reduced by sum.
    values : tuple
        Which values of the shard: ``("abs", c)`` for ``|x - c|``, ``("raw", 0.0)``
        for ``x``; for ``"moment"``, ``(of, centre, scale)`` as in
        :class:`asrl.core.rules.Mean`.
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
        values: tuple[Any, ...],
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
        """How contributions are reduced: ``"sum"`` (histograms, moments) or ``"max"``."""
        return "max" if self.kind == "range" else "sum"

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
        weighted requests, as :func:`~asrl.core.quantiles.weighted_quantiles` ignores them.
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

    def _values(self, values: tuple[Any, ...]) -> NDArray[Any]:
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

    def keys(self, values: tuple[Any, ...], weighting: str) -> tuple[NDArray[Any], Array | None]:
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
        if request.kind == "moment":
            return self._moment(request)
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

    def _moment(self, request: ShardRequest) -> NDArray[np.float64]:
        """``[sum w f(x), sum w]`` with ``f`` computed in the shard's dtype, as
        :func:`asrl.core.rules.run_local` computes it, and summed in float64."""
        of, centre, scale = request.values
        x, w, dtype = self.x, self.w, self.x.dtype.type
        if w is not None and not (w > 0).all():
            keep = w > 0  # a zero-weight row is not in the sample (0 * inf is NaN)
            x, w = x[keep], w[keep]
        with np.errstate(over="ignore", under="ignore"):
            if of == "sqrt-abs":
                f = np.sqrt(np.abs(x))
            else:
                f = x / dtype(scale)
                if of == "square":
                    f = np.square(f - dtype(centre))
            if w is None:
                return np.array([f.sum(dtype=np.float64), float(f.size)])
            return np.array([(w * f).sum(dtype=np.float64), w.sum(dtype=np.float64)])

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


def _key_bits(values: tuple[Any, ...], dtype: np.dtype[Any]) -> int:
    """Significant bits of the keys: an absolute value never sets the sign bit."""
    return int(8 * dtype.itemsize - (values[0] == "abs"))


def _radix_widths(bits: int) -> list[int]:
    """Bits resolved by each histogram: [11, 10, 10] for 31-bit keys."""
    passes = -(-bits // RADIX_BITS)
    base, extra = divmod(bits, passes)
    return [base + 1] * extra + [base] * (passes - extra)


def _decode(key: int, values: tuple[Any, ...], dtype: np.dtype[Any]) -> Any:
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
    """The bin holding 0-based rank ``rest`` (or the first bin whose cumulative weight
    exceeds ``rest``), and the count and weight of the bins before it."""
    filled = np.flatnonzero(counts > 0)
    if filled.size == 0:
        raise RuntimeError("sharded histogram is empty where data was counted before.")
    cum_n = np.cumsum(counts[filled])
    cum_w = None if masses is None else np.cumsum(masses[filled])
    if by_mass and cum_w is not None:
        k = int(np.searchsorted(cum_w, rest, side="right"))
    else:
        k = int(np.searchsorted(cum_n, rest, side="right"))
    k = min(k, filled.size - 1)  # a weight beyond the last bin by rounding
    n_before = float(cum_n[k - 1]) if k else 0.0
    w_before = float(cum_w[k - 1]) if k and cum_w is not None else 0.0
    return int(filled[k]), n_before, w_before


def _radix_search(
    targets: list[tuple[bool, float]],
    first: tuple[NDArray[np.float64], NDArray[np.float64] | None],
    values: tuple[Any, ...],
    weighting: str,
    bits: int,
) -> Generator[ShardRequest, NDArray[Any], list[tuple[int, float, float, float, float]]]:
    """Find, for each target ``(by_mass, position)``, the key at that 0-based rank (or
    the first key whose cumulative weight exceeds ``position``).

    ``first`` is the reduced histogram of the top bits. Returns, per target, ``(key,
    count below, weight below, count equal, weight equal)``; no targets, no requests
    (a histogram with no prefixes would bin every element).
    """
    if not targets:
        return []
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

    The result is that of :func:`asrl.core.quantiles.weighted_quantiles` on all
    shards' values together, returned as ``(*quantiles, max)`` in ``dtype``:

    - Without weights, or with all positive weights 1: the order statistics are
      exact, so every quantile equals ``numpy.quantile`` of the concatenated values
      bit for bit (rank error 0).
    - With other weights: the values and the weight of each group of tied values are
      exact; the rank arithmetic uses weight sums added in another order than a
      single machine's, so the result is the single-machine quantile at a level within
      :math:`2 n \epsilon` of ``q`` (:math:`\epsilon` of float64, ``n`` values), and
      equal to it for integer weights. ``tests/test_dask.py`` checks the bound.

    Requests: with weights, one ``"range"`` (40 bytes); then ``len(_radix_widths)``
    histograms (3 for float32, 6 for float64) of at most 16 KiB (32 KiB weighted) per
    distinct prefix among the needed order statistics; with weights other than 1, the
    neighbours of the weighted positions take 3 (6) more. Every value counted must be
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
    top_key = 0
    if weighted:
        bounds = [int(b) for b in (yield ShardRequest("range", values, "positive"))]
        top_key, low_key = bounds[0], _TOP64 - bounds[1]
        if low_key > top_key:
            raise ValueError("every sample_weight is zero; at least one must be positive.")
        _check_finite(bounds[4], dtype)
        uint = np.uint32 if dtype.itemsize == 4 else np.uint64
        one = int(np.array([1.0], dtype=dtype).view(uint)[0])
        ones = bounds[2] == one == _TOP64 - bounds[3]
        weighting = "positive" if ones else "mass"
        extra = () if ones else (top_key,)
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
        results = [lerp(value[below], value[above], t) for below, above, t in plan]
        return (*results, value[n - 1])
    # Frequency weights (see asrl.core.quantiles.frequency_quantile): the level q sits
    # at rank h = q (W - min(1, w_top)); the group of tied values whose cumulative
    # weight first exceeds h owns it, or interpolates towards the next group's value.
    total = float(first[1].sum()) if first[1] is not None else 0.0
    top_weight = float(reply[-1])
    positions = [q * (total - min(1.0, top_weight)) for q in qs]
    groups = yield from _radix_search(
        [(True, h) for h in positions], first, values, weighting, bits
    )
    picks: list[tuple[int, int | None, float]] = []  # (group key, next rank, t)
    for h, (key, below, weight_below, count, weight) in zip(positions, groups, strict=True):
        own = weight_below + weight - min(1.0, weight)
        if h <= own or below + count >= n:
            picks.append((key, None, 0.0))
        else:
            picks.append((key, int(below + count), min((h - own) / min(1.0, weight), 1.0)))
    ranks = sorted({rank for _, rank, _ in picks if rank is not None})
    neighbours: dict[int, int] = {}
    if ranks:
        search = _radix_search([(False, float(r)) for r in ranks], first, values, weighting, bits)
        neighbours = {r: f[0] for r, f in zip(ranks, (yield from search), strict=True)}
    results = []
    for key, rank, t in picks:
        mid = _decode(key, values, dtype)
        results.append(
            mid if rank is None else lerp(mid, _decode(neighbours[rank], values, dtype), t)
        )
    return (*results, _decode(top_key, values, dtype))


def _check_finite(abs_key: int, dtype: np.dtype[Any]) -> None:
    """Raise if the largest ``|x|`` (as a key) is NaN or infinite."""
    if not np.isfinite(_decode(abs_key, ("abs", 0.0), dtype)):
        raise FloatingPointError("the values are not all finite (NaN or infinity on a shard).")


def sharded_max_abs(
    dtype: Any, *, weighted: bool = False
) -> Generator[ShardRequest, NDArray[Any], Any]:
    """Protocol: the largest ``|x|`` over every element (of positive weight, if
    ``weighted``) of every shard: one request.

    Raises ``FloatingPointError`` (on every worker alike) if any value is NaN or
    infinite, zero-weight ones included, so it doubles as a global check of finiteness.
    """
    dtype = np.dtype(dtype)
    bounds = yield ShardRequest("range", ("abs", 0.0), "positive" if weighted else "all")
    _check_finite(int(bounds[4]), dtype)
    return _decode(int(bounds[0 if weighted else 4]), ("abs", 0.0), dtype)


def sharded_mean(
    request: Mean, dtype: Any, *, weighted: bool = False
) -> Generator[ShardRequest, NDArray[Any], Any]:
    """Protocol: the (weighted) mean of :class:`asrl.core.rules.Mean`'s values over all
    shards, in ``dtype``. One request of 16 bytes; the sums are float64, so the mean may
    differ from a single machine's float32 pairwise mean in the last bits."""
    spec = (request.of, float(request.centre), float(request.scale))
    total, mass = yield ShardRequest("moment", spec, "mass" if weighted else "all")
    return np.dtype(dtype).type(total / mass)


def sharded_rule(
    rule: Callable[[Scalars], Rule], dtype: Any, *, weighted: bool = False
) -> Generator[ShardRequest, NDArray[Any], Any]:
    """Protocol: the result of ``rule`` on the residuals held by all shards together.

    Each request of the rule becomes a sub-protocol:
    :class:`~asrl.core.rules.Quantiles` by :func:`sharded_quantiles` (exact order
    statistics), :class:`~asrl.core.rules.Largest` by :func:`sharded_max_abs`,
    :class:`~asrl.core.rules.Mean` by :func:`sharded_mean`. The result equals
    :func:`asrl.core.rules.run_local` on the concatenated residuals (without a
    subsample), bit for bit without weights and when no mean is asked for, otherwise
    within the bounds those protocols state.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.core.rules import run_local, quantile_rule
    >>> from asrl.params import ASRLParams
    >>> u = np.random.default_rng(0).normal(size=1001)
    >>> rule = lambda ops: quantile_rule(ASRLParams(), ops)
    >>> shards = [Shard(u[:300]), Shard(u[300:]), Shard(u[:0])]
    >>> run_sharded(sharded_rule(rule, u.dtype), shards) == run_local(rule, u)
    True
    """
    dtype = np.dtype(dtype)
    generator = rule(numpy_scalars(dtype))
    try:
        request = next(generator)
        while True:
            answer: Any
            if isinstance(request, Quantiles):
                values = ("raw", 0.0) if request.of == "raw" else ("abs", float(request.centre))
                answer = yield from sharded_quantiles(
                    request.levels, dtype, weighted=weighted, values=values
                )
            elif isinstance(request, Largest):
                answer = yield from sharded_max_abs(dtype, weighted=weighted)
            else:
                answer = yield from sharded_mean(request, dtype, weighted=weighted)
            request = generator.send(answer)
    except StopIteration as stop:
        return stop.value
