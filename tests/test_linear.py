"""asrl.linear.ASRLLinearRegressor: IRLS fit, its guarantees, sklearn compatibility, robustness."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install asrl[sklearn])")

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import HuberRegressor, LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from asrl import ASRL, ASRLStatistics, get_loss
from asrl.linear import (
    _ASRL_DEFAULTS,
    ASRLLinearRegressor,
    _Problem,
    _solve_normal,
    _solve_svd,
)


def make_data(seed, n=300, p=5, contamination=0.2, leverage=False):
    """Linear data with unit normal noise; a share of labels moved by 20 to 40 sigma.

    With ``leverage`` the contaminated rows also get their features shifted (bad
    leverage points), which M-estimators resist far less well.
    """
    rng = np.random.default_rng(seed)
    beta = rng.normal(0, 2, p)
    X = rng.normal(size=(n, p))
    y = 1.0 + X @ beta + rng.normal(size=n)
    bad = rng.random(n) < contamination
    y[bad] += rng.choice([-1.0, 1.0], bad.sum()) * rng.uniform(20, 40, bad.sum())
    if leverage:
        X[bad] += rng.normal(0, 5, (bad.sum(), p))
    return X, y, beta


# --------------------------------------------------------------------------------------
# scikit-learn's estimator checks
# --------------------------------------------------------------------------------------

# Sample weights are frequencies: the thresholds are frequency-weighted quantiles, so
# check_sample_weight_equivalence passes for every loss (docs/maths.md).
CHECKED = [
    ASRLLinearRegressor(),
    ASRLLinearRegressor(thresholds="scale", alpha=0.1),
    ASRLLinearRegressor(loss="huber-adaptive", alpha=1.0, fit_intercept=False),
    ASRLLinearRegressor(loss="mse", alpha=1.0),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_defaults_match_the_loss():
    signature = inspect.signature(ASRL).parameters
    ours = inspect.signature(ASRLLinearRegressor.__init__).parameters
    for name, default in _ASRL_DEFAULTS.items():
        assert signature[name].default == default == ours[name].default


# --------------------------------------------------------------------------------------
# The IRLS iteration
# --------------------------------------------------------------------------------------


@st.composite
def regression_problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 40))
    p = draw(st.integers(1, 6))
    X = rng.normal(size=(n, p)) * rng.choice([1e-3, 1.0, 1e3], p)
    y = X @ rng.normal(size=p) + rng.standard_t(1.5, n) * draw(st.sampled_from([1e-3, 1.0, 1e4]))
    if draw(st.booleans()):
        y = np.round(y)  # ties and exact zeros in the residuals
    weight = None
    if draw(st.booleans()):
        weight = rng.integers(0, 4, n).astype(float)
        weight[0] = 1.0  # not all zero
    coef = rng.normal(size=p) * draw(st.sampled_from([0.0, 1.0, 100.0]))
    intercept = float(rng.normal()) * draw(st.sampled_from([0.0, 1.0, 100.0]))
    return X, y, weight, coef, intercept


losses = st.sampled_from(
    [
        ASRL(),
        ASRL(thresholds="scale"),
        ASRL(q_low=0.1, q_high=0.5),
        get_loss("huber-adaptive", alpha=0.7),
        get_loss("huber", delta=0.5),
    ]
)


@given(
    problem=regression_problems(),
    loss=losses,
    alpha=st.sampled_from([0.0, 0.1, 10.0]),
    fit_intercept=st.booleans(),
)
def test_irls_step_never_increases_the_objective_for_fixed_thresholds(
    problem, loss, alpha, fit_intercept
):
    # The quadratic with curvature psi(u)/u majorizes the loss and touches it at the
    # current residuals, so minimising it (one weighted least-squares solve) cannot
    # increase the penalised objective while the thresholds stay where they were.
    X, y, weight, coef, intercept = problem
    if not fit_intercept:
        intercept = 0.0
    problem = _Problem(loss, X, y, weight, alpha, fit_intercept)
    new_coef, new_intercept, fixed = problem.step(coef, intercept)
    if isinstance(loss, ASRL):
        assert isinstance(fixed, ASRLStatistics)
    before = problem.objective(coef, intercept, fixed)
    after = problem.objective(new_coef, new_intercept, fixed)
    assert after <= before * (1 + 1e-9) + 1e-300


def test_irls_step_uses_thresholds_of_the_current_residuals():
    X, y, _ = make_data(0)
    loss = ASRL()
    coef, intercept = np.ones(X.shape[1]), 0.5
    _, _, fixed = _Problem(loss, X, y, None, 0.0, True).step(coef, intercept)
    assert fixed == loss.statistics(y, X @ coef + intercept)


def test_fit_solves_the_estimating_equations():
    # At the fixed point the gradient of the penalised objective is zero with the
    # thresholds of the fitted residuals held fixed.
    X, y, _ = make_data(1, leverage=True)
    weight = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    model = ASRLLinearRegressor(alpha=3.0, tol=1e-12, max_iter=2000)
    model.fit(X, y, sample_weight=weight)
    g = ASRL().gradient(y, model.predict(X), sample_weight=weight, statistics=model.statistics_)
    scale = np.abs(X).T @ np.abs(g)
    np.testing.assert_allclose(X.T @ g + 3.0 * model.coef_, 0.0, atol=1e-8 * scale.max())
    assert abs(g.sum()) <= 1e-8 * np.abs(g).sum()


def test_the_loop_stops_at_tol_and_counts_iterations():
    X, y, _ = make_data(2)
    loose = ASRLLinearRegressor(tol=1e-2).fit(X, y)
    tight = ASRLLinearRegressor(tol=1e-10).fit(X, y)
    assert 1 <= loose.n_iter_ < tight.n_iter_ <= 300
    np.testing.assert_allclose(loose.coef_, tight.coef_, rtol=0.05, atol=0.05)


def test_warns_when_max_iter_is_reached():
    X, y, _ = make_data(3)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2"):
        model = ASRLLinearRegressor(max_iter=2).fit(X, y)
    assert model.n_iter_ == 2


def test_robust_start_is_the_weighted_median():
    # One step from the start: with zero coefficients and the median intercept, the
    # first thresholds are those of y - median(y).
    X, y, _ = make_data(4)
    weight = np.random.default_rng(4).uniform(0.1, 3.0, len(y))
    with pytest.warns(ConvergenceWarning):
        model = ASRLLinearRegressor(max_iter=1).fit(X, y, sample_weight=weight)
    loss = ASRL()
    start = loss.best_constant(y, sample_weight=weight)
    problem = _Problem(loss, X, y, weight, 0.0, True)
    expected, expected_intercept, _ = problem.step(np.zeros(X.shape[1]), start)
    np.testing.assert_allclose(model.coef_, expected, rtol=1e-12)
    assert model.intercept_ == pytest.approx(expected_intercept, rel=1e-12)


def test_warm_start_continues_from_the_previous_fit():
    X, y, _ = make_data(5)
    model = ASRLLinearRegressor(warm_start=True, tol=1e-10).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_ <= 2
    np.testing.assert_allclose(model.coef_, first, rtol=1e-8)
    with pytest.raises(ValueError, match="previous fit had 5 features, X has 4"):
        model.fit(X[:, :4], y)
    # A least-squares start, should a user want one: fit with loss="mse", then refit.
    model = ASRLLinearRegressor(loss="mse", warm_start=True).fit(X, y)
    model.set_params(loss="asrl").fit(X, y)
    np.testing.assert_allclose(model.coef_, first, rtol=1e-4)


# --------------------------------------------------------------------------------------
# What the fit must satisfy
# --------------------------------------------------------------------------------------


def test_recovers_an_exact_linear_model():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 3))
    y = 2.0 + X @ [1.0, -2.0, 0.5]
    model = ASRLLinearRegressor().fit(X, y)
    np.testing.assert_allclose(model.coef_, [1.0, -2.0, 0.5], rtol=1e-9)
    assert model.intercept_ == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("thresholds", ["quantile", "scale"])
@pytest.mark.parametrize("alpha", [0.0, 5.0])
@pytest.mark.parametrize("k", [1e-3, 7.0, 1e5])
def test_scale_equivariance(thresholds, alpha, k):
    X, y, _ = make_data(7, n=120, p=3)
    params = {"thresholds": thresholds, "alpha": alpha, "tol": 1e-12, "max_iter": 2000}
    base = ASRLLinearRegressor(**params).fit(X, y)
    scaled = ASRLLinearRegressor(**params).fit(X, k * y)
    np.testing.assert_allclose(scaled.coef_, k * base.coef_, rtol=1e-8)
    assert scaled.intercept_ == pytest.approx(k * base.intercept_, rel=1e-8)
    np.testing.assert_allclose(
        scaled.statistics_.deltas, np.multiply(k, base.statistics_.deltas), rtol=1e-8
    )


def test_regression_and_shift_equivariance():
    # Adding a linear function of X to y adds its coefficients to the fit.
    X, y, _ = make_data(8, n=120, p=3)
    params = {"tol": 1e-12, "max_iter": 2000}
    base = ASRLLinearRegressor(**params).fit(X, y)
    moved = ASRLLinearRegressor(**params).fit(X, y + 3.0 + X @ [1.0, 2.0, -4.0])
    np.testing.assert_allclose(moved.coef_, base.coef_ + np.array([1.0, 2.0, -4.0]), rtol=1e-8)
    assert moved.intercept_ == pytest.approx(base.intercept_ + 3.0, rel=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_mse_with_penalty_is_ridge(fit_intercept):
    X, y, _ = make_data(9, n=80, p=4)
    weight = np.random.default_rng(9).uniform(0.0, 2.0, len(y))
    model = ASRLLinearRegressor(loss="mse", alpha=2.5, fit_intercept=fit_intercept)
    model.fit(X, y, sample_weight=weight)
    ridge = Ridge(alpha=2.5, fit_intercept=fit_intercept).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(model.coef_, ridge.coef_, rtol=1e-10)
    assert model.intercept_ == pytest.approx(ridge.intercept_, rel=1e-10, abs=1e-12)
    assert model.n_iter_ <= 2


def test_zero_weights_equal_dropping_the_rows():
    X, y, _ = make_data(10, n=100)
    weight = np.random.default_rng(10).uniform(0.5, 2.0, len(y))
    weight[::3] = 0.0
    keep = weight > 0
    params = {"tol": 1e-12, "max_iter": 2000}
    full = ASRLLinearRegressor(**params).fit(X, y, sample_weight=weight)
    kept = ASRLLinearRegressor(**params).fit(X[keep], y[keep], sample_weight=weight[keep])
    np.testing.assert_allclose(full.coef_, kept.coef_, rtol=1e-9)
    assert full.intercept_ == pytest.approx(kept.intercept_, rel=1e-9)


def test_weights_change_the_fit():
    # Down-weighting the rows of one regime moves the fit to the other one.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 1))
    y = np.where(np.arange(200) < 100, 1.0, -1.0) * X[:, 0] + 0.1 * rng.normal(size=200)
    weight = np.where(np.arange(200) < 100, 1.0, 0.01)
    assert ASRLLinearRegressor().fit(X, y, sample_weight=weight).coef_[0] > 0.9
    assert ASRLLinearRegressor().fit(X, y, sample_weight=weight[::-1]).coef_[0] < -0.9


def test_rank_deficient_X_gets_the_minimum_norm_solution():
    X, y, _ = make_data(12, n=100, p=2)
    single = ASRLLinearRegressor(tol=1e-12).fit(X, y)
    doubled = ASRLLinearRegressor(tol=1e-12).fit(np.column_stack([X, X[:, 1]]), y)
    np.testing.assert_allclose(
        doubled.coef_, [single.coef_[0], single.coef_[1] / 2, single.coef_[1] / 2], rtol=1e-8
    )
    np.testing.assert_allclose(doubled.predict(np.column_stack([X, X[:, 1]])), single.predict(X))
    zero_column = ASRLLinearRegressor().fit(np.column_stack([X, np.zeros(100)]), y)
    assert zero_column.coef_[2] == 0.0


@pytest.mark.parametrize("alpha", [0.0, 3.0])
def test_cholesky_and_svd_agree_and_collinearity_goes_to_the_svd(alpha):
    rng = np.random.default_rng(19)
    X = rng.normal(size=(200, 4)) * [1e-4, 1.0, 1e4, 1.0]  # units differ, not collinear
    y = rng.normal(size=200)
    weight = rng.uniform(0.0, 2.0, 200)
    by_cholesky = _solve_normal(X, y, weight, alpha)
    assert by_cholesky is not None
    np.testing.assert_allclose(by_cholesky, _solve_svd(X, y, weight, alpha), rtol=1e-9)
    X[:, 3] = X[:, 1] + 1e-9 * rng.normal(size=200)  # condition number ~1e9
    if alpha == 0:
        assert _solve_normal(X, y, weight, alpha) is None


@pytest.mark.parametrize("value", [0.0, -3.5, 1e300])
def test_constant_target(value):
    X = np.random.default_rng(13).normal(size=(20, 3))
    model = ASRLLinearRegressor().fit(X, np.full(20, value))
    assert model.n_iter_ == 1
    np.testing.assert_array_equal(model.coef_, 0.0)
    assert model.intercept_ == value
    assert all(np.isfinite(model.statistics_.deltas))


def test_a_single_sample():
    model = ASRLLinearRegressor().fit([[1.0, 2.0]], [3.0])
    np.testing.assert_array_equal(model.coef_, 0.0)
    assert model.intercept_ == 3.0
    assert model.predict([[5.0, -1.0]]).tolist() == [3.0]


def test_without_intercept_the_fit_goes_through_the_origin():
    X, y, _ = make_data(14, contamination=0.0)
    model = ASRLLinearRegressor(fit_intercept=False).fit(X, y - 1.0)
    assert model.intercept_ == 0.0
    np.testing.assert_allclose(model.predict(np.zeros((1, 5))), 0.0)


def test_float32_and_integer_input():
    X, y, _ = make_data(15, n=60, p=2)
    ref = ASRLLinearRegressor().fit(X.astype(np.float32), y.astype(np.float32))
    assert ref.coef_.dtype == np.float64
    assert ASRLLinearRegressor().fit(np.round(X).astype(int), np.round(y).astype(int)).n_iter_ > 0


def test_huber_adaptive_by_the_same_irls():
    X, y, beta = make_data(16)
    model = ASRLLinearRegressor(loss="huber-adaptive", loss_params={"alpha": 0.8}).fit(X, y)
    ols = LinearRegression().fit(X, y)
    residuals = model.predict(X) - y
    assert model.statistics_.delta == np.quantile(np.abs(residuals), 0.8)
    assert np.linalg.norm(model.coef_ - beta) < np.linalg.norm(ols.coef_ - beta) / 3


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"alpha": -1.0}, ValueError, r"alpha must be in \[0, inf\)"),
        ({"alpha": float("nan")}, ValueError, "alpha must be in"),
        ({"alpha": "big"}, TypeError, "alpha must be a real number"),
        ({"tol": -1e-3}, ValueError, "tol must be in"),
        ({"max_iter": 0}, ValueError, "max_iter must be an int >= 1; got 0"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be an int"),
        ({"max_iter": True}, TypeError, "max_iter must be an int"),
        ({"q_low": 1.5}, ValueError, r"q_low must be in \(0, 1\)"),
        ({"q_low": 0.9, "q_high": 0.5}, ValueError, "q_low must be < q_high"),
        ({"thresholds": "iqr"}, ValueError, "thresholds must be one of"),
        ({"c1": 4.0}, ValueError, "c1 must be < c2"),
        ({"loss": "mae"}, ValueError, "loss must be one of 'asrl', 'huber'"),
        ({"loss": "pseudo-huber"}, ValueError, "a loss with an IRLS weight"),
        ({"loss_params": {"delta": 1.0}}, ValueError, "loss_params is for losses other"),
        ({"loss": "huber", "q_high": 0.8}, ValueError, "q_high is an ASRL parameter"),
        ({"loss": "huber", "loss_params": {"hessian": "exact"}}, ValueError, "IRLS needs"),
        ({"loss": "huber", "loss_params": {"delta": -1.0}}, ValueError, "delta must be in"),
    ],
)
def test_bad_parameters_are_refused_at_fit(params, error, match):
    model = ASRLLinearRegressor(**params)  # stored unchanged, checked in fit
    with pytest.raises(error, match=match):
        model.fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])


def test_bad_input_is_refused():
    X, y = np.arange(6.0).reshape(3, 2), np.arange(3.0)
    model = ASRLLinearRegressor()
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(X, y[:2])
    with pytest.raises(ValueError, match=r"same shape as y_true; got \(2,\) and \(3,\)"):
        model.fit(X, y, sample_weight=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"1 value\(s\) are negative, the first at index 1"):
        model.fit(X, y, sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        model.fit(X, y, sample_weight=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="0 sample"):
        model.fit(np.empty((0, 2)), np.empty(0))
    model.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(np.ones((2, 3)))


# --------------------------------------------------------------------------------------
# In scikit-learn's machinery
# --------------------------------------------------------------------------------------


def test_pipeline_grid_search_clone_and_pickle():
    X, y, _ = make_data(17, n=150, p=3)
    pipe = make_pipeline(StandardScaler(), ASRLLinearRegressor())
    search = GridSearchCV(
        pipe,
        {
            "asrllinearregressor__thresholds": ["quantile", "scale"],
            "asrllinearregressor__alpha": [0.0, 1.0],
        },
        cv=3,
    ).fit(X, y)
    assert set(search.best_params_) == {
        "asrllinearregressor__thresholds",
        "asrllinearregressor__alpha",
    }
    model = ASRLLinearRegressor(q_high=0.8).fit(X, y)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "coef_")
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert restored.statistics_ == model.statistics_


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y, _ = make_data(18, n=60, p=2)
    frame = pd.DataFrame(X, columns=["size", "age"])
    model = ASRLLinearRegressor().fit(frame, pd.Series(y))
    assert model.feature_names_in_.tolist() == ["size", "age"]
    np.testing.assert_allclose(model.predict(frame), X @ model.coef_ + model.intercept_)
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)


# --------------------------------------------------------------------------------------
# Against HuberRegressor and statsmodels' RLM with Hampel's norm
# --------------------------------------------------------------------------------------

SCENARIOS = {
    "clean": {"contamination": 0.0},
    "20% y-outliers": {"contamination": 0.2},
    "20% bad leverage": {"contamination": 0.2, "leverage": True},
}
SEEDS = range(10)


def coefficient_errors(scenario):
    """Mean over seeds of |coef - beta|_2 for each method, on one scenario."""
    sm = pytest.importorskip("statsmodels.api")
    errors = {}
    for seed in SEEDS:
        X, y, beta = make_data(seed, **SCENARIOS[scenario])
        fits = {
            "OLS": LinearRegression().fit(X, y).coef_,
            "HuberRegressor": HuberRegressor(alpha=0.0, max_iter=1000).fit(X, y).coef_,
            "RLM(Hampel)": sm.RLM(y, sm.add_constant(X), M=sm.robust.norms.Hampel())
            .fit()
            .params[1:],
            "ASRL": ASRLLinearRegressor().fit(X, y).coef_,
            "ASRL scale": ASRLLinearRegressor(thresholds="scale").fit(X, y).coef_,
        }
        for name, coef in fits.items():
            errors.setdefault(name, []).append(float(np.linalg.norm(coef - beta)))
    return {name: float(np.mean(values)) for name, values in errors.items()}


def test_comparison_with_huber_and_hampel():
    # Run with -s to see the table (docs/linear.md quotes it).
    table = {scenario: coefficient_errors(scenario) for scenario in SCENARIOS}
    names = list(table["clean"])
    print(f"\nmean |coef - beta|_2 over {len(SEEDS)} seeds (n=300, p=5)")
    print(f"{'scenario':<18}" + "".join(f"{name:>16}" for name in names))
    for scenario, errors in table.items():
        print(f"{scenario:<18}" + "".join(f"{errors[name]:>16.4f}" for name in names))
    for scenario, errors in table.items():
        best = min(errors["HuberRegressor"], errors["RLM(Hampel)"])
        assert errors["ASRL"] <= 1.5 * best, scenario
        assert errors["ASRL scale"] <= 1.1 * best, scenario
        if scenario != "clean":
            assert errors["ASRL"] <= errors["OLS"] / 5, scenario
