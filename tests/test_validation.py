"""Bad input gets a clear error; degenerate but valid input gets a defined answer."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from asrl import ASRL, LOSSES, ASRLStatistics, DeltaStatistics, get_loss


def all_losses():
    return [cls() for cls in LOSSES.values()] + [
        ASRL(thresholds="scale"),
        ASRL(weights="stats"),
        ASRL(hessian="exact"),
        ASRL(weights="stats", hessian="exact"),
    ]


LOSS_IDS = [repr(loss) for loss in all_losses()]


# -- constructor parameters -----------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q_low": 0.0}, "q_low must be in (0, 1); got 0.0"),
        ({"q_low": 1.5}, "q_low must be in (0, 1); got 1.5"),
        ({"q_high": float("nan")}, "q_high must be in (0, 1); got nan"),
        ({"q_low": 0.9, "q_high": 0.5}, "q_low must be < q_high; got q_low=0.9, q_high=0.5"),
        ({"c1": -1.0}, "c1 must be in (0, inf); got -1.0"),
        ({"c2": float("inf")}, "c2 must be in (0, inf); got inf"),
        ({"c1": 3.0, "c2": 2.0}, "c1 must be < c2; got c1=3.0, c2=2.0"),
        (
            {"thresholds": "median"},
            "thresholds must be one of 'quantile', 'scale', 'capped'; got 'median'",
        ),
        ({"weights": "equal"}, "weights must be one of 'continuous', 'stats'; got 'equal'"),
        ({"hessian": "newton"}, "hessian must be one of 'irls', 'exact', 'unit'; got 'newton'"),
        ({"min_hessian": 0.0}, "min_hessian must be in (0, 1]; got 0.0"),
    ],
)
def test_bad_parameters_name_the_parameter_range_and_value(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ASRL(**params)


@pytest.mark.parametrize("value", [True, "0.5", None, [0.5]])
def test_non_numbers_are_type_errors(value):
    with pytest.raises(TypeError, match="q_low must be a real number"):
        ASRL(q_low=value)


def test_parameters_are_keyword_only_and_round_trip():
    with pytest.raises(TypeError):
        ASRL(0.5, 0.9)  # type: ignore[misc]
    loss = ASRL(q_low=0.3, thresholds="scale", c2=5.0)
    assert ASRL(**loss.get_params()) == loss
    assert loss.thresholds == loss.params.thresholds == "scale"
    assert eval(repr(loss), {"ASRL": ASRL}) == loss


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown loss 'l2'; choose one of 'asrl', 'mse'"):
        get_loss("l2")


# -- arrays ---------------------------------------------------------------------------
@pytest.mark.parametrize("loss", all_losses(), ids=LOSS_IDS)
@pytest.mark.parametrize("where", ["y_true", "y_pred"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_an_error_with_count_and_first_index(loss, where, bad):
    y_true = np.zeros(10)
    y_pred = np.linspace(-1, 1, 10)
    target = y_true if where == "y_true" else y_pred
    target[[3, 7]] = bad
    message = f"{where} contains 2 non-finite values (NaN or inf); the first is at index 3."
    for method in (loss.loss, loss.gradient, loss.gradient_hessian, loss):
        with pytest.raises(ValueError, match=re.escape(message)):
            method(y_true, y_pred)


def test_first_index_of_a_2d_array_is_a_tuple():
    y = np.zeros((3, 4))
    y[1, 2] = np.nan
    with pytest.raises(
        ValueError, match=re.escape("1 non-finite value (NaN or inf); the first is at index (1, 2)")
    ):
        ASRL().loss(y, np.zeros((3, 4)))


def test_overflowing_residual_is_an_error():
    with pytest.raises(ValueError, match=r"1 overflowing residual .* overflows float64"):
        ASRL().loss(np.array([-1e308, 0.0]), np.array([1e308, 1.0]))


@pytest.mark.parametrize("loss", all_losses(), ids=LOSS_IDS)
def test_shape_mismatch_is_an_error(loss):
    with pytest.raises(ValueError, match=re.escape("same shape; got (5,) and (5, 1)")):
        loss.loss(np.zeros(5), np.zeros((5, 1)))


@pytest.mark.parametrize("loss", all_losses(), ids=LOSS_IDS)
def test_empty_input_is_an_error(loss):
    with pytest.raises(ValueError, match="empty"):
        loss.gradient(np.zeros(0), np.zeros(0))


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (np.ones(4), "sample_weight must have the same shape as y_true; got (4,) and (5,)"),
        (np.array([1, 1, -2, 1, -1.0]), "2 value(s) are negative, the first at index 2"),
        (np.array([1, 1, np.nan, 1, 1.0]), "sample_weight contains 1 non-finite value"),
        (np.array([1, np.inf, 1, 1, 1.0]), "sample_weight contains 1 non-finite value"),
        (np.zeros(5), "sample_weight sums to zero"),
    ],
)
@pytest.mark.parametrize("loss", all_losses(), ids=LOSS_IDS)
def test_bad_sample_weight_is_an_error(loss, weight, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        loss.gradient_hessian(np.zeros(5), np.arange(5.0), sample_weight=weight)


def test_bad_statistics_are_errors():
    with pytest.raises(ValueError, match=re.escape("delta1 <= delta2; got (2.0, 1.0)")):
        ASRLStatistics((2.0, 1.0))
    with pytest.raises(
        ValueError, match=re.escape("deltas[0] must be positive and finite; got 0.0")
    ):
        ASRLStatistics((0.0, 1.0))
    with pytest.raises(
        ValueError, match=re.escape("scales[2] must be positive and finite; got nan")
    ):
        ASRLStatistics((1.0, 2.0), (1.0, 1.0, float("nan")))
    with pytest.raises(TypeError, match="deltas must be a pair"):
        ASRLStatistics(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delta must be positive and finite; got -1"):
        DeltaStatistics(-1)


def test_complex_and_object_input_are_type_errors():
    with pytest.raises(TypeError, match="must be real"):
        ASRL().loss(np.zeros(2), np.ones(2) * 1j)
    with pytest.raises(TypeError, match="must be numeric"):
        ASRL().loss(np.zeros(2), np.array(["a", "b"], dtype=object))


# -- degenerate but valid input ---------------------------------------------------------
# Losses whose value stays finite for residuals near the dtype's maximum (log growth,
# or linear growth with a slope of at most 1). The others (squared error; adaptive
# Huber and pseudo-Huber, whose scale follows the outliers; the "stats" form, whose
# slope is 1 / IQR) truly exceed it.
BOUNDED_LOSSES = ("asrl", "mae", "huber", "pseudo-huber")


def is_bounded(loss):
    return loss.name in BOUNDED_LOSSES and getattr(loss, "weights", "continuous") == "continuous"


def finite_everything(loss, y_true, y_pred, weight=None, *, huge=False):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid / divide warnings either
        rho = loss.loss(y_true, y_pred, sample_weight=weight)
        g, h = loss.gradient_hessian(y_true, y_pred, sample_weight=weight)
        mean = loss(y_true, y_pred, sample_weight=weight)
    assert np.isfinite(g).all()
    assert np.isfinite(h).all()
    assert not np.isnan(rho).any()
    assert not np.isnan(mean)
    if not huge or is_bounded(loss):
        assert np.isfinite(rho).all()
        assert np.isfinite(mean)
    assert (h >= 0).all()
    assert (rho >= 0).all()
    return rho, g, h


DEGENERATE = {
    "all residuals zero": np.zeros(7),
    "one sample": np.array([3.0]),
    "one sample, zero": np.array([0.0]),
    "mostly zeros": np.array([0, 0, 0, 0, 0, 0, 0, 0, 0.5, -2.0]),
    "all equal": np.full(6, 2.5),
    "MAD zero": np.array([1.0, 1.0, 1.0, 1.0, 5.0, -3.0]),
    "delta1 == delta2": np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0]),
    "two values": np.array([-1.0, 1.0]),
    "huge outliers": np.array([0.1, -0.3, 0.2, 1e300, -1e300, 0.5, 0.05, -0.2]),
    "tiny": np.array([1e-300, -2e-300, 0.0, 5e-310]),
}


@pytest.mark.parametrize("loss", all_losses(), ids=LOSS_IDS)
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_input_has_a_defined_finite_answer(loss, case):
    u = DEGENERATE[case]
    huge = case == "huge outliers"
    finite_everything(loss, np.zeros_like(u), u, huge=huge)
    finite_everything(loss, np.zeros_like(u), u, weight=np.linspace(1, 3, u.size), huge=huge)


def test_degenerate_values_are_the_expected_ones():
    loss = ASRL()
    rho, g, h = finite_everything(loss, np.zeros(7), np.zeros(7))
    assert (rho == 0).all()
    assert (g == 0).all()
    assert (h == 1).all()
    rho, g, h = finite_everything(loss, np.zeros(1), np.array([3.0]))
    assert loss.statistics(np.zeros(1), np.array([3.0])).deltas == (3.0, 3.0)
    assert rho.tolist() == [4.5]
    assert g.tolist() == [3.0]
    assert h.tolist() == [1.0]
    # delta1 == delta2: no medium region; psi jumps straight to d1 d2 / u, continuously.
    loss = ASRL(q_high=0.8)
    rho, g, h = finite_everything(loss, np.zeros(7), DEGENERATE["delta1 == delta2"])
    assert loss.statistics(np.zeros(7), DEGENERATE["delta1 == delta2"]).deltas == (1.0, 1.0)
    assert g[-1] == pytest.approx(1 / 9)
    assert h[-1] == pytest.approx(1 / 81)


def test_huge_magnitudes_give_finite_gradient_and_curvature():
    # Residuals of 1e300 in every region: the gradient stays bounded by delta1, the
    # curvature in (0, 1]; only a loss value that itself exceeds 1.8e308 is inf.
    u = np.array([1e300, -2e300, 3e300, 5e299, -1e300])
    loss = ASRL()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g, h = loss.gradient_hessian(np.zeros(5), u)
    assert np.isfinite(g).all()
    assert np.isfinite(h).all()
    assert (h > 0).all()
    assert np.abs(g).max() <= loss.statistics(np.zeros(5), u).deltas[0]


def test_float32_huge_magnitudes():
    # Outliers near float32's maximum among ordinary residuals (thresholds stay small).
    u = np.random.default_rng(0).normal(size=20).astype(np.float32)
    u[[3, 11]] = [1e30, -3e38]
    for loss in all_losses():
        rho, g, h = finite_everything(loss, np.zeros_like(u), u, huge=True)
        assert rho.dtype == g.dtype == h.dtype == np.float32


def test_old_fixed_statistic_keywords_are_type_errors():
    with pytest.raises(TypeError, match="unexpected keyword argument 'deltas'"):
        ASRL().loss(np.zeros(2), np.ones(2), deltas=(1.0, 2.0))  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["huber-adaptive", "pseudo-huber-auto"])
def test_adaptive_baselines_accept_a_fixed_delta(name):
    u = np.array([0.5, -3.0, 10.0])
    loss = get_loss(name)
    fixed = loss.gradient(np.zeros(3), u, statistics=DeltaStatistics(1.0))
    plain = get_loss("huber" if name == "huber-adaptive" else "pseudo-huber", delta=1.0)
    np.testing.assert_array_equal(fixed, plain.gradient(np.zeros(3), u))


@pytest.mark.parametrize("name", ["asrl", "pseudo-huber-auto"])
def test_a_zero_weight_row_is_not_in_the_statistics_even_when_huge(name):
    loss = get_loss(name, weights="stats") if name == "asrl" else get_loss(name)
    u = np.array([0.5, -1.0, 2.0, 3.0, 1e300])
    w = np.array([1.0, 2.0, 1.0, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = loss.statistics(np.zeros(5), u, sample_weight=w)
    assert got == loss.statistics(np.zeros(4), u[:4], sample_weight=w[:4])
