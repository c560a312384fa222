"""The registry, the baselines' conventions, the package's import cost and the demo."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import asrl
from asrl import LOSSES, AdaptiveHuber, BaseLoss, SquaredError, get_loss
from asrl.cli import main
from asrl.demo import run_demo


def test_registry_names_match_classes():
    assert set(LOSSES) == {
        "asrl",
        "mse",
        "mae",
        "huber",
        "huber-adaptive",
        "pseudo-huber",
        "pseudo-huber-auto",
    }
    for name, cls in LOSSES.items():
        loss = get_loss(name)
        assert isinstance(loss, BaseLoss)
        assert type(loss) is cls
        assert loss.name == name
        assert type(loss)(**loss.get_params()) == loss


def test_get_loss_passes_objects_through_and_refuses_params_with_them():
    loss = asrl.ASRL(q_low=0.3)
    assert get_loss(loss) is loss
    with pytest.raises(TypeError, match="parameters can only be given with a loss name"):
        get_loss(loss, q_low=0.4)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_has_the_method_family(name):
    loss = get_loss(name)
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    p = y + rng.standard_t(2, 50)
    rho = loss.loss(y, p)
    g, h = loss.gradient_hessian(y, p)
    np.testing.assert_array_equal(g, loss.gradient(y, p))
    assert loss(y, p) == pytest.approx(rho.mean())
    assert rho.shape == g.shape == h.shape == y.shape
    assert (h > 0).all()
    assert np.isfinite(loss.best_constant(y))
    assert isinstance(loss.continuous, bool)
    assert isinstance(loss.approx_hessian, bool)


def test_best_constant_mean_for_squared_error_median_for_the_rest():
    y = np.array([0.0, 1.0, 2.0, 100.0])
    w = np.array([1.0, 1.0, 1.0, 5.0])
    assert SquaredError().best_constant(y) == pytest.approx(25.75)
    assert SquaredError().best_constant(y, sample_weight=w) == pytest.approx(503 / 8)
    for name in LOSSES:
        if name != "mse":
            assert get_loss(name).best_constant(y) == 1.5
            assert get_loss(name).best_constant(y, sample_weight=w) > 1.5


def test_adaptive_huber_follows_scikit_learns_rule():
    # scikit-learn's GradientBoostingRegressor(loss="huber") uses the alpha-quantile of |u|.
    u = np.random.default_rng(3).standard_t(3, 101)
    loss = AdaptiveHuber(alpha=0.8)
    loss.gradient(np.zeros(101), u)
    assert loss.delta_ == np.quantile(np.abs(u), 0.8)


def test_import_asrl_is_light():
    code = (
        "import sys, asrl; heavy = {'xgboost', 'torch', 'jax', 'dask', 'lightgbm', 'catboost',"
        " 'sklearn', 'scipy', 'pandas'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_demo_ranks_robust_losses_above_squared_error_under_outliers():
    results = {r.loss: r for r in run_demo(n=300, contamination=0.2, seed=2)}
    assert results["asrl"].r2 > results["mse"].r2 + 0.05
    assert results["asrl"].coef_error < results["mse"].coef_error / 2


def test_cli_demo_prints_a_table():
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["demo", "--n", "200", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "test R^2" in result.output
    for name in LOSSES:
        assert name in result.output


@pytest.mark.parametrize("name", list(LOSSES))
def test_statistics_round_trip_as_fixed_keywords(name):
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=40), rng.normal(size=40)
    loss = get_loss(name)
    fixed = loss.statistics(y, p)
    assert set(fixed) <= set(loss.fixed_statistics)
    np.testing.assert_array_equal(loss.gradient(y, p, **fixed), loss.gradient(y, p))
    # Held fixed, they no longer follow the residuals.
    if fixed:
        assert not np.array_equal(loss.gradient(y, 3 * p, **fixed), loss.gradient(y, 3 * p))
