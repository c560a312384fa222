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
    delta = np.quantile(np.abs(u), 0.8)
    assert loss.statistics(np.zeros(101), u).delta == delta
    # ... and the gradient is Huber's with that delta.
    expected = np.clip(u, -delta, delta)
    np.testing.assert_array_equal(loss.gradient(np.zeros(101), u), expected)


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
def test_statistics_round_trip_as_values(name):
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=40), rng.normal(size=40)
    loss = get_loss(name)
    statistics = loss.statistics(y, p)
    if loss.Statistics is None:
        assert statistics is None
        return
    assert isinstance(statistics, loss.Statistics)
    for method in (loss.loss, loss.gradient):
        np.testing.assert_array_equal(method(y, p, statistics=statistics), method(y, p))
    # Held fixed, they no longer follow the residuals.
    assert not np.array_equal(
        loss.gradient(y, 3 * p, statistics=statistics), loss.gradient(y, 3 * p)
    )


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("weighted", [False, True])
def test_methods_leave_the_loss_unchanged(name, weighted):
    rng = np.random.default_rng(4)
    y, p = rng.normal(size=60), rng.normal(size=60)
    w = rng.integers(0, 3, 60).astype(float) if weighted else None
    loss = get_loss(name)
    before = {k: v for k, v in vars(loss).items()}
    statistics = loss.statistics(y, p, sample_weight=w)
    g, h = np.empty(60), np.empty(60)
    for kwargs in ({}, {"statistics": statistics} if statistics is not None else {}):
        loss.loss(y, p, sample_weight=w, **kwargs)
        loss.gradient(y, p, sample_weight=w, **kwargs)
        loss.gradient_hessian(y, p, sample_weight=w, **kwargs)
        loss.gradient_hessian(y, p, sample_weight=w, gradient_out=g, hessian_out=h, **kwargs)
        loss(y, p, sample_weight=w, **kwargs)
    loss.best_constant(y, sample_weight=w)
    assert vars(loss) == before


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_hessian_writes_into_the_buffers(name):
    rng = np.random.default_rng(5)
    y, p = rng.normal(size=30), rng.standard_t(2, 30)
    loss = get_loss(name)
    g, h = np.empty(30), np.empty(30)
    got = loss.gradient_hessian(y, p, sample_weight=np.full(30, 2.0), gradient_out=g, hessian_out=h)
    assert got[0] is g
    assert got[1] is h
    expected = loss.gradient_hessian(y, p, sample_weight=np.full(30, 2.0))
    np.testing.assert_array_equal(g, expected[0])
    np.testing.assert_array_equal(h, expected[1])
    with pytest.raises(ValueError, match="gradient_out must have shape"):
        loss.gradient_hessian(y, p, gradient_out=np.empty(29))


def test_statistics_of_another_loss_are_refused():
    y, p = np.zeros(5), np.arange(5.0)
    with pytest.raises(TypeError, match="takes statistics of type ASRLStatistics"):
        asrl.ASRL().gradient(y, p, statistics=AdaptiveHuber().statistics(y, p))
    with pytest.raises(TypeError, match="has no residual statistics"):
        SquaredError().gradient(y, p, statistics=asrl.ASRL().statistics(y, p))
    with pytest.raises(ValueError, match="needs scales"):
        asrl.ASRL(weights="stats").gradient(y, p, statistics=asrl.ASRL().statistics(y, p))


def test_loss_parameters_come_from_one_record():
    loss = asrl.ASRL(q_low=0.3)
    assert loss.params == asrl.params.ASRLParams(q_low=0.3)
    assert loss.q_low == 0.3
    assert loss.threshold_sample == 65536
    with pytest.raises(TypeError, match=r"unexpected parameter.*qlow.*its parameters: q_low"):
        asrl.ASRL(qlow=0.3)
