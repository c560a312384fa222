"""The benchmark's data hygiene, dataset names and hashes, loss names and scenarios."""

from __future__ import annotations

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from asrl.bench.config import PRESETS, SCENARIOS, SUITES, BenchConfig  # noqa: E402
from asrl.bench.data import EMBEDDED, dataset_names, load_dataset  # noqa: E402
from asrl.bench.losses import (  # noqa: E402
    NATIVE,
    default_losses,
    linear_skip_reason,
    parse_loss,
    parse_losses,
    skip_reason,
)
from asrl.bench.scenarios import contaminate, leverage, shift_features, splits  # noqa: E402


def _csv(tmp_path, frame, name="d.csv", **kwargs):
    path = tmp_path / name
    frame.to_csv(path, **kwargs)
    return str(path)


def test_hygiene_drops_id_like_columns_and_says_so(tmp_path):
    n = 60
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),  # numbers the rows: dropped
            "year": np.arange(1, n + 1),  # the same values, but a feature by its name: kept
            "name": [f"item {i}" for i in range(n)],  # one value per row: dropped
            "pairs": [f"p{i // 2}" for i in range(n)],  # each value twice: dropped
            "colour": rng.choice(["red", "blue", "green"], n),  # a category: kept
            "size": [str(v) if i % 10 else "?" for i, v in enumerate(rng.normal(size=n))],
            "t": rng.normal(size=n),
        }
    )
    path = _csv(tmp_path, frame)  # written with its index, as "Unnamed: 0"
    data = load_dataset(path, "t")
    assert list(data.X.columns) == ["year", "colour", "size"]
    assert data.dropped == ("Unnamed: 0", "id", "name", "pairs")
    assert data.categorical == ["colour"]
    assert data.X["size"].isna().sum() == 6  # the "?" markers became missing values
    notes = " | ".join(data.notes)
    assert "column size: numbers with 6 non-numeric value(s) (?) read as missing" in notes
    assert "dropped Unnamed: 0, id: numbers the rows" in notes
    assert "name (60 values in 60 rows), pairs (30 values in 60 rows)" in notes
    kept = load_dataset(path, "t", keep_columns=True, drop=("colour",))
    assert "name" in kept.X.columns
    assert "colour" not in kept.X.columns
    assert kept.dropped == ("colour",)
    assert "dropped colour (--drop)" in kept.notes


def test_targets_that_cannot_be_predicted_are_errors(tmp_path):
    base = pd.DataFrame({"a": np.arange(30.0), "t": np.linspace(0, 1, 30)})
    with pytest.raises(ValueError, match=r"--target s of .* is not numeric \(e\.g\. 'x'\)"):
        load_dataset(_csv(tmp_path, base.assign(s="x")), "s")
    with pytest.raises(ValueError, match="has no numeric value in any row"):
        load_dataset(_csv(tmp_path, base.assign(t=np.nan)), "t")
    with pytest.raises(ValueError, match="is constant"):
        load_dataset(_csv(tmp_path, base.assign(t=2.0)), "t")
    mostly = base.assign(t=base["t"].astype(str).where(base.index > 0, "n/a"))
    data = load_dataset(_csv(tmp_path, mostly), "t")  # one marker: that row is dropped
    assert len(data.y) == 29
    assert "dropped 1 rows with a missing or non-numeric target" in data.notes


def test_names_are_distinct_and_hashes_follow_the_content(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    frame = pd.DataFrame({"a": np.arange(30.0), "t": np.arange(30.0) ** 2})
    first = _csv(tmp_path, frame, "a/data.csv", index=False)
    second = _csv(tmp_path, frame.assign(t=frame["t"] + 1), "b/data.csv", index=False)
    assert dataset_names((first, second)) == ["a/data", "b/data"]
    assert dataset_names(("diabetes", first)) == ["diabetes", "data"]
    with pytest.raises(ValueError, match=r"lists .* twice"):
        dataset_names((first, str(tmp_path / "a" / ".." / "a" / "data.csv")))
    a, b = load_dataset(first, "t"), load_dataset(second, "t")
    assert a.digest != b.digest
    assert load_dataset(first, "t").digest == a.digest
    assert load_dataset(first, "t", max_rows=20).digest != a.digest


def test_loss_names_use_the_typed_records():
    spec = parse_loss("asrl[q_low=1e-1,threshold_sample=none,min_hessian=1e-3]")
    assert spec.params == {"q_low": 0.1, "min_hessian": 0.001, "threshold_sample": None}
    assert json.loads(spec.params_json())["threshold_sample"] is None
    assert parse_loss("asrl[threshold_sample=65536]").params == {}  # the default
    assert parse_loss("huber-adaptive[alpha=0.8]").params == {"alpha": 0.8}
    assert parse_loss("huber").scaled_delta
    assert not parse_loss("huber[delta=2]").scaled_delta
    with pytest.raises(ValueError, match="threshold_sample must be an integer or none"):
        parse_loss("asrl[threshold_sample=1e5]")
    with pytest.raises(ValueError, match="lists mse twice"):
        parse_losses(("mse", "mae", "mse"))
    reasons = {
        name: linear_skip_reason(parse_loss(name))
        for name in ("mse", "huber[delta=2]", "asrl-scale", "pseudo-huber", "asrl-unit")
    }
    assert reasons["mse"] is reasons["huber[delta=2]"] is reasons["asrl-scale"] is None
    assert "IRLS" in reasons["pseudo-huber"]
    assert "curvature" in reasons["asrl-unit"]


def test_full_runs_every_scenario_and_validation_names_the_option():
    assert PRESETS["full"]["scenarios"] == SCENARIOS
    assert BenchConfig(**PRESETS["full"]).validate().scenarios == SCENARIOS
    with pytest.raises(ValueError, match="--scenario must be among"):
        BenchConfig(scenarios=("random", "worst")).validate()
    with pytest.raises(ValueError, match=r"--contamination values must be in \[0, 0\.5\)"):
        BenchConfig(contamination=(0.0, 0.5)).validate()


def test_random_scenario_keeps_the_papers_draws():
    y = np.random.default_rng(0).normal(size=200)
    noisy, bad = contaminate(y, 0.1, "symmetric", np.random.default_rng(7))
    rng = np.random.default_rng(7)  # the protocol as first written
    rows = rng.choice(200, 20, replace=False)
    expected = y.copy()
    expected[np.sort(rows)] += rng.choice([-1.0, 1.0], 20) * rng.uniform(3, 6, 20) * y.std()
    assert np.array_equal(bad, np.isin(np.arange(200), rows))
    np.testing.assert_array_equal(noisy, expected)


def test_leverage_contamination_hits_the_most_extreme_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[:10] *= 8  # ten rows far out in feature space
    y = X @ [1.0, 2.0, 0.0] + rng.normal(size=200)
    h = leverage(X)
    assert h.sum() == pytest.approx(4.0)  # trace of the hat matrix: p + 1
    for kind in ("symmetric", "asymmetric", "student-t"):
        noisy, bad = contaminate(
            y, 0.05, kind, np.random.default_rng(1), scenario="leverage", features=X
        )
        assert set(np.flatnonzero(bad)) == set(range(10))
        assert np.array_equal(noisy[~bad], y[~bad])
    with_nan = X.copy()
    with_nan[20, 1] = np.nan
    assert np.isfinite(leverage(with_nan)).all()
    assert np.allclose(leverage(np.ones((5, 2))), 1 / 5)  # no usable column


def test_adversarial_contamination_pushes_the_farthest_labels_further():
    y = np.random.default_rng(0).normal(size=300)
    for kind in ("symmetric", "asymmetric", "student-t"):
        noisy, bad = contaminate(y, 0.1, kind, np.random.default_rng(2), scenario="adversarial")
        distance = np.abs(y - np.median(y))
        assert distance[bad].min() >= distance[~bad].max()
        assert (np.abs(noisy - np.median(y))[bad] > distance[bad]).all()
        again, _ = contaminate(y, 0.1, kind, np.random.default_rng(2), scenario="adversarial")
        assert np.array_equal(noisy, again)


def test_shift_splits_train_below_the_75th_percentile_and_test_above():
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "weak": rng.normal(size=n),
            "strong": rng.normal(size=n),
            "binary": rng.integers(0, 2, n).astype(float),  # nothing above its 75th percentile
            "colour": pd.Categorical(rng.choice(["a", "b"], n)),
        }
    )
    y = 3 * X["strong"].to_numpy() + 0.5 * X["weak"].to_numpy()
    assert shift_features(X, y) == ["strong", "weak"]
    parts = splits("shift", X, y, folds=4, seed=0)
    assert len(parts) == 2  # one per usable feature, at most --folds
    for (train, test), column in zip(parts, ["strong", "weak"], strict=True):
        cut = np.quantile(X[column], 0.75)
        assert (X[column].to_numpy()[train] <= cut).all()
        assert (X[column].to_numpy()[test] > cut).all()
        assert len(train) + len(test) == n
    assert len(splits("random", X, y, folds=4, seed=0)) == 4


def test_clean_fits_are_not_repeated_for_each_placement_of_outliers():
    from asrl.bench.run import prepare

    config = BenchConfig(
        data=("diabetes",),
        scenarios=("random", "leverage", "adversarial"),
        contamination=(0.0, 0.2),
        losses=("mse",),
        folds=2,
    ).validate()
    tasks = prepare(config).tasks
    clean = {t.scenario for t in tasks if t.contamination == 0}
    assert clean == {"random"}
    assert {t.scenario for t in tasks if t.contamination == 0.2} == set(config.scenarios)
    # Without the random scenario the others keep their clean fits.
    alone = BenchConfig(
        data=("diabetes",), scenarios=("leverage",), contamination=(0.0, 0.2), losses=("mse",)
    ).validate()
    assert {t.contamination for t in prepare(alone).tasks} == {0.0, 0.2}


def test_the_dev_suite_is_eighteen_named_datasets_with_their_own_targets():
    dev = SUITES["dev"]
    assert len(dev) == len(set(dev)) == 18
    assert dev[:5] == SUITES["default"]
    assert set(dev) <= set(EMBEDDED)
    for name in ("caschools", "clothing", "hprice3"):
        source = EMBEDDED[name]
        data = load_dataset(name)
        assert data.target == source.target
        # another form of the target (or an ID) is never a feature
        assert not set(source.drop) & set(data.X.columns)
        assert set(source.drop) <= set(data.dropped)
        assert any("not features" in note for note in data.notes)
    # a user's own target for a named dataset keeps its own columns
    assert "math" in load_dataset("caschools", target="read", drop=("math",)).dropped
    assert "read" in load_dataset("caschools", target="math").X.columns


def test_native_objectives_belong_to_their_learners():
    assert set(default_losses("lightgbm")) - set(default_losses("xgboost")) == {
        "huber-native",
        "fair-native",
    }
    assert "lq-native" in default_losses("catboost")
    for name, owners in NATIVE.items():
        spec = parse_loss(name)
        assert json.loads(spec.params_json())["objective"] == owners
        for learner in ("xgboost", "lightgbm", "catboost", "linear"):
            reason = skip_reason(learner, spec)
            assert (reason is None) == (learner in owners), (name, learner, reason)
    with pytest.raises(ValueError, match="huber-native takes no parameters"):
        parse_loss("huber-native[delta=2]")
    # the paper's rule and asrl 0.1's default keep their meaning by name
    assert parse_loss("asrl-paper").record.weights == "stats"
    old = parse_loss("asrl-quantile").record
    assert (old.thresholds, old.q_low, old.q_high, old.weights) == (
        "quantile",
        0.5,
        0.9,
        "continuous",
    )
