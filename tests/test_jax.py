"""The JAX adapter against the numpy core: thresholds, derivatives, jit, grad, vmap.

XLA may fuse and reorder floating-point operations, so values and gradients are
compared to a few units in the last place; thresholds, which are order statistics
and a handful of scalar operations, are compared exactly (see ``asrl.jax``).
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from asrl import ASRL, core
from asrl.core.rules import THRESHOLD_RULES, ASRLStatistics
from asrl.params import ASRLParams, record_fields

from .toy_rule import toy_rule

jax = pytest.importorskip("jax", reason="jax is not installed (pip install 'asrl[jax]')")
import jax.numpy as jnp  # noqa: E402

from asrl.jax import NEWTON_ONLY, asrl_loss, asrl_statistics  # noqa: E402

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


def flat(statistics):
    """An ASRLStatistics as a tuple of floats: the thresholds, then any scales."""
    return tuple(float(s) for s in (*statistics.deltas, *(statistics.scales or ())))


def core_statistics(rule, weights, y, p, sample=None):
    return flat(ASRL(thresholds=rule, weights=weights, threshold_sample=sample).statistics(y, p))


def jax_statistics(rule, weights, y, p, sample=None):
    """The statistics of ``asrl_loss``, checked to be 0-d arrays of the inputs' dtype."""
    params = {"thresholds": rule, "weights": weights, "threshold_sample": sample}
    stats = asrl_statistics(jnp.asarray(p), jnp.asarray(y), **params)
    for value in (*stats.deltas, *(stats.scales or ())):
        assert value.shape == ()
        assert value.dtype == jnp.asarray(p).dtype
    return flat(stats)


@pytest.fixture
def toy(monkeypatch):
    """``thresholds="toy"`` registered for one test, the way a user would add a rule."""
    monkeypatch.setitem(THRESHOLD_RULES, "toy", toy_rule)
    return "toy"


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(("n", "sample"), [(1, None), (10, None), (2001, None), (2001, 300)])
def test_statistics_equal_the_numpy_core(x64, rule, weights, n, sample):
    with jax.enable_x64(x64):
        dtype = np.float64 if x64 else np.float32
        y, p = data(n, dtype)
        want = core_statistics(rule, weights, y, p, sample)
        got = jax_statistics(rule, weights, y, p, sample)
    if rule == "scale" and not x64:
        # c * sigma is rounded in float32 rather than once from float64.
        assert got[:2] == pytest.approx(want[:2], rel=ulps(dtype, 1))
    else:
        assert got[:2] == want[:2]
    if weights == "stats":
        assert got[3:] == want[3:]
        assert got[2] == pytest.approx(want[2], rel=ulps(dtype, 2))  # XLA's summation order


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("sample", [None, 300])
def test_a_rule_registered_by_the_user_works_unchanged(toy, x64, weights, sample):
    with jax.enable_x64(x64):
        dtype = np.float64 if x64 else np.float32
        y, p = data(2001, dtype, seed=8)
        ref = ASRL(thresholds=toy, weights=weights, threshold_sample=sample)
        want = flat(ref.statistics(y, p))
        got = jax_statistics(toy, weights, y, p, sample)
        params = {"thresholds": toy, "weights": weights, "threshold_sample": sample}
        target = jnp.asarray(y)
        grad = jax.jit(jax.grad(lambda q: asrl_loss(q, target, **params).sum()))(jnp.asarray(p))
    assert got[:2] == want[:2]  # order statistics and floors: exact
    if sample is None:  # the toy rule's own quantiles, not the default 0.5 and 0.9
        a = np.abs(p - y)
        assert got[:2] == (np.quantile(a, 0.3), np.quantile(a, 0.8))
    if weights == "stats":
        assert got[3:] == want[3:]
        assert got[2] == pytest.approx(want[2], rel=ulps(dtype, 2))
    np.testing.assert_allclose(np.asarray(grad), ref.gradient(y, p), rtol=ulps(dtype), atol=0)


def test_degenerate_residuals_give_the_core_floors():
    for u in ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0], [3e38, -3e38, 0.0], [1e-45, 0.0, 0.0]):
        u = np.array(u, dtype=np.float32)
        got = asrl_statistics(jnp.asarray(u), jnp.zeros(u.size))
        want = ASRL().statistics(np.zeros_like(u), u)
        assert flat(got) == want.deltas


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
def test_loss_and_jit_grad_equal_the_numpy_core(rule, weights):
    y, p = data(3000, seed=1)
    ref = ASRL(thresholds=rule, weights=weights)
    fixed = ref.statistics(y, p)
    params = {"thresholds": rule, "weights": weights, "statistics": fixed}
    target = jnp.asarray(y)
    rho = asrl_loss(jnp.asarray(p), target, **params)
    np.testing.assert_allclose(
        np.asarray(rho), ref.loss(y, p, statistics=fixed), rtol=ulps(np.float32)
    )
    grad = jax.jit(jax.grad(lambda q: asrl_loss(q, target, **params).sum()))(jnp.asarray(p))
    np.testing.assert_allclose(
        np.asarray(grad), ref.gradient(y, p, statistics=fixed), rtol=ulps(np.float32), atol=1e-30
    )
    # With its own thresholds (stop_gradient: they add nothing to the gradient).
    own = {"thresholds": rule, "weights": weights}
    grad = jax.grad(lambda q: asrl_loss(q, target, **own).sum())(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(grad), ref.gradient(y, p), rtol=1e-5, atol=1e-7)


def test_statistics_are_a_pytree_that_crosses_jit():
    y, p = data(500, seed=4)
    pred, target = jnp.asarray(p), jnp.asarray(y)
    for weights in WEIGHTS:
        eager = asrl_statistics(pred, target, weights=weights)
        jitted = jax.jit(lambda q, t, w=weights: asrl_statistics(q, t, weights=w))(pred, target)
        assert isinstance(jitted, ASRLStatistics)
        # order statistics are bit-equal; XLA folds the constant factors of the MAD
        # scale (1.4826 * c * mad) under jit, which can move the cap by one ulp
        np.testing.assert_allclose(flat(jitted), flat(eager), rtol=ulps(np.float32))
        loss = jax.jit(lambda q, s, w=weights: asrl_loss(q, target, weights=w, statistics=s))
        np.testing.assert_allclose(  # XLA fuses differently under jit: last bits
            np.asarray(loss(pred, jitted)),
            np.asarray(asrl_loss(pred, target, weights=weights)),
            rtol=ulps(np.float32),
        )


def test_second_derivative():
    y, p = data(400, np.float32, seed=2)
    d1, d2 = 0.7, 2.5
    target = jnp.asarray(y)
    hess_diag = jax.jit(
        jax.vmap(
            jax.grad(jax.grad(lambda q, t: asrl_loss(q, t, statistics=ASRLStatistics((d1, d2)))))
        )
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
    got = flat(asrl_statistics(jnp.asarray(p), jnp.asarray(y), threshold_sample=1000))
    assert got == ASRL(threshold_sample=1000).statistics(y, p).deltas
    assert got != ASRL(threshold_sample=None).statistics(y, p).deltas


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
        asrl_loss(x, x, statistics=ASRLStatistics((2.0, 1.0)))
    with pytest.raises(TypeError, match="takes statistics of type ASRLStatistics"):
        asrl_loss(x, x, statistics=(1.0, 2.0))
    with pytest.raises(ValueError, match="'stats' needs scales"):
        asrl_loss(x, x, weights="stats", statistics=ASRLStatistics((1.0, 2.0)))
    for newton in NEWTON_ONLY:
        with pytest.raises(TypeError, match=f"^{newton} is for Newton learners"):
            asrl_loss(x, x, **{newton: 1})
    with pytest.raises(TypeError, match=r"qlow; valid: q_low, q_high, .*threshold_sample\.$"):
        asrl_statistics(x, x, qlow=0.3)


def test_signatures_show_the_record_fields_and_defaults():
    fields = {k: v for k, v in record_fields(ASRLParams).items() if k not in NEWTON_ONLY}
    for public, own in (
        (asrl_loss, {"predictions", "targets", "statistics"}),
        (asrl_statistics, {"predictions", "targets"}),
    ):
        parameters = inspect.signature(public).parameters
        assert {k: p.default for k, p in parameters.items() if k not in own} == fields
        assert set(parameters) == own | set(fields)


def test_missing_jax_names_the_extra():
    code = "import sys; sys.modules['jax'] = None; import asrl.jax"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        'ImportError: this part of asrl needs JAX, which is not installed: pip install "asrl[jax]"'
    )


def test_quadratic_region_is_exactly_half_the_square():
    # XLA turns a division by a broadcast scalar into a multiplication by its
    # reciprocal; the adapter must still give log(max(|u|, d2) / d2) == 0 there,
    # so rho == u**2 / 2 exactly and rho(0) == 0, eagerly and under jit, whether the
    # thresholds are traced values or constants folded into the program.
    u = np.array([0.0, -0.0, 1e-3, -0.25, 0.7130011], dtype=np.float32)
    fixed = ASRLStatistics((0.7130011320114136, 2.6767375469207764))
    expected = 0.5 * u * u
    zero = jnp.zeros(u.size)
    traced = lambda p, d: asrl_loss(p, zero, statistics=ASRLStatistics((d[0], d[1])))  # noqa: E731
    results = [
        asrl_loss(jnp.asarray(u), zero, statistics=fixed),
        jax.jit(lambda p: asrl_loss(p, zero, statistics=fixed))(jnp.asarray(u)),
        jax.jit(traced)(jnp.asarray(u), jnp.asarray(fixed.deltas)),
    ]
    for rho in results:
        np.testing.assert_array_equal(np.asarray(rho), expected)


# -- non-finite residuals: HuberLoss's semantics ------------------------------------------


def with_gaps(n, dtype=np.float32, seed=11, every=7):
    """Targets with NaN (missing labels) at every ``every``-th element, one +inf and one
    -inf prediction; the mask of the finite residuals."""
    y, p = data(n, dtype, seed=seed)
    y[::every] = np.nan
    p[1], p[2] = np.inf, -np.inf
    return y, p, np.isfinite(p - y)


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("weights", WEIGHTS)
def test_statistics_come_from_the_finite_residuals(x64, rule, weights):
    with jax.enable_x64(x64):
        dtype = np.float64 if x64 else np.float32
        y, p, finite = with_gaps(2001, dtype)
        want = core_statistics(rule, weights, y[finite], p[finite])
        got = jax_statistics(rule, weights, y, p)
        jitted = jax.jit(lambda q, t: asrl_statistics(q, t, thresholds=rule, weights=weights))
        assert flat(jitted(jnp.asarray(p), jnp.asarray(y))) == pytest.approx(got, rel=ulps(dtype))
    # The ranks come from the count of finite values: in float32 without x64, where the
    # interpolation weight is off by up to count * 6e-8.
    rel = (0 if rule == "quantile" else ulps(dtype, 1)) if x64 else 1e-5
    assert got[:2] == pytest.approx(want[:2], rel=rel)
    if weights == "stats":
        assert got[2:] == pytest.approx(want[2:], rel=ulps(dtype, 2))


@pytest.mark.parametrize("weights", WEIGHTS)
def test_nan_only_where_the_residual_is_nan_and_masked_losses_train(weights):
    y, p, finite = with_gaps(1000)
    target = jnp.asarray(y)
    rho = asrl_loss(jnp.asarray(p), target, weights=weights)
    np.testing.assert_array_equal(np.isnan(np.asarray(rho)), np.isnan(p - y))
    assert np.isinf(np.asarray(rho)[[1, 2]]).all()
    ref = ASRL(weights=weights)
    fixed = ref.statistics(y[finite], p[finite])
    np.testing.assert_allclose(
        np.asarray(rho)[finite],
        ref.loss(y[finite], p[finite], statistics=fixed),
        rtol=ulps(np.float32),
    )
    mask = ~np.isnan(y)

    def masked(q):
        return jnp.where(mask, asrl_loss(q, target, weights=weights), 0).sum()

    grad = np.asarray(jax.jit(jax.grad(masked))(jnp.asarray(p)))
    assert np.isfinite(grad).all()
    assert (grad[~finite] == 0).all()
    np.testing.assert_allclose(
        grad[finite], ref.gradient(y[finite], p[finite], statistics=fixed), rtol=ulps(np.float32)
    )
    assert np.isnan(float(asrl_loss(jnp.asarray(p), target, weights=weights).mean()))
