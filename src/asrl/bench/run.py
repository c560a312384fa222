"""Run the benchmark: repeated K-fold, contaminated training labels, clean test folds.

Results are appended to ``results.csv`` (one row per dataset, contamination, loss,
seed and fold) and ``curves.csv`` (test error along the rounds) as soon as each fit
ends, flushed and synced. A killed run restarted with the same arguments skips every
row already written: nothing is recomputed and nothing is lost.
"""

from __future__ import annotations

import csv
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import DEFAULT_DATASETS, KINDS, PRESETS, BenchConfig
from .data import Dataset, contaminate, load_dataset
from .models import ModelSpec, make_model, prepare_features

__all__ = ["DEFAULT_DATASETS", "PRESETS", "BenchConfig", "Task", "run_bench"]

KEY = ("learner", "dataset", "kind", "contamination", "loss", "seed", "fold")
SETTINGS = ("folds", "n_rounds", "max_depth", "learning_rate", "max_rows")
METRICS = ("mse", "mae", "r2", "medae", "fit_seconds", "rounds", "n_train", "n_test")
RESULT_COLUMNS = (*KEY, *SETTINGS, *METRICS)
CURVE_COLUMNS = (*KEY, *SETTINGS, "round", "test_mse", "test_r2")


@dataclass(frozen=True)
class Task:
    """One fit: a loss on one training fold of one dataset at one contamination."""

    dataset: str
    seed: int
    fold: int
    contamination: float
    loss: str

    def key(self, config: BenchConfig) -> tuple[str, ...]:
        return _key(
            {
                "learner": config.learner,
                "dataset": self.dataset,
                "kind": config.kind,
                "contamination": self.contamination,
                "loss": self.loss,
                "seed": self.seed,
                "fold": self.fold,
                **config.settings(),
            }
        )


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(_canon(row[k]) for k in (*KEY, *SETTINGS))


def _canon(value: Any) -> str:
    if isinstance(value, float):
        return repr(float(value))
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if "." in text or "e" in text.lower() else text


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def _checkpoints(rounds: int) -> list[int]:
    return sorted({int(r) for r in np.linspace(1, rounds, min(rounds, 20)).round()})


def _staged(model: Any, learner: str, X: Any, k: int) -> np.ndarray:
    if learner == "xgboost":
        return np.asarray(model.predict(X, iteration_range=(0, k)))
    if learner == "lightgbm":
        return np.asarray(model.predict(X, num_iteration=k))
    return np.asarray(model.predict(X, ntree_end=k))


def fit_one(
    task: Task, data: Dataset, config: BenchConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fit and score one task; return its result row and its curve rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits

    splits = KFold(config.folds, shuffle=True, random_state=task.seed).split(data.y)
    train, test = next(s for i, s in enumerate(splits) if i == task.fold)
    rng = np.random.default_rng(
        [task.seed, task.fold, round(task.contamination * 1e6), KINDS.index(config.kind)]
    )
    y_train, _ = contaminate(data.y[train], task.contamination, config.kind, rng)
    X = prepare_features(config.learner, data.X)
    X_train, X_test, y_test = X.iloc[train], X.iloc[test], data.y[test]
    spec = ModelSpec(config.rounds, config.max_depth, config.learning_rate, config.extra)
    model = make_model(config.learner, task.loss, spec, y_train, X_train)
    # One BLAS thread per fit: fits already run in parallel processes, and nested
    # BLAS threads on a busy machine made small linear fits 30-80x slower (measured).
    with warnings.catch_warnings(), threadpool_limits(1):
        # An IRLS fit that stops at max_iter says so; its n_iter_ is recorded as rounds.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    pred = np.asarray(model.predict(X_test), dtype=float)
    residual = y_test - pred
    base = {
        "learner": config.learner,
        "dataset": task.dataset,
        "kind": config.kind,
        "contamination": task.contamination,
        "loss": task.loss,
        "seed": task.seed,
        "fold": task.fold,
        **config.settings(),
    }
    curve = []
    final_r2 = _r2(y_test, pred)
    reached = None
    if config.learner == "linear":  # no rounds: report IRLS iterations where there are some
        reached = getattr(model[-1], "n_iter_", None)
    for k in _checkpoints(config.rounds) if config.learner != "linear" else []:
        staged = _staged(model, config.learner, X_test, k)
        r2 = _r2(y_test, staged)
        curve.append(
            {**base, "round": k, "test_mse": float(np.mean((y_test - staged) ** 2)), "test_r2": r2}
        )
        if reached is None and final_r2 > 0 and r2 >= 0.99 * final_r2:
            reached = k
    row = {
        **base,
        "mse": float(np.mean(residual**2)),
        "mae": float(np.mean(np.abs(residual))),
        "r2": final_r2,
        "medae": float(np.median(np.abs(residual))),
        "fit_seconds": seconds,
        "rounds": reached if reached is not None else "",
        "n_train": len(train),
        "n_test": len(test),
    }
    return row, curve


class _Store:
    """Append-only CSV files, synced after every fit; tolerant of a torn last line."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.results = out / "results.csv"
        self.curves = out / "curves.csv"
        self.done = {_key(row) for row in _read_rows(self.results, RESULT_COLUMNS)}

    def write(self, row: dict[str, Any], curve: list[dict[str, Any]]) -> None:
        _append(self.curves, CURVE_COLUMNS, curve)
        _append(self.results, RESULT_COLUMNS, [row])  # written last: it marks the fit done
        self.done.add(_key(row))


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Complete rows of a results file; a torn last line (killed mid-write) is dropped."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
        path.write_text("".join(lines))
    rows = list(csv.DictReader(lines))
    return [r for r in rows if None not in r and all(r.get(c) is not None for c in columns)]


def _append(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())


def plan(config: BenchConfig, datasets: dict[str, Dataset]) -> Iterator[Task]:
    """Every task of the run, in a fixed order."""
    for name in datasets:
        for seed in range(config.seeds):
            for fold in range(config.folds):
                for contamination in config.contamination:
                    for loss in config.losses:
                        yield Task(name, seed, fold, contamination, loss)


_WORKER_DATA: dict[str, Dataset] = {}


def _init_worker(datasets: dict[str, Dataset]) -> None:
    _WORKER_DATA.update(datasets)


def _run_task(task: Task, config: BenchConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return fit_one(task, _WORKER_DATA[task.dataset], config)


def run_bench(
    config: BenchConfig,
    *,
    progress: Callable[[int, int, Task | None], None] | None = None,
) -> Path:
    """Run (or resume) the benchmark; return the output directory.

    ``progress(done, total, task)`` is called after every fit and once at the start.
    """
    config.validate()
    datasets = {}
    for spec in config.data:
        data = load_dataset(spec, config.target, config.max_rows)
        datasets[data.name] = data
    store = _Store(config.out)
    (config.out / "config.json").write_text(
        json.dumps({k: v for k, v in asdict(config).items() if k != "out"}, indent=2, default=str)
    )
    tasks = list(plan(config, datasets))
    todo = [t for t in tasks if t.key(config) not in store.done]
    done = len(tasks) - len(todo)
    if progress:
        progress(done, len(tasks), None)
    if config.jobs == 1 or len(todo) <= 1:
        for task in todo:
            store.write(*fit_one(task, datasets[task.dataset], config))
            done += 1
            if progress:
                progress(done, len(tasks), task)
        return config.out
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(config.jobs, initializer=_init_worker, initargs=(datasets,)) as pool:
        pending = {pool.submit(_run_task, task, config): task for task in todo[: 4 * config.jobs]}
        queue = iter(todo[4 * config.jobs :])
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                store.write(*future.result())
                done += 1
                if progress:
                    progress(done, len(tasks), task)
                following = next(queue, None)
                if following is not None:
                    pending[pool.submit(_run_task, following, config)] = following
    return config.out
