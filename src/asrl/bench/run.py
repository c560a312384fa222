"""Run the benchmark: repeated splits, contaminated training labels, clean test rows.

:func:`prepare` checks the settings, loads and checks the data, resolves the losses
(``--learner linear`` skips those it cannot fit) and lists every fit. :func:`run_bench`
fits what the output folder does not hold yet: each result row (one per dataset,
scenario, contamination, loss, seed and fold) and its curve (test error along the
rounds) are stored as soon as the fit ends (:mod:`asrl.bench.store`). A killed run
restarted with the same arguments skips every fit already stored; a run with other
settings, data or losses reuses none of the rows that differ.

Fits run in worker processes that ignore Ctrl-C (the parent stops them) and end
within a fraction of a second when their parent dies, even by ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import DEFAULT_DATASETS, PRESETS, BenchConfig
from .data import Dataset, dataset_names, load_dataset
from .losses import LossSpec, parse_loss, parse_losses, skip_reason
from .models import ModelSpec, make_model, prepare_features, require_learner
from .scenarios import KINDS, SCENARIOS, contaminate, numeric_features, shift_features, splits
from .store import CURVE_COLUMNS, RESULT_COLUMNS, ResultStore, row_key

__all__ = [
    "CURVE_COLUMNS",
    "DEFAULT_DATASETS",
    "PRESETS",
    "RESULT_COLUMNS",
    "BenchConfig",
    "Plan",
    "Task",
    "prepare",
    "run_bench",
]

#: Fewest rows a test fold may have, and a dataset in all.
MIN_TEST_ROWS = 5
MIN_ROWS = 20


@dataclass(frozen=True)
class Task:
    """One fit: a loss on one training split of one dataset at one contamination."""

    dataset: str
    seed: int
    fold: int
    contamination: float
    loss: str
    scenario: str = "random"


def identity(task: Task, data: Dataset, config: BenchConfig) -> dict[str, Any]:
    """Everything that defines a fit: the key columns of its result row."""
    return {
        "learner": config.learner,
        "dataset": task.dataset,
        "scenario": task.scenario,
        "kind": config.kind,
        "contamination": task.contamination,
        "loss": task.loss,
        "seed": task.seed,
        "fold": task.fold,
        **config.settings(),
        "target": data.target,
        "dropped": ",".join(data.dropped),
        "data_hash": data.digest,
        "loss_params": parse_loss(task.loss).params_json(),
        "extra": config.extra_json(),
    }


@dataclass
class Plan:
    """A checked configuration: its data, its losses and every fit it needs."""

    config: BenchConfig
    datasets: dict[str, Dataset]
    losses: tuple[LossSpec, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def key(self, task: Task) -> tuple[str, ...]:
        return row_key(identity(task, self.datasets[task.dataset], self.config))


def _check_size(data: Dataset, config: BenchConfig, spec: str) -> None:
    need = max(MIN_ROWS, MIN_TEST_ROWS * config.folds)
    if len(data.y) < need:
        raise ValueError(
            f"--data {spec} has {len(data.y)} rows with a target; --folds {config.folds} needs "
            f"at least {need} ({MIN_TEST_ROWS} per test fold, {MIN_ROWS} in all): use more "
            "rows or fewer --folds."
        )


def prepare(config: BenchConfig) -> Plan:
    """Check ``config``, load its data and list its fits; ``ValueError`` names the
    option to change, ``ImportError`` the extra to install."""
    config.validate()
    require_learner(config.learner)
    specs = parse_losses(config.losses)
    skipped = {}
    for spec in specs:
        reason = skip_reason(config.learner, spec)
        if reason:
            skipped[spec.label] = reason
    specs = tuple(spec for spec in specs if spec.label not in skipped)
    if not specs:
        if config.learner != "linear":
            raise ValueError(
                f"--learner {config.learner} can fit none of --losses "
                f"{','.join(config.losses)}: {'; '.join(skipped.values())}."
            )
        raise ValueError(
            f"--learner linear can fit none of --losses {','.join(config.losses)}; it "
            "takes mse, mae, huber, huber-adaptive and asrl[...] with continuous weights."
        )
    datasets = {}
    notes = []
    for source, name in zip(config.data, dataset_names(config.data), strict=True):
        data = load_dataset(
            source,
            config.target,
            config.max_rows,
            name=name,
            drop=config.drop,
            keep_columns=config.keep_columns,
        )
        _check_size(data, config, source)
        if "shift" in config.scenarios:
            along = shift_features(data.X, data.y)[: config.folds]
            if not along:
                raise ValueError(
                    f"--scenario shift: {source} has no numeric feature with {MIN_TEST_ROWS} or "
                    "more rows (and 10 %) above its 75th percentile; leave out shift for it."
                )
            notes.append(f"{name}: the shift splits train and test along {', '.join(along)}")
        datasets[name] = data
    # Clean labels are clean however outliers would have been placed: the leverage and
    # adversarial scenarios at 0 % are the random scenario's clean fits, so when that
    # scenario runs too they are not fitted again.
    same_as_random = {"leverage", "adversarial"} if "random" in config.scenarios else set()
    if same_as_random & set(config.scenarios) and 0.0 in config.contamination:
        notes.append(
            "leverage and adversarial at 0 % contamination are the random scenario's clean "
            "fits; they are not fitted again"
        )
    plan = Plan(config, datasets, specs, skipped, notes=notes)
    for name, data in datasets.items():
        for scenario in config.scenarios:
            count = config.folds
            if scenario == "shift":
                count = len(splits(scenario, data.X, data.y, config.folds, 0))
            levels = [c for c in config.contamination if c > 0 or scenario not in same_as_random]
            for seed in range(config.seeds):
                for fold in range(count):
                    for contamination in levels:
                        for spec in specs:
                            plan.tasks.append(
                                Task(name, seed, fold, contamination, spec.label, scenario)
                            )
    return plan


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    total = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - pred) ** 2) / total) if total > 0 else float("nan")


def _checkpoints(rounds: int) -> list[int]:
    return sorted({int(r) for r in np.linspace(1, rounds, min(rounds, 20)).round()})


def _staged(model: Any, learner: str, X: Any, k: int) -> np.ndarray:
    if learner == "xgboost":
        return np.asarray(model.predict(X, iteration_range=(0, k)))
    if learner == "lightgbm":
        return np.asarray(model.predict(X, num_iteration=k))
    return np.asarray(model.predict(X, ntree_end=k))


def _rng(task: Task, kind: str) -> np.random.Generator:
    words = [task.seed, task.fold, round(task.contamination * 1e6), KINDS.index(kind)]
    if task.scenario != "random":  # the paper's protocol keeps its earlier draws
        words.append(SCENARIOS.index(task.scenario))
    return np.random.default_rng(words)


def fit_one(
    task: Task, data: Dataset, config: BenchConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fit and score one task; return its result row and its curve rows."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    train, test = splits(task.scenario, data.X, data.y, config.folds, task.seed)[task.fold]
    y_train, _ = contaminate(
        data.y[train],
        task.contamination,
        config.kind,
        _rng(task, config.kind),
        scenario=task.scenario,
        features=(
            numeric_features(data.X.iloc[train]).to_numpy() if task.scenario == "leverage" else None
        ),
    )
    X = prepare_features(config.learner, data.X)
    X_train, X_test, y_test = X.iloc[train], X.iloc[test], data.y[test]
    spec = ModelSpec(config.rounds, config.max_depth, config.learning_rate, config.extra)
    model = make_model(config.learner, parse_loss(task.loss), spec, y_train, X_train)
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
    base = identity(task, data, config)
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


_WORKER_DATA: dict[str, Dataset] = {}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (not Linux): trust the signal
        return True


def _watch_parent(parent: int, main: int) -> None:
    """End this worker as soon as the benchmark's process is gone.

    Under "fork" and "spawn" the worker's parent is that process, and it is reparented
    when that one dies; under "forkserver" (Python 3.14's default on Linux) the parent
    is the fork server, which outlives it, so the process itself is watched too.
    """
    while os.getppid() == parent and _alive(main):
        time.sleep(0.2)
    os._exit(1)


def _init_worker(datasets: dict[str, Dataset], main: int) -> None:
    _WORKER_DATA.update(datasets)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    watch = threading.Thread(target=_watch_parent, args=(os.getppid(), main), daemon=True)
    watch.start()


def _run_task(task: Task, config: BenchConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return fit_one(task, _WORKER_DATA[task.dataset], config)


def _stop_workers(pool: Any) -> None:
    """Kill the pool's workers now (Python 3.14 has a method for it), then wait for the
    pool's management thread to wind down: left running, it races the interpreter's exit
    hook for its wake-up pipe and prints "Exception ignored in atexit callback"."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
    else:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_bench(
    config: BenchConfig | Plan,
    *,
    progress: Callable[[int, int, Task | None], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Run (or resume) the benchmark; return the output directory.

    ``progress(done, total, task)`` is called once at the start and after every fit;
    ``echo(line)`` receives notes such as ``"resumed: 12 of 48 fits already done"``.
    """
    plan = config if isinstance(config, Plan) else prepare(config)
    config = plan.config
    try:
        store = ResultStore(config.out)
    except OSError as error:
        raise ValueError(f"--out {config.out}: cannot write there ({error.strerror}).") from None
    (config.out / "config.json").write_text(
        json.dumps(
            {
                **{k: v for k, v in asdict(config).items() if k != "out"},
                "skipped": plan.skipped,
                "data_hash": {name: data.digest for name, data in plan.datasets.items()},
            },
            indent=2,
            default=str,
        )
    )
    keys = {task: plan.key(task) for task in plan.tasks}
    done = store.begin(keys.values())
    for note in store.notes:
        if echo:
            echo(note)
    if done and echo:
        echo(f"resumed: {done} of {len(plan.tasks)} fits already done")
    todo = [task for task in plan.tasks if keys[task] not in store]
    if progress:
        progress(done, len(plan.tasks), None)
    if config.jobs == 1 or len(todo) <= 1:
        for task in todo:
            store.write(*fit_one(task, plan.datasets[task.dataset], config))
            done += 1
            if progress:
                progress(done, len(plan.tasks), task)
        return config.out
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(
        config.jobs, initializer=_init_worker, initargs=(plan.datasets, os.getpid())
    )
    try:
        pending = {pool.submit(_run_task, task, config): task for task in todo[: 4 * config.jobs]}
        queue = iter(todo[4 * config.jobs :])
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                store.write(*future.result())
                done += 1
                if progress:
                    progress(done, len(plan.tasks), task)
                following = next(queue, None)
                if following is not None:
                    pending[pool.submit(_run_task, following, config)] = following
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown()
    return config.out
