"""Weighted quantiles: numpy's linear method exactly without weights, sane with them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asrl.core import weighted_quantiles

finite64 = st.floats(-1e12, 1e12, allow_nan=False)
finite32 = st.floats(-1e6, 1e6, allow_nan=False, width=32)
levels = st.floats(0.0, 1.0)


@given(arrays(np.float64, st.integers(1, 60), elements=finite64), levels, levels)
def test_unweighted_equals_numpy_bit_for_bit_float64(x, q1, q2):
    got = weighted_quantiles(x, (q1, q2))
    assert got[0] == np.quantile(x, q1)
    assert got[1] == np.quantile(x, q2)
    assert got[0].dtype == np.float64


@given(arrays(np.float32, st.integers(1, 60), elements=finite32), levels)
def test_unweighted_equals_numpy_bit_for_bit_float32(x, q):
    (got,) = weighted_quantiles(x, (q,))
    expected = np.quantile(x, q)
    assert got.dtype == np.float32 == expected.dtype
    assert got == expected


@given(arrays(np.float64, st.integers(1, 40), elements=finite64), levels)
def test_unit_weights_are_the_unweighted_quantile(x, q):
    (got,) = weighted_quantiles(x, (q,), np.ones(x.shape))
    assert got == np.quantile(x, q)


@given(
    arrays(np.float64, st.integers(1, 30), elements=finite64),
    st.data(),
    levels,
)
def test_integer_weights_are_repeated_rows(x, data, q):
    w = data.draw(arrays(np.int64, x.shape, elements=st.integers(0, 4)))
    if not w.any():
        w[0] = 1
    (got,) = weighted_quantiles(x, (q,), w)
    assert got == np.quantile(np.repeat(x, w), q)


@given(
    arrays(np.float32, st.integers(1, 30), elements=finite32),
    st.data(),
    levels,
)
def test_integer_weights_are_repeated_rows_float32(x, data, q):
    w = data.draw(arrays(np.float32, x.shape, elements=st.integers(0, 5).map(float)))
    if not w.any():
        w[0] = 1
    (got,) = weighted_quantiles(x, (q,), w)
    expected = np.quantile(np.repeat(x, w.astype(int)), q)
    assert got.dtype == np.float32
    assert got == expected


def test_multidimensional_input_is_flattened():
    x = np.arange(12.0).reshape(3, 4)
    assert weighted_quantiles(x, (0.3,))[0] == np.quantile(x, 0.3)


@st.composite
def weighted_samples(draw):
    n = draw(st.integers(2, 40))
    x = draw(arrays(np.float64, n, elements=st.floats(-1e6, 1e6)))
    w = draw(arrays(np.float64, n, elements=st.just(0.0) | st.floats(1e-3, 10.0)))
    if not (w > 0).any():
        w[0] = 1.0
    return x, w


@given(weighted_samples(), levels, st.floats(-1e-7, 1e-7))
def test_weighted_quantile_is_continuous_in_the_weights(sample, q, step):
    x, w = sample
    keep = w > 0
    x, w = x[keep], w[keep]
    (a,) = weighted_quantiles(x, (q,), w)
    (b,) = weighted_quantiles(x, (q,), np.maximum(w + step, 1e-300))
    spread = float(x.max() - x.min())
    # A change of the weights by 1e-7 moves the quantile by at most a few 1e-7 of the
    # range divided by the smallest gap between weighted ranks (here bounded by the
    # smallest positive weight, 1e-3 or more by construction below).
    assert abs(a - b) <= 1e-3 * spread + 1e-9


def test_weights_below_one_everywhere_are_the_unweighted_quantile():
    x = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    for q in (0.1, 0.35, 0.5, 0.9):
        (got,) = weighted_quantiles(x, (q,), np.full(5, 0.25))
        assert got == pytest.approx(np.quantile(x, q), rel=1e-15)


@given(weighted_samples(), levels, levels)
def test_weighted_quantile_is_bounded_and_monotone(sample, q1, q2):
    x, w = sample
    positive = x[w > 0]
    lo, hi = sorted((q1, q2))
    a, b = weighted_quantiles(x, (lo, hi), w)
    assert positive.min() <= a <= b <= positive.max()


@given(weighted_samples(), levels)
def test_zero_weight_points_are_ignored(sample, q):
    x, w = sample
    keep = w > 0
    (a,) = weighted_quantiles(x, (q,), w)
    (b,) = weighted_quantiles(x[keep], (q,), w[keep])
    assert a == b


def test_weighted_median_follows_the_heavy_point():
    x = np.array([0.0, 10.0, 20.0])
    (light,) = weighted_quantiles(x, (0.5,), [1.0, 1.0, 1.0])
    (heavy,) = weighted_quantiles(x, (0.5,), [1.0, 1.0, 8.0])
    assert light == 10.0
    # As if 20 were there eight times: the median of 0, 10, 20 x 8 is 20.
    assert heavy == 20.0 == np.median([0.0, 10.0] + [20.0] * 8)
    # Fractional weights: cumulative weights 0.5, 1.5, 2; the rank axis runs to
    # 2 - min(1, 0.5) = 1.5, so the median sits at rank 0.75. 0 owns rank 0, 10 owns
    # rank 0.5 (its ranks start where the weight before it ends and span w - 1 >= 0),
    # and from 0.5 to 1.5 the quantile runs to 20: a quarter of the way at 0.75.
    (half,) = weighted_quantiles(x, (0.5,), [0.5, 1.0, 0.5])
    assert half == pytest.approx(12.5, rel=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 3, 1000, 100_001])
def test_large_arrays_with_ties_equal_numpy(dtype, n):
    rng = np.random.default_rng(n)
    x = np.round(rng.standard_t(2, n), 1).astype(dtype)  # many ties
    qs = (0.0, 0.1, 0.5, 0.5, 0.9, 0.999, 1.0)
    got = weighted_quantiles(x, qs)
    assert got == tuple(np.quantile(x, q) for q in qs)
    assert x.dtype == dtype  # the input is not reordered or cast in place


def test_subsampled_thresholds_are_within_the_stated_bound():
    from asrl import ASRL

    rng = np.random.default_rng(5)
    u = rng.standard_t(3, 400_000)
    zero = np.zeros_like(u)
    exact = ASRL(threshold_sample=None).statistics(zero, u).deltas
    sampled = ASRL(threshold_sample=65536).statistics(zero, u).deltas
    assert sampled != exact  # the subsample is really used
    eps = np.sqrt(np.log(2 / 1e-6) / (2 * 65536))
    a = np.abs(u)
    for q, d in zip((0.5, 0.9), sampled, strict=True):
        level = np.mean(a <= d)  # the exact quantile level of the sampled threshold
        assert abs(level - q) <= eps
    # Below the sample size the thresholds are exact.
    small = (zero[:1000], u[:1000])
    assert ASRL().statistics(*small) == ASRL(threshold_sample=None).statistics(*small)
