"""Frozen reference values: by hand, and an independent 50-digit mpmath implementation."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from asrl import ASRL, ASRLStatistics, AutoPseudoHuber, Huber, PseudoHuber

mpmath.mp.dps = 50


def test_hand_computed_values_continuous():
    # delta1 = 1, delta2 = 4; u = 0.5 (small), -2 (medium), 8 (large).
    loss = ASRL()
    u = np.array([0.5, -2.0, 8.0])
    zero = np.zeros(3)
    fixed = ASRLStatistics((1.0, 4.0))
    rho = loss.loss(zero, u, statistics=fixed)
    g, h = loss.gradient_hessian(zero, u, statistics=fixed)
    assert rho.tolist() == [0.125, 1.5, 3.5 + 4 * math.log(2)]
    assert g.tolist() == [0.5, -1.0, 0.5]
    assert h.tolist() == [1.0, 0.5, 0.0625]


def test_hand_computed_thresholds():
    # |u| = 0..10; type-7 quantiles: 0.5 -> 5, 0.9 -> 9, 0.75 -> 7.5.
    u = np.arange(11.0)
    assert ASRL(q_low=0.5, q_high=0.9).statistics(np.zeros(11), u).deltas == (5.0, 9.0)
    assert ASRL(q_low=0.5, q_high=0.75).statistics(np.zeros(11), -u).deltas == (5.0, 7.5)


def test_hand_computed_baselines():
    zero = np.zeros(2)
    u = np.array([0.5, 3.0])
    assert Huber(delta=1.0).loss(zero, u).tolist() == [0.125, 2.5]
    g, h = PseudoHuber(delta=1.0, hessian="exact").gradient_hessian(zero, np.array([0.0, 1.0]))
    assert g.tolist() == [0.0, pytest.approx(1 / math.sqrt(2), rel=1e-16)]
    assert h.tolist() == [1.0, pytest.approx(2**-1.5, rel=1e-15)]
    _, h_irls = PseudoHuber(delta=1.0).gradient_hessian(zero, np.array([0.0, 1.0]))
    assert h_irls.tolist() == [1.0, pytest.approx(2**-0.5, rel=1e-15)]  # psi(u) / u
    assert AutoPseudoHuber().statistics(zero, np.array([4.0, 16.0])).delta == 9.0  # (3)^2


def mp_quantile(values, q):
    xs = sorted(mpmath.mpf(v) for v in values)
    virtual = (len(xs) - 1) * mpmath.mpf(q)
    lo = int(mpmath.floor(virtual))
    if lo >= len(xs) - 1:
        return xs[-1]
    t = virtual - lo
    return xs[lo] + (xs[lo + 1] - xs[lo]) * t


def mp_asrl(u, d1, d2):
    a = abs(u)
    if a <= d1:
        return a * a / 2, u, mpmath.mpf(1)
    if a <= d2:
        return d1 * a - d1 * d1 / 2, mpmath.sign(u) * d1, d1 / a
    return d1 * d2 * mpmath.log(a / d2) + d1 * d2 - d1 * d1 / 2, d1 * d2 / u, d1 * d2 / (a * a)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("dtype", "ulps"), [(np.float64, 4), (np.float32, 4)])
def test_against_mpmath(seed, dtype, ulps):
    rng = np.random.default_rng(seed)
    u = (rng.standard_t(2, size=101) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
    zero = np.zeros_like(u)
    loss = ASRL(q_low=0.4, q_high=0.85)
    rho = loss.loss(zero, u)
    g, h = loss.gradient_hessian(zero, u)
    d1_np, d2_np = loss.statistics(zero, u).deltas
    d1 = mp_quantile(np.abs(u).astype(np.float64).tolist(), 0.4)
    d2 = mp_quantile(np.abs(u).astype(np.float64).tolist(), 0.85)
    eps = float(np.finfo(dtype).eps)
    # The thresholds are rounded interpolations: within an ulp or two of the exact ones.
    assert d1_np == pytest.approx(float(d1), rel=2 * eps)
    assert d2_np == pytest.approx(float(d2), rel=2 * eps)
    # Formulas evaluated at the thresholds the code used (the dtype-rounded ones).
    d1, d2 = mpmath.mpf(d1_np), mpmath.mpf(d2_np)
    for i, value in enumerate(u.tolist()):
        ref_rho, ref_g, ref_h = (float(x) for x in mp_asrl(mpmath.mpf(value), d1, d2))
        assert rho[i] == pytest.approx(ref_rho, rel=ulps * eps, abs=0), i
        assert g[i] == pytest.approx(ref_g, rel=ulps * eps, abs=0), i
        assert h[i] == pytest.approx(ref_h, rel=ulps * eps, abs=0), i


# 1000 rows clip by two ufuncs (CatBoost's chunks), 10000 by np.clip, 140000 go in
# blocks of 65536 (BLOCK).
@pytest.mark.parametrize("n", [1000, 10000, 140000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_equals_the_generic_formulas_bit_for_bit(dtype, n):
    from asrl import core

    rng = np.random.default_rng(1)
    u = (rng.standard_t(2, n) * 3).astype(dtype)
    u[:5] = [0.0, -0.0, 1.0, -1.0, 4.0]
    d1, d2 = dtype(1.0), dtype(4.0)
    g, h = core.continuous_psi_irls(u.copy(), d1, d2)
    np.testing.assert_array_equal(g, core.continuous_psi(u, np.abs(u), d1, d2))
    assert np.signbit(g[1])  # -0.0 keeps its sign, as with copysign
    assert not np.signbit(g[0])
    np.testing.assert_array_equal(h, core.continuous_irls_hessian(np.abs(u), d1, d2))


@pytest.mark.parametrize(
    ("name", "params"),
    [("asrl", {}), ("asrl", {"weights": "stats"}), ("huber", {}), ("pseudo-huber", {})],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_hessian_by_blocks_equals_the_whole_array_path(name, params, weighted):
    """With given statistics, long inputs go through the formulas block by block: the
    same bits as the whole-array path (the statistics' own path), weights included."""
    from asrl import get_loss
    from asrl.core.formulas import BLOCK

    loss = get_loss(name, **params)
    rng = np.random.default_rng(11)
    n = 2 * BLOCK + 12345  # several blocks and a short last one
    y_true = rng.normal(size=(n // 5, 5)).astype(np.float32)  # 2-d, flattened inside
    y_pred = (y_true + 3 * rng.standard_t(2, y_true.shape)).astype(np.float32)
    w = rng.integers(0, 3, y_true.shape).astype(np.float32) if weighted else None
    statistics = loss.statistics(y_true, y_pred, sample_weight=w)
    u = (y_pred - y_true).reshape(-1)
    g_ref, h_ref = loss.residual_gradient_hessian(u, statistics)
    if w is not None:
        g_ref, h_ref = g_ref * w.reshape(-1), h_ref * w.reshape(-1)
    g_out, h_out = np.empty_like(y_true), np.empty_like(y_true)
    g, h = loss.gradient_hessian(
        y_true,
        y_pred,
        sample_weight=w,
        statistics=statistics,
        gradient_out=g_out,
        hessian_out=h_out,
    )
    assert g is g_out
    assert h is h_out
    np.testing.assert_array_equal(g.reshape(-1), g_ref)
    np.testing.assert_array_equal(h.reshape(-1), h_ref)
    g2, h2 = loss.gradient_hessian(y_true, y_pred, sample_weight=w, statistics=statistics)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(h2, h)
    # Statistics computed inside (|u| held in the gradient's buffer first): the same.
    g3, h3 = loss.gradient_hessian(y_true, y_pred, sample_weight=w)
    np.testing.assert_array_equal(g3, g)
    np.testing.assert_array_equal(h3, h)


def test_gradient_hessian_by_blocks_names_the_first_non_finite_value():
    from asrl import ASRL
    from asrl.core.formulas import BLOCK

    y_true = np.zeros(3 * BLOCK)
    y_pred = np.ones(3 * BLOCK)
    y_pred[2 * BLOCK + 7] = np.nan
    statistics = ASRL().statistics(y_true[:10], y_pred[:10])
    with pytest.raises(ValueError, match=f"y_pred contains 1 non-finite value .* {2 * BLOCK + 7}"):
        ASRL().gradient_hessian(y_true, y_pred, statistics=statistics)


@pytest.mark.parametrize("n", [100, 3 * 65536])  # the whole-array and the blocked path
def test_gradient_hessian_writes_a_single_given_buffer(n):
    from asrl import ASRL

    rng = np.random.default_rng(2)
    y_true, y_pred = rng.normal(size=n), rng.normal(size=n)
    loss = ASRL()
    statistics = loss.statistics(y_true, y_pred)
    expected = loss.gradient_hessian(y_true, y_pred, statistics=statistics)
    for stats in (statistics, None):
        g_out, h_out = np.empty(n), np.empty(n)
        g, h = loss.gradient_hessian(y_true, y_pred, statistics=stats, gradient_out=g_out)
        assert g is g_out
        g2, h2 = loss.gradient_hessian(y_true, y_pred, statistics=stats, hessian_out=h_out)
        assert h2 is h_out
        for got in (g, g2):
            np.testing.assert_array_equal(got, expected[0])
        for got in (h, h2):
            np.testing.assert_array_equal(got, expected[1])
