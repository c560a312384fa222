"""A threshold rule added here, in one function and one registry line, works everywhere.

The toy rule takes fixed quantiles 0.3 and 0.8 of |u|. Nothing in the package knows
it; the loss, every booster, the linear model, torch, jax and Dask run it unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from asrl import ASRL, THRESHOLD_RULES

from .toy_rule import toy_rule


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    monkeypatch.setitem(THRESHOLD_RULES, "toy", toy_rule)


def residuals(n=500, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_t(2, n).astype(dtype)


def test_the_numpy_loss_uses_the_new_rule():
    u = residuals()
    statistics = ASRL(thresholds="toy").statistics(np.zeros_like(u), u)
    a = np.abs(u)
    assert statistics.deltas == (np.quantile(a, 0.3), np.quantile(a, 0.8))
    # ... and the gradient is ASRL's with those thresholds.
    expected = ASRL().gradient(np.zeros_like(u), u, statistics=statistics)
    np.testing.assert_array_equal(ASRL(thresholds="toy").gradient(np.zeros_like(u), u), expected)


def data(n=400, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X[:, 0] + rng.standard_t(2, n)
    return X, y


def check_round_statistics(model, X, y):
    """The statistics of each recorded round are the toy rule's on that round's residuals:
    checked for the first round, whose predictions are the start."""
    first = model.statistics_history_[0]
    u = (np.full(len(y), model.start_) - y).astype(np.float32)
    expected = ASRL(thresholds="toy").statistics(np.zeros_like(u), u)
    np.testing.assert_allclose(first.deltas, expected.deltas, rtol=1e-6)
    assert len(model.statistics_history_) >= 5


def test_xgboost_uses_the_new_rule():
    from asrl.xgboost import ASRLXGBRegressor

    X, y = data()
    model = ASRLXGBRegressor(thresholds="toy", n_estimators=5, max_depth=2).fit(X, y)
    check_round_statistics(model, X, y)


def test_lightgbm_uses_the_new_rule():
    pytest.importorskip("lightgbm")
    from asrl.lightgbm import ASRLLGBMRegressor

    X, y = data()
    model = ASRLLGBMRegressor(thresholds="toy", n_estimators=5, verbose=-1).fit(X, y)
    check_round_statistics(model, X, y)


def test_catboost_uses_the_new_rule():
    pytest.importorskip("catboost")
    from asrl.catboost import ASRLCatBoostRegressor

    X, y = data()
    model = ASRLCatBoostRegressor(
        thresholds="toy", iterations=5, verbose=0, allow_writing_files=False, thread_count=1
    ).fit(X, y)
    check_round_statistics(model, X, y)


def test_the_linear_model_uses_the_new_rule():
    from asrl.linear import ASRLLinearRegressor

    X, y = data()
    model = ASRLLinearRegressor(thresholds="toy").fit(X, y)
    u = model.predict(X) - y
    a = np.abs(u)
    np.testing.assert_allclose(
        model.statistics_.deltas, (np.quantile(a, 0.3), np.quantile(a, 0.8)), rtol=1e-12
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_uses_the_new_rule(dtype):
    torch = pytest.importorskip("torch")
    from asrl.torch import ASRLLoss, asrl_statistics

    u = residuals(dtype=np.dtype(dtype))
    pred, target = torch.from_numpy(u.copy()), torch.zeros(u.size, dtype=getattr(torch, dtype))
    got = asrl_statistics(pred, target, thresholds="toy")
    expected = ASRL(thresholds="toy").statistics(np.zeros_like(u), u)
    assert tuple(float(d) for d in got.deltas) == expected.deltas
    # The module trains with it: its gradient is ASRL's psi with those thresholds.
    pred.requires_grad_(True)
    ASRLLoss(thresholds="toy", reduction="sum")(pred, target).backward()
    psi = ASRL().gradient(np.zeros_like(u), u, statistics=expected)
    np.testing.assert_allclose(pred.grad.numpy(), psi, rtol=1e-6)


def test_jax_uses_the_new_rule():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from asrl.jax import asrl_loss, asrl_statistics

    u = residuals(dtype=np.float32)
    got = asrl_statistics(jnp.asarray(u), jnp.zeros(u.size), thresholds="toy")
    expected = ASRL(thresholds="toy").statistics(np.zeros_like(u), u)
    assert tuple(float(d) for d in got.deltas) == expected.deltas
    grad = jax.grad(lambda p: asrl_loss(p, jnp.zeros(u.size), thresholds="toy").sum())
    psi = ASRL().gradient(np.zeros_like(u), u, statistics=expected)
    np.testing.assert_allclose(np.asarray(jax.jit(grad)(jnp.asarray(u))), psi, rtol=1e-6)


# Dask: test_a_threshold_rule_registered_in_a_test_module_trains_on_the_workers in
# tests/test_dask.py trains ASRLDaskXGBRegressor(thresholds="toy") on the LocalCluster of
# worker processes that module starts, with this same rule (tests/toy_rule.py), and
# checks every round's thresholds against the single-machine loss.
