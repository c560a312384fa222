"""The JAX adapter against the numpy core: thresholds, derivatives, jit, grad, vmap.

XLA may fuse and reorder floating-point operations, so values and gradients are
compared to a few units in the last place; thresholds, which are order statistics
and a handful of scalar operations, are compared exactly (see ``asrl.jax``).
"""

from __future__ import annotations

import numpy as np
import pytest

from asrl import ASRL, core

jax = pytest.importorskip("jax", reason="jax is not installed (pip install 'asrl[jax]')")
import jax.numpy as jnp  # noqa: E402

from asrl.jax import asrl_loss, asrl_thresholds  # noqa: E402

RULES = ("quantile", "scale")
WEIGHTS = ("continuous", "stats")


def data(n, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    p = y + rng.standard_t(2, n)
    p[: n // 10] = y[: n // 10]
    return y.astype(dtype), p.astype(dtype)


def ulps(dtype, k=4):
    return k * float(np.finfo(dtype).eps)


def core_statistics(rule, weights, y, p, sample=None):
    ref = ASRL(thresholds=rule, weights=weights, threshold_sample=sample)
    ref.loss(y, p)
    return ref, (*ref.deltas_, *(ref.scales_ or ()))


def jax_statistics(rule, weights, y, p, sample=None):
    from asrl.jax import _residuals, _statistics

    spec = ASRL.autograd_spec(0.5, 0.9, rule, 1.345, 3.0, weights, sample)
    stats = _statistics(_residuals(jnp.asarray(p), jnp.asarray(y)), spec)
    return tuple(float(s) for s in stats)


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(("n", "sample"), [(1, None), (10, None), (2001, None), (2001, 300)])
def test_statistics_equal_the_numpy_core(x64, rule, weights, n, sample):
    with jax.enable_x64(x64):
        dtype = np.float64 if x64 else np.float32
        y, p = data(n, dtype)
        _, want = core_statistics(rule, weights, y, p, sample)
        got = jax_statistics(rule, weights, y, p, sample)
    if rule == "scale" and not x64:
        # c * sigma is rounded in float32 rather than once from float64.
        assert got[:2] == pytest.approx(want[:2], rel=ulps(dtype, 1))
    else:
        assert got[:2] == want[:2]
    if weights == "stats":
        assert got[3:] == want[3:]
        assert got[2] == pytest.approx(want[2], rel=ulps(dtype, 2))  # XLA's summation order


def test_degenerate_residuals_give_the_core_floors():
    for u in ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0], [3e38, -3e38, 0.0], [1e-45, 0.0, 0.0]):
        u = np.array(u, dtype=np.float32)
        got = asrl_thresholds(jnp.asarray(u), jnp.zeros(u.size))
        want = ASRL().thresholds(np.zeros_like(u), u)
        assert (float(got[0]), float(got[1])) == want


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
def test_loss_and_jit_grad_equal_the_numpy_core(rule, weights):
    y, p = data(3000, seed=1)
    ref = ASRL(thresholds=rule, weights=weights)
    fixed = ref.statistics(y, p)
    params = {"thresholds": rule, "weights": weights, **fixed}
    target = jnp.asarray(y)
    rho = asrl_loss(jnp.asarray(p), target, **params)
    np.testing.assert_allclose(np.asarray(rho), ref.loss(y, p, **fixed), rtol=ulps(np.float32))
    grad = jax.jit(jax.grad(lambda q: asrl_loss(q, target, **params).sum()))(jnp.asarray(p))
    np.testing.assert_allclose(
        np.asarray(grad), ref.gradient(y, p, **fixed), rtol=ulps(np.float32), atol=1e-30
    )
    # With its own thresholds (stop_gradient: they add nothing to the gradient).
    own = {"thresholds": rule, "weights": weights}
    grad = jax.grad(lambda q: asrl_loss(q, target, **own).sum())(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(grad), ref.gradient(y, p), rtol=1e-5, atol=1e-7)


def test_second_derivative():
    y, p = data(400, np.float32, seed=2)
    d1, d2 = 0.7, 2.5
    target = jnp.asarray(y)
    hess_diag = jax.jit(
        jax.vmap(jax.grad(jax.grad(lambda q, t: asrl_loss(q, t, deltas=(d1, d2)))))
    )(jnp.asarray(p), target)
    u = (p - y).astype(np.float64)
    step = 1e-5
    psi = lambda v: core.continuous_psi(v, np.abs(v), d1, d2)  # noqa: E731
    numeric = (psi(u + step) - psi(u - step)) / (2 * step)
    kinks = np.minimum(np.abs(u), np.minimum(np.abs(np.abs(u) - d1), np.abs(np.abs(u) - d2)))
    away = kinks > 1e-3
    np.testing.assert_allclose(np.asarray(hess_diag)[away], numeric[away], rtol=1e-4, atol=1e-5)


def test_elementwise_any_shape_and_dtypes():
    y, p = data(24, np.float32)
    rho = asrl_loss(jnp.asarray(p).reshape(2, 3, 4), jnp.asarray(y).reshape(2, 3, 4))
    assert rho.shape == (2, 3, 4)
    np.testing.assert_allclose(np.asarray(rho).ravel(), ASRL().loss(y, p), rtol=ulps(np.float32))
    for half in (jnp.float16, jnp.bfloat16):
        rho = asrl_loss(jnp.asarray(p, dtype=half), jnp.asarray(y, dtype=half))
        assert rho.dtype == jnp.float32
        up_p = np.asarray(jnp.asarray(p, dtype=half), dtype=np.float32)
        up_y = np.asarray(jnp.asarray(y, dtype=half), dtype=np.float32)
        np.testing.assert_allclose(np.asarray(rho), ASRL().loss(up_y, up_p), rtol=ulps(np.float32))
    assert asrl_loss(jnp.arange(3), jnp.zeros(3, dtype=jnp.int32)).dtype == jnp.float32


def test_sampled_thresholds_are_the_core_subsample():
    y, p = data(5000, seed=3)
    got = asrl_thresholds(jnp.asarray(p), jnp.asarray(y), threshold_sample=1000)
    assert (float(got[0]), float(got[1])) == ASRL(threshold_sample=1000).thresholds(y, p)
    assert (float(got[0]), float(got[1])) != ASRL().thresholds(y, p)


def test_bad_inputs_and_parameters():
    x = jnp.zeros(4)
    with pytest.raises(ValueError, match=r"same shape .*got \(4,\) and \(4, 1\)"):
        asrl_loss(x, jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match="empty"):
        asrl_loss(jnp.zeros(0), jnp.zeros(0))
    with pytest.raises(TypeError, match="must be real"):
        asrl_loss(x.astype(jnp.complex64), x.astype(jnp.complex64))
    with pytest.raises(ValueError, match=r"q_low must be in \(0, 1\); got 1.5"):
        asrl_loss(x, x, q_low=1.5)
    with pytest.raises(ValueError, match="weights must be one of"):
        asrl_loss(x, x, weights="paper")
    with pytest.raises(ValueError, match="deltas must satisfy"):
        asrl_loss(x, x, deltas=(2.0, 1.0))


def test_quadratic_region_is_exactly_half_the_square():
    # XLA turns a division by a broadcast scalar into a multiplication by its
    # reciprocal; the adapter must still give log(max(|u|, d2) / d2) == 0 there,
    # so rho == u**2 / 2 exactly and rho(0) == 0, eagerly and under jit, whether the
    # thresholds are traced values or constants folded into the program.
    u = np.array([0.0, -0.0, 1e-3, -0.25, 0.7130011], dtype=np.float32)
    deltas = (0.7130011320114136, 2.6767375469207764)
    expected = 0.5 * u * u
    zero = jnp.zeros(u.size)
    results = [
        asrl_loss(jnp.asarray(u), zero, deltas=deltas),
        jax.jit(lambda p: asrl_loss(p, zero, deltas=deltas))(jnp.asarray(u)),
        jax.jit(lambda p, d: asrl_loss(p, zero, deltas=d))(jnp.asarray(u), jnp.asarray(deltas)),
    ]
    for rho in results:
        np.testing.assert_array_equal(np.asarray(rho), expected)
