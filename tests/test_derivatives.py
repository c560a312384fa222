"""Gradients and curvatures against 4th-order central finite differences.

Points are kept off the kinks (the thresholds, and 0 for the absolute loss), where
the derivative the formulas return is one-sided by design.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from asrl import ASRL, core

from .strategies import deltas

points = st.floats(-1e3, 1e3).filter(lambda x: abs(x) > 1e-3)


def central_difference(f, x, step):
    """f'(x) to O(step^4): (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h."""
    return (-f(x + 2 * step) + 8 * f(x + step) - 8 * f(x - step) + f(x - 2 * step)) / (12 * step)


def off_kinks(x, kinks, step):
    return all(abs(abs(x) - k) > 10 * step for k in kinks) and abs(x) > 10 * step


def check_derivative(f, df, x, kinks):
    step = 1e-4 * max(1.0, abs(x))
    assume(off_kinks(x, kinks, step))
    numeric = central_difference(f, x, step)
    assert df(x) == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def scalar(fn):
    return lambda x: float(fn(np.array([x]))[0])


@given(points, deltas())
def test_continuous_psi_is_the_derivative_of_rho(x, d):
    d1, d2 = d
    rho = scalar(lambda u: core.continuous_rho(np.abs(u), d1, d2))
    psi = scalar(lambda u: core.continuous_psi(u, np.abs(u), d1, d2))
    check_derivative(rho, psi, x, (d1, d2))


@given(points, deltas())
def test_continuous_exact_hessian_is_the_derivative_of_psi(x, d):
    d1, d2 = d
    psi = scalar(lambda u: core.continuous_psi(u, np.abs(u), d1, d2))
    a = abs(x)
    second = 1.0 if a <= d1 else (0.0 if a <= d2 else -d1 * d2 / x**2)
    check_derivative(psi, lambda _: second, x, (d1, d2))
    h = core.continuous_exact_hessian(np.array([a]), d1, 1e-6)[0]
    assert h == max(second, 1e-6)


@given(points, deltas(), st.floats(0.1, 10), st.floats(0.1, 10), st.floats(0.1, 10))
def test_stats_psi_is_the_derivative_of_rho(x, d, s_var, s_iqr, s_mad):
    d1, d2 = d
    args = (d1, d2, s_var, s_iqr, s_mad)
    rho = scalar(lambda u: core.stats_rho(np.abs(u), *args))
    psi = scalar(lambda u: core.stats_psi(u, np.abs(u), *args))
    check_derivative(rho, psi, x, (d1, d2))
    a = abs(x)
    second = 1 / s_var**2 if a <= d1 else (0.0 if a <= d2 else -1 / (s_mad + a) ** 2)
    check_derivative(psi, lambda _: second, x, (d1, d2))
    h = core.stats_exact_hessian(np.array([a]), d1, s_var, 1e-6)[0]
    assert h == pytest.approx(max(second, 1e-6), rel=1e-12)


@given(points, st.floats(0.01, 100))
def test_huber_derivatives(x, delta):
    rho = scalar(lambda u: core.huber_rho(np.abs(u), delta))
    psi = scalar(lambda u: core.huber_psi(u, np.abs(u), delta))
    check_derivative(rho, psi, x, (delta,))


@given(points, st.floats(0.01, 100))
def test_pseudo_huber_derivatives(x, delta):
    rho = scalar(lambda u: core.pseudo_huber_rho(np.abs(u), delta))
    psi = scalar(lambda u: core.pseudo_huber_psi(u, np.abs(u), delta))
    hess = scalar(lambda u: core.pseudo_huber_hessian(np.abs(u), delta))
    check_derivative(rho, psi, x, ())
    check_derivative(psi, hess, x, ())


@given(points)
def test_absolute_derivative(x):
    check_derivative(
        scalar(lambda u: core.absolute_rho(np.abs(u))), scalar(core.absolute_psi), x, ()
    )


@given(st.lists(points, min_size=3, max_size=20), st.sampled_from(["continuous", "stats"]))
def test_loss_object_gradient_with_fixed_thresholds(values, weights):
    """The public methods, thresholds and scales held at those of the base point."""
    u = np.array(values)
    zero = np.zeros_like(u)
    loss = ASRL(weights=weights)
    fixed = loss.statistics(zero, u)
    d1, d2 = fixed.deltas
    step = 1e-4 * np.maximum(1.0, np.abs(u))
    a = np.abs(u)
    assume(((np.abs(a - d1) > 10 * step) & (np.abs(a - d2) > 10 * step)).all())
    total = lambda v: loss.loss(zero, v, statistics=fixed)  # noqa: E731
    numeric = central_difference(total, u, step)
    np.testing.assert_allclose(
        loss.gradient(zero, u, statistics=fixed), numeric, rtol=1e-6, atol=1e-8
    )
