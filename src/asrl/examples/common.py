"""What the architecture examples share: the losses, the contaminated split, the training
loop, the grid of runs, and the table and figure they write.

Every example trains one network per loss from the same initial weights and with the
same mini-batches (both fixed by the seed), on training targets of which a share is
replaced by gross outliers with the benchmark's own code
(:func:`asrl.bench.scenarios.contaminate`, "symmetric" noise
``y + s * U(3, 6) * sd(y)``, random rows, the count ``round(share * n)``); test targets
stay clean. Targets are centred on the median of the training targets and divided by
their scaled MAD (``1.4826 MAD``; robust, so the outliers do not set the unit, and
Huber's ``delta = 1`` is one robust standard deviation). Scores (R^2 and MAE on the
clean test targets) are in the original units.

The losses (:data:`LOSS_NAMES`):

- ``mse``, ``l1``: :class:`torch.nn.MSELoss`, :class:`torch.nn.L1Loss`;
- ``huber``: :class:`torch.nn.HuberLoss` with ``delta=1``;
- ``barron``: Barron's adaptive loss,
  :class:`asrl.examples.barron.AdaptiveBarronLoss` (shape and scale learned with the
  network by the same optimiser);
- ``asrl``: :class:`asrl.torch.ASRLLoss` with its defaults.
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from ..bench.config import MAX_CONTAMINATION
from ..core.rules import mad_sigma, run_local
from ..torch import ASRLLoss
from .barron import AdaptiveBarronLoss

__all__ = [
    "LOSS_NAMES",
    "Example",
    "Run",
    "Split",
    "Task",
    "check_levels",
    "check_losses",
    "contaminated_split",
    "criterion",
    "fit",
    "format_markdown",
    "grid",
    "main",
    "read_runs",
    "run_task",
    "run_tasks",
    "save_figure",
    "single_thread",
    "summarise",
    "write_outputs",
]

#: The losses every architecture example compares, in table order.
LOSS_NAMES = ("mse", "l1", "huber", "barron", "asrl")


def criterion(name: str) -> nn.Module:
    """A fresh loss module by name (:data:`LOSS_NAMES`).

    Examples
    --------
    >>> criterion("huber")
    HuberLoss()
    """
    if name == "mse":
        return nn.MSELoss()
    if name == "l1":
        return nn.L1Loss()
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "barron":
        return AdaptiveBarronLoss()
    if name == "asrl":
        return ASRLLoss()
    raise ValueError(f"--losses: unknown loss {name!r}; choose from {', '.join(LOSS_NAMES)}.")


def check_losses(losses: Sequence[str]) -> tuple[str, ...]:
    """The loss names, checked: known, each once, at least one."""
    if not losses:
        raise ValueError(f"--losses: give at least one of {', '.join(LOSS_NAMES)}.")
    for name in losses:
        criterion(name)
    if len(set(losses)) < len(losses):
        raise ValueError("--losses lists a loss twice; give each once.")
    return tuple(losses)


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """The contamination levels, checked as ``asrl bench`` checks them."""
    if not levels:
        raise ValueError("--contamination: give at least one level, e.g. 0,0.2,0.4.")
    for level in levels:
        if not 0.0 <= level < MAX_CONTAMINATION:
            raise ValueError(
                f"--contamination values must be in [0, {MAX_CONTAMINATION}); got {level!r}."
            )
    if len(set(levels)) < len(levels):
        raise ValueError("--contamination lists a level twice; give each once.")
    return tuple(levels)


@dataclass(frozen=True)
class Split:
    """Training inputs and scaled (contaminated) targets; test inputs and clean targets.

    ``centre`` and ``unit`` turn a scaled prediction back into the targets' units.
    """

    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: np.ndarray
    centre: float
    unit: float

    def scores(self, model: nn.Module) -> tuple[float, float]:
        """Test R^2 and MAE in the original units (the model is put in eval mode)."""
        model.eval()
        with torch.no_grad():
            pred = model(self.X_test).squeeze(1).double().numpy() * self.unit + self.centre
        residual = self.y_test - pred
        total = np.sum((self.y_test - self.y_test.mean()) ** 2)
        return 1.0 - float(np.sum(residual**2) / total), float(np.mean(np.abs(residual)))


def contaminated_split(
    X_train: Tensor,
    y_train: np.ndarray,
    X_test: Tensor,
    y_test: np.ndarray,
    contamination: float,
    rng: np.random.Generator,
) -> Split:
    """Contaminate the training targets with the benchmark's code and scale them robustly.

    Examples
    --------
    >>> import numpy as np, torch
    >>> y = np.arange(100.0)
    >>> split = contaminated_split(torch.zeros(100, 1), y, torch.zeros(5, 1), y[:5], 0.2,
    ...                            np.random.default_rng(0))
    >>> moved = np.abs(split.y_train.numpy() * split.unit + split.centre - y) > 1
    >>> int(moved.sum())  # round(0.2 * 100) outliers
    20
    """
    from ..bench.scenarios import contaminate  # pandas: only the examples that need it

    noisy, _ = contaminate(np.asarray(y_train, dtype=float), contamination, "symmetric", rng)
    centre = float(np.median(noisy))
    unit = float(run_local(lambda ops: mad_sigma(), noisy)) or 1.0
    labels = torch.tensor((noisy - centre) / unit, dtype=torch.float32)
    return Split(X_train, labels, X_test, np.asarray(y_test, dtype=float), centre, unit)


def fit(
    model: nn.Module,
    loss: Callable[[Tensor, Tensor], Tensor],
    split: Split,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    on_epoch: Callable[[nn.Module], None] | None = None,
) -> float:
    """Train ``model`` with Adam on ``split``'s training rows; return the seconds taken.

    A loss module's own parameters (Barron's shape and scale) are trained with the
    model's.
    The mini-batch order depends on ``seed`` alone, so every loss sees the same batches.
    ``on_epoch(model)`` is called after each epoch.
    """
    learned = list(loss.parameters()) if isinstance(loss, nn.Module) else []
    optimizer = torch.optim.Adam([*model.parameters(), *learned], lr=lr)
    order = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        permutation = torch.randperm(len(split.y_train), generator=order)
        for rows in torch.split(permutation, batch_size):
            optimizer.zero_grad()
            value = loss(model(split.X_train[rows]).squeeze(1), split.y_train[rows])
            torch.autograd.backward(value)
            optimizer.step()
        if on_epoch is not None:
            on_epoch(model)
    return time.perf_counter() - start


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread (these networks are too small to gain from more), then
    restore the previous count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Run:
    """One trained network: where, which loss, and its clean test scores.

    ``alpha`` and ``scale`` are the shape and scale Barron's adaptive loss learned (NaN
    for the other losses).
    """

    example: str
    dataset: str
    contamination: float
    loss: str
    seed: int
    r2: float
    mae: float
    seconds: float
    alpha: float = math.nan
    scale: float = math.nan


@dataclass(frozen=True)
class Task:
    """The networks of one dataset, level and seed: one per loss, from the same start.

    ``make_split(level, seed)`` gives the data and ``make_model()`` an untrained
    network; both must be picklable (module-level functions or
    ``functools.partial`` of them) for :func:`run_tasks` with ``jobs > 1``.
    """

    example: str
    dataset: str
    make_split: Callable[[float, int], Split]
    make_model: Callable[[], nn.Module]
    contamination: float
    seed: int
    losses: tuple[str, ...]
    epochs: int
    batch_size: int
    lr: float


def grid(
    example: str,
    dataset: str,
    make_split: Callable[[float, int], Split],
    make_model: Callable[[], nn.Module],
    *,
    contamination: Sequence[float],
    seeds: Sequence[int],
    losses: Sequence[str],
    epochs: int,
    batch_size: int,
    lr: float,
) -> list[Task]:
    """One :class:`Task` per level and seed, level by level."""
    return [
        Task(
            example,
            dataset,
            make_split,
            make_model,
            level,
            seed,
            tuple(losses),
            epochs,
            batch_size,
            lr,
        )
        for level in contamination
        for seed in seeds
    ]


def run_task(task: Task) -> list[Run]:
    """Train the task's networks on one torch thread; return a run per loss.

    The initial weights come from ``torch.manual_seed(task.seed)``: the same for every
    loss and level, and the same in any process.
    """
    runs = []
    with single_thread():
        split = task.make_split(task.contamination, task.seed)
        torch.manual_seed(task.seed)
        initial = task.make_model()
        for name in task.losses:
            model, loss = copy.deepcopy(initial), criterion(name)
            seconds = fit(
                model,
                loss,
                split,
                seed=task.seed,
                epochs=task.epochs,
                batch_size=task.batch_size,
                lr=task.lr,
            )
            r2, mae = split.scores(model)
            learned = {}
            if isinstance(loss, AdaptiveBarronLoss):
                learned = {"alpha": loss.alpha.item(), "scale": loss.scale.item()}
            runs.append(
                Run(
                    task.example,
                    task.dataset,
                    task.contamination,
                    name,
                    task.seed,
                    r2,
                    mae,
                    seconds,
                    **learned,
                )
            )
    return runs


def run_tasks(
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    progress: Callable[[list[Run]], None] | None = None,
) -> list[Run]:
    """Run the tasks, ``jobs`` at a time in worker processes; return the runs in order.

    Every network trains on one thread, so ``jobs=2`` uses two cores, and the results
    do not depend on ``jobs``. ``progress(runs)`` is called with each task's runs.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {jobs}.")
    done: list[list[Run]] = []
    if jobs == 1 or len(tasks) == 1:
        for task in tasks:
            done.append(run_task(task))
            if progress is not None:
                progress(done[-1])
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
            for runs in pool.map(run_task, tasks):
                done.append(runs)
                if progress is not None:
                    progress(runs)
    return [run for runs in done for run in runs]


def summarise(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Mean and standard deviation (over seeds, ``ddof=1``; 0 for one seed) of the test
    R^2 and MAE per dataset, level and loss, in the order first met."""
    groups: dict[tuple[str, float, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.contamination, run.loss), []).append(run)
    rows = []
    for (dataset, level, loss), members in groups.items():
        r2 = np.array([r.r2 for r in members])
        mae = np.array([r.mae for r in members])
        ddof = 1 if len(members) > 1 else 0
        rows.append(
            {
                "dataset": dataset,
                "contamination": level,
                "loss": loss,
                "seeds": len(members),
                "r2_mean": float(r2.mean()),
                "r2_sd": float(r2.std(ddof=ddof)),
                "mae_mean": float(mae.mean()),
                "mae_sd": float(mae.std(ddof=ddof)),
            }
        )
    return rows


def _paired(runs: Sequence[Run], dataset: str, level: float, a: str, b: str) -> np.ndarray:
    """Per seed, R^2 of loss ``a`` minus that of ``b`` (same split, same start)."""
    score = {
        (r.loss, r.seed): r.r2 for r in runs if r.dataset == dataset and r.contamination == level
    }
    seeds = sorted({s for name, s in score if name == a} & {s for name, s in score if name == b})
    return np.array([score[a, s] - score[b, s] for s in seeds])


def format_markdown(runs: Sequence[Run], title: str) -> str:
    """Tables of test R^2 (mean ± sd over seeds) per dataset: losses as rows, levels as
    columns, the best mean per column in bold; then, where ``asrl`` ran, its R^2 minus
    each other loss's, paired by seed (the same split, contamination and start), and its
    rank at each level."""
    summary = summarise(runs)
    lines = [f"## {title}", ""]
    for dataset in dict.fromkeys(row["dataset"] for row in summary):
        rows = [row for row in summary if row["dataset"] == dataset]
        levels = list(dict.fromkeys(row["contamination"] for row in rows))
        losses = list(dict.fromkeys(row["loss"] for row in rows))
        cell = {(row["loss"], row["contamination"]): row for row in rows}
        seeds = max(row["seeds"] for row in rows)
        lines += [f"### {dataset}: test R² (clean targets), mean ± sd over {seeds} seed(s)", ""]
        lines.append("| loss | " + " | ".join(f"{level:.0%} outliers" for level in levels) + " |")
        lines.append("|---|" + "---:|" * len(levels))
        best = {level: max(cell[n, level]["r2_mean"] for n in losses) for level in levels}
        for name in losses:
            cells = []
            for level in levels:
                row = cell[name, level]
                text = f"{row['r2_mean']:.3f} ± {row['r2_sd']:.3f}"
                cells.append(f"**{text}**" if row["r2_mean"] == best[level] else text)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        if "asrl" in losses and len(losses) > 1:
            others = [n for n in losses if n != "asrl"]
            lines += [
                f"{dataset}: asrl's test R² minus each other loss's, paired by seed "
                "(mean ± sd; seeds where asrl is ahead)",
                "",
                "| asrl minus | " + " | ".join(f"{level:.0%} outliers" for level in levels) + " |",
                "|---|" + "---:|" * len(levels),
            ]
            for name in others:
                cells = []
                for level in levels:
                    gap = _paired(runs, dataset, level, "asrl", name)
                    spread = gap.std(ddof=1 if len(gap) > 1 else 0)
                    ahead = f"{int((gap > 0).sum())}/{len(gap)}"
                    cells.append(f"{gap.mean():+.3f} ± {spread:.3f} ({ahead})")
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
            for level in levels:
                rival = max(others, key=lambda n: cell[n, level]["r2_mean"])
                gap = _paired(runs, dataset, level, "asrl", rival)
                rank = 1 + sum(
                    cell[n, level]["r2_mean"] > cell["asrl", level]["r2_mean"] for n in others
                )
                lines.append(
                    f"- {level:.0%}: asrl ranks {rank} of {len(losses)} by mean R²; best other "
                    f"{rival}, asrl - {rival} = {gap.mean():+.3f}"
                )
            lines.append("")
    return "\n".join(lines)


def save_figure(runs: Sequence[Run], path: Path, title: str) -> bool:
    """Test R^2 against the contamination level, one panel per dataset, a line per loss
    (mean, with ± sd bars); False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    summary = summarise(runs)
    datasets = list(dict.fromkeys(row["dataset"] for row in summary))
    figure = Figure(figsize=(5.5 * len(datasets), 4.2))
    for index, dataset in enumerate(datasets):
        axes = figure.add_subplot(1, len(datasets), index + 1)
        rows = [row for row in summary if row["dataset"] == dataset]
        for offset, loss in enumerate(dict.fromkeys(row["loss"] for row in rows)):
            mine = [row for row in rows if row["loss"] == loss]
            x = np.array([row["contamination"] for row in mine]) * 100 + (offset - 2) * 0.4
            axes.errorbar(
                x,
                [row["r2_mean"] for row in mine],
                yerr=[row["r2_sd"] for row in mine],
                marker="o",
                capsize=3,
                label=loss,
            )
        axes.set_xlabel("training targets replaced by outliers (%)")
        axes.set_ylabel("test R² (clean targets)")
        axes.set_title(dataset)
        axes.legend()
    figure.suptitle("\n".join(textwrap.wrap(title, 60 * len(datasets))), fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def write_outputs(runs: Sequence[Run], out: Path, title: str) -> list[Path]:
    """Write ``runs.csv`` (one row per run), ``summary.csv``, ``table.md`` and, with
    matplotlib, ``figure.png`` into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "runs.csv", out / "summary.csv", out / "table.md"]
    with open(written[0], "w", newline="") as handle:
        writer = csv.DictWriter(handle, [f.name for f in fields(Run)])
        writer.writeheader()
        writer.writerows(asdict(run) for run in runs)
    summary = summarise(runs)
    with open(written[1], "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    written[2].write_text(format_markdown(runs, title) + "\n")
    if save_figure(runs, out / "figure.png", title):
        written.append(out / "figure.png")
    return written


def read_runs(path: Path) -> list[Run]:
    """The runs of a ``runs.csv`` written by :func:`write_outputs` (to redo its tables)."""
    kinds = {f.name: f.type for f in fields(Run)}
    convert: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}
    with open(path, newline="") as handle:
        return [
            Run(**{key: convert[str(kinds[key])](value) for key, value in row.items()})
            for row in csv.DictReader(handle)
        ]


class Example(Protocol):
    """What an example module provides to :func:`main`."""

    NAME: str
    TITLE: str
    DATASETS: tuple[str, ...]
    EPOCHS: int

    def run(
        self,
        *,
        contamination: Sequence[float],
        seeds: Sequence[int],
        losses: Sequence[str],
        epochs: int,
        datasets: Sequence[str],
        jobs: int = 1,
        progress: Callable[[list[Run]], None] | None = None,
    ) -> list[Run]:
        """Train every network of the example; return the runs."""
        ...


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(example: Example, argv: Sequence[str] | None = None) -> int:
    """``python -m asrl.examples.NAME``: run the example, print its table, write its files.

    Options: ``--contamination 0,0.2,0.4 --seeds 5 --epochs N --losses mse,...
    --data NAME,... --out DIR --jobs 2``. A line per dataset, level and seed is printed
    as it finishes, then the tables.
    """
    parser = argparse.ArgumentParser(prog=f"asrl example {example.NAME}", description=example.TITLE)
    parser.add_argument("--contamination", default="0,0.2,0.4")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0, 1, ..., N-1")
    parser.add_argument("--epochs", type=int, default=example.EPOCHS)
    parser.add_argument("--losses", default=",".join(LOSS_NAMES))
    parser.add_argument("--data", default=",".join(example.DATASETS))
    parser.add_argument("--out", type=Path, default=Path(f"example-{example.NAME}"))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (one core each)")
    args = parser.parse_args(argv)
    try:
        levels = check_levels([float(x) for x in _csv(args.contamination)])
    except ValueError as error:
        if "--contamination" in str(error):
            raise
        raise ValueError(
            f"--contamination expects comma-separated numbers, e.g. 0,0.2,0.4; "
            f"got {args.contamination!r}."
        ) from None
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1; got {args.seeds}.")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1; got {args.epochs}.")
    losses = check_losses(_csv(args.losses))
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {args.jobs}.")
    try:  # before the training, not after it
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"--out {args.out}: cannot create it ({error.strerror}).") from None

    def report(runs: list[Run]) -> None:
        first = runs[0]
        scores = ", ".join(f"{r.loss} {r.r2:.3f}" for r in runs)
        print(
            f"{first.dataset} {first.contamination:.0%} seed {first.seed}: R² {scores}", flush=True
        )

    start = time.perf_counter()
    runs = example.run(
        contamination=levels,
        seeds=range(args.seeds),
        losses=losses,
        epochs=args.epochs,
        datasets=_csv(args.data),
        jobs=args.jobs,
        progress=report,
    )
    seconds = time.perf_counter() - start
    print(format_markdown(runs, example.TITLE))
    for path in write_outputs(runs, args.out, example.TITLE):
        print(f"wrote {path}")
    print(f"{len(runs)} networks trained in {seconds:.0f} s.")
    return 0
