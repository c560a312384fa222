"""Leaf refits: each new LightGBM leaf is refit to the minimiser of its rows' loss."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from asrl import ASRL, Huber
from asrl._boosting import refit_leaves, refits_leaves


def _leaf_objective(loss, statistics, u, w, l2, c):
    return float(np.sum(w * loss.residual_loss(u + c, statistics)) + 0.5 * l2 * c * c)


@pytest.mark.parametrize("l2", [0.0, 3.0])
def test_refit_values_minimise_each_leafs_weighted_loss(l2):
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(1)
    u = np.r_[rng.normal(size=300), rng.normal(40, 5, size=60)]  # outliers in every leaf
    w = rng.uniform(0.5, 2.0, size=len(u))
    leaves = rng.integers(0, 5, size=len(u))
    loss = ASRL(thresholds="capped")
    statistics = loss.residual_statistics(u, w)
    c = refit_leaves(
        loss, statistics, u, leaves, np.zeros(5), sample_weight=w, l2=l2, iterations=200
    )
    for leaf in range(5):
        rows = leaves == leaf
        best = minimize_scalar(
            lambda x, rows=rows: _leaf_objective(loss, statistics, u[rows], w[rows], l2, x),
            bracket=(-5.0, 5.0),
            options={"xtol": 1e-12},
        )
        mine = _leaf_objective(loss, statistics, u[rows], w[rows], l2, c[leaf])
        assert mine <= best.fun + 1e-9 * abs(best.fun)
        assert abs(c[leaf]) < 2  # the outliers at +40 do not drag the leaf


def test_each_refit_step_lowers_the_leaf_loss_and_few_steps_suffice():
    rng = np.random.default_rng(2)
    u = np.r_[rng.standard_t(2, size=200), np.full(30, -25.0)]
    leaves = np.zeros(len(u), dtype=np.intp)
    loss = ASRL()
    statistics = loss.residual_statistics(u)
    values = [_leaf_objective(loss, statistics, u, 1.0, 0.0, 0.0)]
    for k in range(1, 12):
        c = refit_leaves(loss, statistics, u, leaves, np.zeros(1), iterations=k)
        values.append(_leaf_objective(loss, statistics, u, 1.0, 0.0, c[0]))
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(values))  # the MM property
    assert values[8] - values[-1] <= 1e-6 * values[-1]  # a few steps do most of it


def test_which_losses_are_refit():
    assert refits_leaves(ASRL())
    assert refits_leaves(Huber())
    assert not refits_leaves(ASRL(hessian="unit"))
    assert not refits_leaves(ASRL(weights="stats"))


lgb = pytest.importorskip("lightgbm")


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 3 * X[:, 0] + np.sin(2 * X[:, 1]) + rng.normal(size=n)
    y[rng.choice(n, n // 5, replace=False)] += 25.0  # one-sided outliers
    return X, y


def test_every_lightgbm_tree_holds_the_exact_leaf_values_of_its_rows():
    from asrl.lightgbm import ASRLLGBMRegressor

    X, y = _data()
    model = ASRLLGBMRegressor(
        thresholds="capped", leaf_refit=True, n_estimators=15, num_leaves=8, n_jobs=1, verbose=-1
    ).fit(X, y)
    assert model.leaf_refit_
    booster, rate = model.booster_, model.learning_rate
    for tree in range(booster.num_trees()):
        before = booster.predict(X, num_iteration=tree) if tree else np.full(len(y), model.start_)
        leaves = booster.predict(X, start_iteration=tree, num_iteration=1, pred_leaf=True)
        leaves = leaves.reshape(-1).astype(np.intp)
        stored = np.array([booster.get_leaf_output(tree, i) for i in range(leaves.max() + 1)])
        if tree == 0:
            stored = stored - model.start_  # the start is folded into the first tree
        exact = refit_leaves(
            ASRL(thresholds="capped"),
            model.statistics_history_[tree],
            before - y,
            leaves,
            stored / rate,
            iterations=50,
        )
        # 8 IRLS steps from LightGBM's value come within 1e-3 of the residual scale
        # of the minimiser (IRLS is linear); 50 steps give the minimiser itself
        scale = np.max(np.abs(before - y))
        np.testing.assert_allclose(stored / rate, exact, rtol=0, atol=1e-3 * scale)
        refit_again = refit_leaves(
            ASRL(thresholds="capped"),
            model.statistics_history_[tree],
            before - y,
            leaves,
            exact,
            iterations=50,
        )
        np.testing.assert_allclose(refit_again, exact, rtol=0, atol=1e-7 * scale)


def test_refit_is_off_by_default_and_refused_where_it_cannot_be_honoured():
    from asrl.lightgbm import ASRLLGBMRegressor

    X, y = _data(200)
    common = {"n_estimators": 5, "n_jobs": 1, "verbose": -1}
    assert not ASRLLGBMRegressor(**common).fit(X, y).leaf_refit_
    assert ASRLLGBMRegressor().get_params()["leaf_refit"] is False
    assert ASRLLGBMRegressor(leaf_refit=True, **common).fit(X, y).leaf_refit_
    with pytest.raises(ValueError, match=r"leaf_refit=True cannot be honoured with validation"):
        ASRLLGBMRegressor(leaf_refit=True, **common).fit(X, y, eval_set=[(X, y)])
    with pytest.raises(ValueError, match="cannot be honoured with monotone constraints"):
        ASRLLGBMRegressor(leaf_refit=True, monotone_constraints=[1, 0, 0, 0], **common).fit(X, y)
    with pytest.raises(ValueError, match="with loss='asrl' with a curvature other than"):
        ASRLLGBMRegressor(leaf_refit=True, hessian="unit", **common).fit(X, y)
    with pytest.raises(ValueError, match="leaf_refit must be True or False"):
        ASRLLGBMRegressor(leaf_refit="auto", **common).fit(X, y)


def test_leaves_are_read_from_the_change_of_the_scores():
    from asrl.lightgbm import _leaves_from_step

    X, y = _data(3000, seed=3)
    booster = lgb.train(
        {"objective": "l2", "num_leaves": 31, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, y, init_score=np.full(len(y), 1e4)),  # large scores: rounding bites
        num_boost_round=20,
    )
    scores = np.full(len(y), 1e4)
    for tree in range(booster.num_trees()):
        grown = np.array(
            [
                booster.get_leaf_output(tree, leaf)
                for leaf in range(booster.dump_model()["tree_info"][tree]["num_leaves"])
            ]
        )
        truth = booster.predict(X, start_iteration=tree, num_iteration=1, pred_leaf=True)
        after = scores + grown[truth.reshape(-1)]
        leaves = _leaves_from_step(after - scores, grown, after)
        assert leaves is not None
        np.testing.assert_array_equal(leaves, truth.reshape(-1))
        scores = after
