"""A threshold rule added here, in one function and one registry line, works everywhere.

The toy rule takes fixed quantiles 0.3 and 0.8 of |u|. Nothing in the package knows
it; the loss, every booster, the linear model, torch, jax and Dask run it unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from asrl import ASRL, THRESHOLD_RULES
from asrl.core.rules import Quantiles, ordered_thresholds


def toy_rule(params, ops):
    """Thresholds at the 0.3 and 0.8 quantiles of |u|, whatever q_low and q_high say."""
    d1, d2, largest = yield Quantiles((0.3, 0.8))
    return ordered_thresholds(d1, d2, largest, ops)


THRESHOLD_RULES["toy"] = toy_rule


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
