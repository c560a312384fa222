"""Properties of ASRL that must hold for every input (hypothesis, >= 200 examples each)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asrl import ASRL, core

from .strategies import asrl_losses, deltas, residual_arrays

u_values = arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e4, 1e4))


@given(residual_arrays(), asrl_losses(weights=("continuous", "stats")))
def test_thresholds_are_positive_ordered_and_results_finite(u, loss):
    zero = np.zeros_like(u)
    d1, d2 = loss.statistics(zero, u).deltas
    assert 0 < d1 <= d2
    assert np.isfinite(d1)
    assert np.isfinite(d2)
    rho = loss.loss(zero, u)
    g, h = loss.gradient_hessian(zero, u)
    assert np.isfinite(rho).all()
    assert (rho >= 0).all()
    assert np.isfinite(g).all()
    assert np.isfinite(h).all()
    assert (h > 0).all()


@given(u_values, deltas())
def test_rho_is_zero_at_zero_even_and_nondecreasing(u, d):
    d1, d2 = d
    a = np.abs(u)
    assert core.continuous_rho(np.zeros(1), d1, d2)[0] == 0.0
    rho = core.continuous_rho(a, d1, d2)
    assert (rho >= 0).all()
    # Even: rho depends on u through |u| only, and so does psi up to its sign.
    assert np.array_equal(core.continuous_psi(-u, a, d1, d2), -core.continuous_psi(u, a, d1, d2))
    order = np.argsort(a)
    assert (np.diff(rho[order]) >= 0).all()


@given(deltas())
def test_continuous_form_is_continuous_at_both_thresholds(d):
    d1, d2 = d
    for t in (d1, d2):
        below, above = np.nextafter(t, 0), np.nextafter(t, np.inf)
        rho = core.continuous_rho(np.array([below, t, above]), d1, d2)
        psi = core.continuous_psi(np.array([below, t, above]), np.array([below, t, above]), d1, d2)
        assert rho[0] == pytest.approx(rho[1], rel=1e-12)
        assert rho[2] == pytest.approx(rho[1], rel=1e-12)
        assert psi[0] == pytest.approx(psi[1], rel=1e-12)
        assert psi[2] == pytest.approx(psi[1], rel=1e-12)


@given(u_values, deltas())
def test_gradient_is_bounded_by_delta1(u, d):
    d1, d2 = d
    psi = core.continuous_psi(u, np.abs(u), d1, d2)
    assert (np.abs(psi) <= d1).all()


@given(u_values, deltas())
def test_quadratic_near_zero(u, d):
    d1, d2 = d
    a = np.abs(u)
    small = a <= d1
    rho = core.continuous_rho(a, d1, d2)
    # u^2 / 2 evaluated as (0.5 u) u, in that order (the squares of residuals near 1e-157
    # are subnormal, where 0.5 (u u) can round differently)
    assert np.array_equal(rho[small], 0.5 * a[small] * a[small])


@given(residual_arrays(min_size=2), asrl_losses(), st.floats(1e-3, 1e3))
def test_scale_equivariance(u, loss, k):
    """rho(k u; k delta) = k^2 rho(u; delta) with thresholds recomputed from k u."""
    zero = np.zeros_like(u)
    assume(np.abs(u).max() > 0)
    rho = loss.loss(zero, u)
    d1, d2 = loss.statistics(zero, u).deltas
    rho_k = loss.loss(zero, k * u)
    dk1, dk2 = loss.statistics(zero, k * u).deltas
    assert dk1 == pytest.approx(k * d1, rel=1e-9)
    assert dk2 == pytest.approx(k * d2, rel=1e-9)
    np.testing.assert_allclose(rho_k, k * k * rho, rtol=1e-9, atol=1e-300)


@given(u_values, deltas(), st.floats(-1e4, 1e4))
def test_irls_quadratic_majorizes_rho(u, d, v):
    """q(x) = rho(v) + psi(v)(x - v) + h(v)(x - v)^2 / 2 >= rho(x) for all x."""
    d1, d2 = d
    av = abs(v)
    rho_v = core.continuous_rho(np.array([av]), d1, d2)[0]
    psi_v = core.continuous_psi(np.array([v]), np.array([av]), d1, d2)[0]
    h_v = core.continuous_irls_hessian(np.array([av]), d1, d2)[0]
    x = np.concatenate([u, [v, -v, 0.0, d1, -d1, d2, -d2]])
    q = rho_v + psi_v * (x - v) + 0.5 * h_v * (x - v) ** 2
    rho_x = core.continuous_rho(np.abs(x), d1, d2)
    slack = 1e-9 * (np.abs(q) + np.abs(rho_x) + 1.0)
    assert (q >= rho_x - slack).all()


@given(u_values, deltas())
def test_irls_curvature_is_psi_over_u(u, d):
    d1, d2 = d
    a = np.abs(u)
    assume((a > 0).all())
    h = core.continuous_irls_hessian(a, d1, d2)
    np.testing.assert_allclose(h, core.continuous_psi(u, a, d1, d2) / u, rtol=1e-14)
    assert ((h > 0) & (h <= 1)).all()


@given(residual_arrays(min_size=2))
def test_q_low_to_one_reduces_to_squared_error(u):
    zero = np.zeros_like(u)
    assume(np.abs(u).max() > 0)
    half_squared = 0.5 * u * u
    errors = []
    for eps in (1e-2, 1e-4, 1e-8):
        loss = ASRL(thresholds="quantile", q_low=1 - 2 * eps, q_high=1 - eps)
        errors.append(np.abs(loss.loss(zero, u) - half_squared).max())
    scale = half_squared.max()
    assert errors[-1] <= 1e-6 * scale
    assert errors[-1] <= errors[0]


@given(residual_arrays(), st.sampled_from(["irls", "exact", "unit"]))
def test_c1_to_infinity_reduces_to_squared_error_exactly(u, hessian):
    zero = np.zeros_like(u)
    loss = ASRL(thresholds="scale", c1=1e15, c2=1e16, hessian=hessian)
    scale = np.abs(u).max()
    assume(scale == 0 or loss.statistics(zero, u).deltas[0] >= scale)
    np.testing.assert_array_equal(loss.loss(zero, u), 0.5 * u * u)
    g, h = loss.gradient_hessian(zero, u)
    np.testing.assert_array_equal(g, u)
    np.testing.assert_array_equal(h, np.ones_like(u))


@given(
    residual_arrays(dtype=np.float32),
    asrl_losses(weights=("continuous", "stats")),
    st.booleans(),
)
def test_float32_in_float32_out(u, loss, weighted):
    zero = np.zeros_like(u)
    w = np.linspace(0.5, 2.0, u.size, dtype=np.float32) if weighted else None
    assert loss.loss(zero, u, sample_weight=w).dtype == np.float32
    assert loss.gradient(zero, u, sample_weight=w).dtype == np.float32
    g, h = loss.gradient_hessian(zero, u, sample_weight=w)
    assert g.dtype == np.float32
    assert h.dtype == np.float32


@given(residual_arrays(), asrl_losses(weights=("continuous", "stats")))
def test_unit_weights_change_nothing(u, loss):
    zero = np.zeros_like(u)
    np.testing.assert_array_equal(
        loss.loss(zero, u), loss.loss(zero, u, sample_weight=np.ones_like(u))
    )
    g, h = loss.gradient_hessian(zero, u)
    gw, hw = loss.gradient_hessian(zero, u, sample_weight=np.ones_like(u))
    np.testing.assert_array_equal(g, gw)
    np.testing.assert_array_equal(h, hw)


@given(residual_arrays(min_size=2), asrl_losses(weights=("continuous", "stats")))
def test_integer_weights_multiply_loss_gradient_and_hessian(u, loss):
    zero = np.zeros_like(u)
    w = np.arange(1, u.size + 1, dtype=float)
    fixed = loss.statistics(zero, u)
    np.testing.assert_allclose(
        loss.loss(zero, u, sample_weight=w, statistics=fixed),
        w * loss.loss(zero, u, statistics=fixed),
    )
    g, h = loss.gradient_hessian(zero, u, statistics=fixed)
    gw, hw = loss.gradient_hessian(zero, u, sample_weight=w, statistics=fixed)
    np.testing.assert_allclose(gw, w * g)
    np.testing.assert_allclose(hw, w * h)
    mean = loss(zero, u, sample_weight=w, statistics=fixed)
    expected = np.sum(w * loss.loss(zero, u, statistics=fixed)) / w.sum()
    assert mean == pytest.approx(expected, rel=1e-12)


@given(residual_arrays(min_size=2), asrl_losses(weights=("continuous", "stats")), st.data())
def test_integer_weights_are_repeated_rows_in_the_statistics(u, loss, data):
    """A weight of k is the row k times: the same statistics as the expanded sample."""
    w = data.draw(arrays(np.int64, u.shape, elements=st.integers(0, 3)))
    assume(w.any())
    weighted = loss.statistics(np.zeros_like(u), u, sample_weight=w)
    expanded = np.repeat(u, w)
    repeated = loss.statistics(np.zeros_like(expanded), expanded)
    np.testing.assert_allclose(weighted.deltas, repeated.deltas, rtol=1e-12)
    if weighted.scales is not None:
        np.testing.assert_allclose(weighted.scales, repeated.scales, rtol=1e-9)


@given(residual_arrays(), asrl_losses())
def test_prediction_minus_target_convention(u, loss):
    """Only the residual matters, and the gradient is with respect to y_pred.

    (Not for the "stats" weights: with all residuals equal their std is 0, and the
    rounding of ``(y + u) - y`` decides how far below the floor it lands.)
    """
    y_true = np.linspace(-3.0, 3.0, u.size)
    shifted = loss.gradient(y_true, y_true + u)
    np.testing.assert_allclose(shifted, loss.gradient(np.zeros_like(u), u), rtol=1e-9, atol=1e-9)
