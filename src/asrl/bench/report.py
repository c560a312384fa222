"""Turn results.csv into report.md, a self-contained report.html and figures.

The report answers "should I use ASRL on data like mine?" on its first screen: a verdict
per learner (a claim about ASRL holds for the learner it was measured with), a regret
heatmap (how far each loss is from the best loss of its block) and a critical-difference
diagram of the ranks. The details follow: mean R^2 with its spread over folds and seeds,
paired tests, ranks, cost, convergence, the losses' shapes, every metric, the run.

Each loss keeps one colour in every report (:func:`loss_colour`): baselines in blues,
greens, purples and grey, ASRL's variants in reds and oranges.
"""

from __future__ import annotations

import base64
import html
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ASRL_VARIANTS, BASELINES
from .stats import Ranking, block_columns, rank_losses, summarise, wilcoxon_table

__all__ = [
    "Verdict",
    "bar_verdict",
    "learner_verdict",
    "load_results",
    "loss_colour",
    "mean_r2_table",
    "regret_table",
    "render_report",
    "write_report",
]

REFERENCE = "asrl"

#: A share of contaminated blocks won above which the verdict recommends ASRL there.
CONVINCING = 0.75

#: Regret at which the heatmap's colour saturates (R^2 below the block's best).
REGRET_SATURATION = 0.2

_BASELINE_COLOURS = {
    "mse": "#4d4d4d",
    "mae": "#1f77b4",
    "huber": "#006d2c",
    "pseudo-huber": "#2ca02c",
    "huber-adaptive": "#9467bd",
    "pseudo-huber-auto": "#17becf",
    "huber-native": "#8c564b",
    "fair-native": "#bcbd22",
    "lq-native": "#7f7f7f",
}
_ASRL_COLOURS = {
    "asrl": "#d62728",
    "asrl-quantile": "#ff7f0e",
    "asrl-paper": "#e377c2",
    "asrl-scale": "#fdae6b",
    "asrl-stats": "#c51b7d",
    "asrl-unit": "#8c1d18",
}
_BASELINE_POOL = ("#6baed6", "#08519c", "#74c476", "#3f007d", "#9e9ac8", "#969696", "#41b6c4")
_ASRL_POOL = ("#fb6a4a", "#a50f15", "#fd8d3c", "#c51b7d", "#e6550d", "#f768a1", "#cb181d")

_LEARNER_NAMES = {
    "xgboost": "XGBoost",
    "lightgbm": "LightGBM",
    "catboost": "CatBoost",
    "linear": "the linear model",
}


def is_asrl(loss: str) -> bool:
    """Whether a benchmark loss name is one of ASRL's configurations."""
    return loss == REFERENCE or loss.startswith(("asrl-", "asrl["))


def loss_colour(loss: str) -> str:
    """The colour of ``loss`` in every report: fixed for the known names, else a stable
    pick by the name's checksum, from reds for ASRL's variants and from blues, greens and
    purples for the baselines.

    Examples
    --------
    >>> loss_colour("asrl"), loss_colour("mse")
    ('#d62728', '#4d4d4d')
    >>> loss_colour("asrl[q_low=0.7]") == loss_colour("asrl[q_low=0.7]")
    True
    """
    fixed = _ASRL_COLOURS if is_asrl(loss) else _BASELINE_COLOURS
    if loss in fixed:
        return fixed[loss]
    pool = _ASRL_POOL if is_asrl(loss) else _BASELINE_POOL
    return pool[zlib.crc32(loss.encode()) % len(pool)]


def _colours(losses: Iterable[str]) -> dict[str, str]:
    """:func:`loss_colour` for each loss; of two unknown names that draw one colour, the
    later takes the next free one of its pool, so no two losses of a report look alike."""
    colours: dict[str, str] = {}
    for loss in losses:
        colour = loss_colour(loss)
        fixed = _ASRL_COLOURS if is_asrl(loss) else _BASELINE_COLOURS
        if loss not in fixed and colour in colours.values():
            pool = _ASRL_POOL if is_asrl(loss) else _BASELINE_POOL
            free = [c for c in pool if c not in colours.values()]
            colour = free[0] if free else colour
        colours[loss] = colour
    return colours


def _learner_name(learner: str) -> str:
    return _LEARNER_NAMES.get(learner, learner)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _percent(level: float) -> str:
    return f"{100 * level:g} %"


def _loss_order(losses: Iterable[str]) -> list[str]:
    """Baselines first, then ASRL's variants, whatever order parallel fits finished in."""
    losses = list(dict.fromkeys(losses))
    known = [c for c in (*BASELINES, *ASRL_VARIANTS) if c in losses]
    rest = [c for c in losses if c not in known]
    return (
        [c for c in known if not is_asrl(c)]
        + sorted(c for c in rest if not is_asrl(c))
        + [c for c in known if is_asrl(c)]
        + sorted(c for c in rest if is_asrl(c))
    )


def load_results(out: Path, settings: dict[str, Any] | None = None) -> pd.DataFrame:
    """The rows of ``out/results.csv``, optionally only those with these settings."""
    frame = pd.read_csv(out / "results.csv")
    if settings:
        for key, value in settings.items():
            if value == "":
                frame = frame[frame[key].isna()]
            else:
                frame = frame[frame[key].astype(str) == str(value)]
    return frame


#: Scenarios of :mod:`asrl.bench.scenarios` in the order the report shows them.
SCENARIO_ORDER = ("random", "leverage", "adversarial", "shift")


def _shown_blocks(results: pd.DataFrame) -> list[str]:
    """The block columns that tell blocks apart here: always dataset and contamination,
    the learner and the conditions only where they take several values; the learner
    and then the scenario first, so that tables and heatmap read one at a time."""
    shown = [
        c
        for c in block_columns(results)
        if c in ("dataset", "contamination") or results[c].nunique(dropna=False) > 1
    ]
    return sorted(shown, key=lambda c: {"learner": 0, "scenario": 1}.get(c, 2))


def _in_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted with the scenarios in :data:`SCENARIO_ORDER`, losses as :func:`_loss_order`."""

    def key(index: pd.Index) -> pd.Index:
        if index.name != "scenario":
            return index
        rank = {name: n for n, name in enumerate(SCENARIO_ORDER)}
        return index.map(lambda v: f"{rank.get(v, len(rank)):02d}{v}")

    return table.sort_index(key=key)[_loss_order(table.columns)]


def mean_r2_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test R^2: one row per block, one column per loss.

    The index is (dataset, contamination); the learner, the scenario and the other
    conditions (:data:`asrl.bench.stats.CONDITIONS`) join it where they vary.
    """
    index = _shown_blocks(results)
    return _in_order(results.groupby([*index, "loss"], dropna=False)["r2"].mean().unstack("loss"))


def _sd_table(results: pd.DataFrame) -> pd.DataFrame:
    """Standard deviation of the test R^2 over seeds x folds, shaped as :func:`mean_r2_table`."""
    index = _shown_blocks(results)
    return _in_order(results.groupby([*index, "loss"], dropna=False)["r2"].std().unstack("loss"))


def regret_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each loss's mean R^2 minus the best mean R^2 of its block (0 for the best, else < 0).

    Examples
    --------
    >>> t = pd.DataFrame({"mse": [0.5, 0.9], "asrl": [0.8, 0.85]})
    >>> regret_table(t).round(2).to_dict("list")
    {'mse': [-0.3, 0.0], 'asrl': [0.0, -0.05]}
    """
    return table.sub(table.max(axis=1), axis=0)


def _reference(losses: Iterable[str]) -> str | None:
    losses = list(losses)
    if REFERENCE in losses:
        return REFERENCE
    return next((loss for loss in losses if is_asrl(loss)), None)


def bar_verdict(table: pd.DataFrame) -> dict[str, Any]:
    """The project's bar for ASRL's default (README): best under contamination, and on
    clean data within 0.005 R^2 of the best baseline on average (0.01 on every dataset)."""
    if REFERENCE not in table.columns:
        return {}
    baselines = [c for c in table.columns if not is_asrl(c)]
    if not baselines:
        return {}
    gap = table[REFERENCE] - table[baselines].max(axis=1)
    levels = gap.index.get_level_values("contamination")
    contaminated = gap[levels > 0]
    clean = gap[levels == 0]
    return {
        "contaminated_blocks": len(contaminated),
        "contaminated_wins": int((contaminated > 0).sum()),
        "clean_mean_gap": float(clean.mean()) if len(clean) else math.nan,
        "clean_worst_gap": float(clean.min()) if len(clean) else math.nan,
        "bar_contaminated": bool(len(contaminated) and (contaminated > 0).all()),
        "bar_clean": bool(len(clean) and clean.mean() >= -0.005 and clean.min() >= -0.01),
        "gap": gap,
    }


@dataclass(frozen=True)
class Verdict:
    """The answer for one learner: a headline, the evidence, the numbers behind them."""

    learner: str
    headline: str
    points: tuple[str, ...]
    numbers: dict[str, Any]


def _block_label(key: Any, names: list[str]) -> str:
    """'boston at 10 %' for a block key of a table indexed by ``names``."""
    values = dict(zip(names, key if isinstance(key, tuple) else (key,), strict=True))
    parts = [str(values[n]) for n in names if n not in ("learner", "contamination")]
    return f"{' / '.join(parts)} at {_percent(float(values['contamination']))}"


#: What each scenario of :mod:`asrl.bench.scenarios` does, for the verdict.
SCENARIO_TEXT = {
    "leverage": "outliers at the rows with the most extreme features",
    "adversarial": "outliers at the rows farthest from the median, pushed further out",
    "shift": "covariate shift: train below a feature's 75th percentile, test above",
}


def _main_rows(results: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of the paper's protocol (scenario ``random``, or all rows where there are
    no scenarios), and the other scenarios present."""
    if "scenario" not in results or results["scenario"].nunique(dropna=False) <= 1:
        return results, []
    scenarios = list(dict.fromkeys(map(str, results["scenario"])))
    if "random" not in scenarios:
        return results, []
    return results[results["scenario"] == "random"], [s for s in scenarios if s != "random"]


def _gaps(table: pd.DataFrame, reference: str) -> tuple[pd.Series, pd.Series]:
    """``reference``'s R^2 minus the best baseline's per block, and that baseline."""
    baselines = [c for c in table.columns if not is_asrl(c)]
    return table[reference] - table[baselines].max(axis=1), table[baselines].idxmax(axis=1)


def learner_verdict(results: pd.DataFrame, ranking: Ranking | None = None) -> Verdict:
    """The verdict on ASRL's default for the rows of one learner.

    The headline is about the paper's protocol (randomly placed outliers, K-fold splits);
    each other scenario of the run gets a line of its own.
    """
    learner = str(results["learner"].iloc[0]) if "learner" in results else "the learner"
    who = _learner_name(learner)
    main, others = _main_rows(results)
    table = mean_r2_table(main)
    names = list(table.index.names)
    reference = _reference(table.columns)
    baselines = [c for c in table.columns if not is_asrl(c)]
    n_splits = results.groupby([*block_columns(results), "loss"], dropna=False).size()
    evidence = (
        f"Evidence: {_count(results['dataset'].nunique(), 'dataset')} x "
        f"{_count(results['contamination'].nunique(), 'contamination level')}"
        + (f" x {_count(len(others) + 1, 'scenario')}" if others else "")
        + f", {_count(int(n_splits.median()), 'split')} per cell "
        f"({_count(results['seed'].nunique(), 'seed')} x "
        f"{_count(results['fold'].nunique(), 'fold')})."
    )
    if reference is None or not baselines:
        best = regret_table(table).eq(0).sum().sort_values(ascending=False)
        what = "no ASRL configuration" if reference is None else "no baseline"
        return Verdict(
            learner,
            f"No verdict on ASRL for {who}: this run has {what} to compare with. "
            f"{best.index[0]} was the best loss in {int(best.iloc[0])} of {len(table)} blocks.",
            (evidence,),
            {},
        )
    gap, best_baseline = _gaps(table, reference)
    levels = gap.index.get_level_values("contamination")
    dirty, clean = gap[levels > 0], gap[levels == 0]
    sd = _sd_table(results)[reference]
    numbers: dict[str, Any] = {
        "reference": reference,
        "contaminated_blocks": len(dirty),
        "contaminated_wins": int((dirty > 0).sum()),
        "clean_blocks": len(clean),
        "clean_mean_gap": float(clean.mean()) if len(clean) else math.nan,
        "clean_worst_gap": float(clean.min()) if len(clean) else math.nan,
        "median_sd": float(sd.median()),
    }
    points = []
    name = f"`{reference}`"
    if len(dirty):
        wins = numbers["contaminated_wins"]
        worst = dirty.idxmin()
        levels_text = ", ".join(_percent(c) for c in sorted(set(levels[levels > 0])))
        text = (
            f"Under contamination ({levels_text} of the training labels"
            f"{', placed at random' if others else ''}): {name} beats every baseline in "
            f"{wins} of {len(dirty)} blocks, by {dirty.median():+.3f} R^2 (median over blocks)"
        )
        if dirty.min() < 0:
            text += (
                f"; worst {_block_label(worst, names)}: {dirty.min():+.3f} against "
                f"{best_baseline[worst]}"
            )
        points.append(text + ".")
    if len(clean):
        worst = clean.idxmin()
        met = numbers["clean_mean_gap"] >= -0.005 and numbers["clean_worst_gap"] >= -0.01
        points.append(
            f"On clean data: {name} is {clean.mean():+.3f} R^2 from the best baseline on "
            f"average, {clean.min():+.3f} at worst ({_block_label(worst, names)}, "
            f"{best_baseline[worst]}). Project bar (within 0.005 on average and 0.01 "
            f"everywhere): {'met' if met else 'not met'}."
        )
    else:
        met = True
    for scenario in others:
        rows = results[results["scenario"] == scenario]
        other = mean_r2_table(rows)
        if reference not in other:
            continue
        other_gap, _ = _gaps(other, reference)
        if scenario != "shift":  # without contamination these are the random rows again
            other_gap = other_gap[other_gap.index.get_level_values("contamination") > 0]
        if len(other_gap):
            points.append(
                f"Scenario {scenario} ({SCENARIO_TEXT.get(scenario, 'see the docs')}): "
                f"{name} beats every baseline in {int((other_gap > 0).sum())} of "
                f"{len(other_gap)} blocks, by {other_gap.median():+.3f} R^2 (median)."
            )
            numbers[f"{scenario}_wins"] = int((other_gap > 0).sum())
            numbers[f"{scenario}_blocks"] = len(other_gap)
    points.append(
        evidence + f" The R^2 of {name} varies by {numbers['median_sd']:.3f} (median sd) "
        "from split to split: smaller differences are noise."
    )
    if ranking is not None and reference in ranking.mean_ranks.index:
        rank = ranking.mean_ranks[reference]
        first, first_rank = ranking.mean_ranks.index[0], ranking.mean_ranks.iloc[0]
        lead = "the best" if rank <= first_rank else f"behind {first}'s {first_rank:.2f}"
        points.append(
            f"Mean rank over the {ranking.n_blocks} blocks: {name} {rank:.2f} of "
            f"{len(ranking.mean_ranks)} losses (1 = best), {lead}; Friedman p = "
            f"{ranking.friedman_p:.2g}."
        )
    # The loss the verdict is about: the package default, or the first ASRL variant run.
    subject = "ASRL's default" if reference == "asrl" else f"ASRL ({reference})"
    if len(dirty) and numbers["contaminated_wins"] / len(dirty) >= CONVINCING:
        share_text = f"{numbers['contaminated_wins']} of {len(dirty)}"
        if met:
            headline = (
                f"Yes, with {who}: {subject} beat every baseline in {share_text} "
                f"contaminated blocks and matched the best baseline on clean data."
            )
        else:
            headline = (
                f"Yes with {who}, if your training labels may hold outliers: {subject} "
                f"beat every baseline in {share_text} contaminated blocks. On clean data it "
                f"costs {-clean.mean():.3f} R^2 on average."
            )
    elif len(dirty):
        often = regret_table(table.loc[dirty.index]).eq(0).sum().idxmax()
        headline = (
            f"Not clearly, with {who}: {subject} beat every baseline in only "
            f"{numbers['contaminated_wins']} of {len(dirty)} contaminated blocks; {often} "
            "was the best loss most often."
        )
    else:
        headline = (
            f"Only clean data was run with {who}: {subject} is {clean.mean():+.3f} R^2 "
            "from the best baseline on average. Add --contamination levels to see where it "
            "helps."
        )
    return Verdict(learner, headline, tuple(points), numbers)


# ----------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class _Figure:
    anchor: str
    path: Path
    alt: str
    caption: str


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "svg.hashsalt": "asrl"})
    return plt


def _save(fig: Any, path: Path) -> Path:
    # A constrained layout keeps every label inside the figure; other figures are grown
    # to their labels by bbox_inches="tight" (one more draw), so none is cut off.
    tight = {} if fig.get_layout_engine() is not None else {"bbox_inches": "tight"}
    fig.savefig(path, dpi=110, pad_inches=0.08, metadata={"Software": None}, **tight)
    _pyplot().close(fig)
    return path


def _row_labels(table: pd.DataFrame) -> list[str]:
    labels = []
    for key in table.index:
        values = dict(
            zip(table.index.names, key if isinstance(key, tuple) else (key,), strict=True)
        )
        parts = [str(values[n]) for n in table.index.names if n not in ("learner", "contamination")]
        labels.append(f"{' / '.join(parts)}  {_percent(float(values['contamination']))}")
    return labels


def _regret_text(v: float) -> str:
    """A heatmap cell: 'best', '~0' (within 0.0005 of it), else two decimals, or three
    below 0.01.

    Examples
    --------
    >>> [_regret_text(v) for v in (0.0, -0.0002, -0.004, -0.123, -12.3)]
    ['best', '~0', '-0.004', '-0.12', '-12']
    """
    if v == 0:
        return "best"
    if v > -0.0005:
        return "~0"
    if v > -0.01:
        return f"{v:.3f}"
    return f"{v:.2f}" if v > -10 else f"{v:.0f}"


def _regret_heatmap(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    regret = regret_table(table)
    values = regret.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(1.4 + 0.62 * n_cols, 0.9 + 0.27 * n_rows))
    image = ax.imshow(
        np.clip(-values, 0, REGRET_SATURATION),
        cmap="Reds",
        vmin=0,
        vmax=REGRET_SATURATION,
        aspect="auto",
        interpolation="nearest",
    )
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#777")
                continue
            best = v == 0
            text = _regret_text(v)
            dark = -v > 0.6 * REGRET_SATURATION
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if dark else "black",
                fontweight="bold" if best else "normal",
            )
            if best:
                ax.add_patch(
                    plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.6, ec="black")
                )
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(list(table.columns), rotation=35, ha="left", rotation_mode="anchor")
    ax.xaxis.tick_top()
    for label, loss in zip(ax.get_xticklabels(), table.columns, strict=True):
        label.set_color(loss_colour(str(loss)))
        label.set_fontweight("bold" if is_asrl(str(loss)) else "normal")
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(_row_labels(table))
    # a thick rule between scenarios (the first grouping level), a thin one between datasets
    names = list(table.index.names)
    groups = [n for n in names if n not in ("learner", "contamination")]
    keys = [dict(zip(names, k if isinstance(k, tuple) else (k,), strict=True)) for k in table.index]
    for i in range(1, n_rows):
        changed = [g for g in groups if keys[i][g] != keys[i - 1][g]]
        if changed:
            thick = len(groups) > 1 and groups[0] in changed
            ax.axhline(i - 0.5, color="black" if thick else "#444", lw=2.6 if thick else 1.0)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    # at most 16 rows tall, at the top, so a tall heatmap's scale sits next to its first rows
    bar = fig.colorbar(
        image, ax=ax, fraction=0.04, pad=0.02, shrink=min(1.0, 16 / n_rows), anchor=(0.0, 1.0)
    )
    ticks = np.linspace(0, REGRET_SATURATION, 5)
    bar.set_ticks(ticks, labels=["0"] + [f"{-t:g}" for t in ticks[1:-1]] + [f"≤ {-ticks[-1]:g}"])
    bar.set_label("regret: R² minus the row's best")
    bar.ax.invert_yaxis()
    return _save(fig, path)


def _cliques(values: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """The maximal runs ``(first, last)`` of sorted mean ranks closer than ``cd``.

    Examples
    --------
    >>> _cliques(np.array([1.0, 1.5, 2.2, 4.0]), 1.0)
    [(0, 1), (1, 2)]
    """
    runs: list[tuple[int, int]] = []
    for i in range(len(values)):
        j = i
        while j + 1 < len(values) and values[j + 1] - values[i] <= cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return runs


def _cd_diagram(ranking: Ranking, colours: dict[str, str], path: Path) -> Path:
    """Demsar's critical-difference diagram: mean ranks on one axis, losses whose ranks
    differ by less than the critical difference joined by a bar. No title (the caption
    says what it is) and every label inside the saved image."""
    plt = _pyplot()
    ranks = ranking.mean_ranks
    k = len(ranks)
    names = list(ranks.index)
    values = ranks.to_numpy(dtype=float)
    cd = ranking.critical_difference
    cliques = _cliques(values, cd) if np.isfinite(cd) else []
    left = (k + 1) // 2
    rows = max(left, k - left)
    # y runs downwards, in units of 0.3 inch: CD bar, axis at 0, cliques, then labels
    top, first_label, step = -1.1, 0.55 + 0.24 * len(cliques), 0.85
    bottom = first_label + step * (rows - 1) + 0.5
    fig, ax = plt.subplots(figsize=(3.9, 0.3 * (bottom - top + 0.5)))
    low, high = 1, max(k, 2)
    span = high - low
    ax.plot([low, high], [0, 0], color="black", lw=1.2)
    for tick in range(low, high + 1):
        ax.plot([tick, tick], [0, -0.2], color="black", lw=1)
        ax.text(tick, -0.3, str(tick), ha="center", va="bottom", fontsize=10)
    if np.isfinite(cd) and cd < span:
        ax.plot([low, low + cd], [top, top], color="black", lw=1.5)
        for end in (low, low + cd):
            ax.plot([end, end], [top - 0.12, top + 0.12], color="black", lw=1)
        ax.text(low + cd / 2, top - 0.2, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=10)
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        on_left = i < left
        y = first_label + step * (i if on_left else k - 1 - i)
        x_end = low - 0.06 * span if on_left else high + 0.06 * span
        colour = colours.get(name, "black")
        reference = name == REFERENCE
        ax.plot([value, value, x_end], [0, y, y], color=colour, lw=1.1)
        ax.plot(value, 0, "o", color=colour, ms=5 if reference else 4, zorder=4 if reference else 3)
        ax.text(
            x_end + (-0.02 if on_left else 0.02) * span,
            y,
            f"{value:.2f}  {name}" if on_left else f"{name}  {value:.2f}",
            ha="right" if on_left else "left",
            va="center",
            fontsize=11,
            color=colour,
            fontweight="bold" if reference else "normal",
        )
    for n, (i, j) in enumerate(cliques):
        y = 0.3 + 0.24 * n
        ax.plot([values[i] - 0.03, values[j] + 0.03], [y, y], color="black", lw=3, zorder=5)
    ax.set_xlim(low - 0.08 * span, high + 0.08 * span)
    ax.set_ylim(bottom, top - 0.5)
    ax.axis("off")
    return _save(fig, path)


def _panels(frame: pd.DataFrame) -> tuple[Any, list[tuple[Any, str, pd.DataFrame]]]:
    """A figure with one panel per dataset (per dataset and scenario where scenarios vary:
    a row per dataset, a column per scenario), and each panel's title and rows."""
    plt = _pyplot()
    columns = [c for c in _shown_blocks(frame) if c not in ("learner", "contamination")]
    groups = list(frame.groupby(columns, sort=True, dropna=False))
    if len(columns) == 2:
        first = list(dict.fromkeys(k[0] for k, _ in groups))
        second = list(dict.fromkeys(k[1] for k, _ in groups))
        rows, cols = len(first), len(second)
        places = [first.index(k[0]) * cols + second.index(k[1]) for k, _ in groups]
    else:
        cols = min(2, len(groups))  # two panels side by side stay legible at 800 px
        rows = math.ceil(len(groups) / cols)
        places = list(range(len(groups)))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.4 * cols, 2.6 * rows + 0.6), squeeze=False, layout="constrained"
    )
    flat = list(axes.flat)
    for n, ax in enumerate(flat):
        if n not in places:
            ax.axis("off")
    panels = []
    for place, (key, rows_of) in zip(places, groups, strict=True):
        values = key if isinstance(key, tuple) else (key,)
        panels.append((flat[place], " / ".join(map(str, values)), rows_of))
    return fig, panels


def _floor(values: np.ndarray) -> float:
    """A y-axis floor 1 R^2 below a panel's best, so one collapsed loss does not flatten
    the others; points below it are drawn on it as downward triangles."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return -1.0
    low, best = float(finite.min()), float(finite.max())
    return max(low, best - 1.0)


def _legend(fig: Any, ax: Any, losses: list[str]) -> None:
    """One legend for every panel, outside the data: in an empty panel if the grid has
    one, else under the panels."""
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(loss) for loss in losses if loss in labels]
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    spare = [a for a in fig.axes if not a.axison and not a.has_data()]
    if spare:
        spare[-1].legend(handles, labels, loc="center", frameon=False, fontsize=9)
    else:
        fig.legend(
            handles, labels, loc="outside lower center", ncol=min(len(order), 5), frameon=False
        )


def _style(loss: str, colours: dict[str, str]) -> dict[str, Any]:
    return {
        "color": colours[loss],
        "lw": 2.4 if loss == REFERENCE else 1.3,
        "ls": "-" if is_asrl(loss) else "--",
    }


def _robustness(results: pd.DataFrame, colours: dict[str, str], path: Path) -> Path:
    losses = _loss_order(results["loss"])
    levels = sorted(results["contamination"].unique())
    width = (max(levels) - min(levels)) or 1.0
    fig, panels = _panels(results)
    for ax, title, rows in panels:
        block = rows.groupby(["loss", "contamination"])["r2"].agg(["mean", "std"])
        floor = _floor(block["mean"].to_numpy(dtype=float))
        for i, loss in enumerate(losses):
            if loss not in block.index.get_level_values("loss"):
                continue
            series = block.loc[loss]
            x = series.index.to_numpy(dtype=float) + (i - (len(losses) - 1) / 2) * 0.008 * width
            mean = series["mean"].to_numpy(dtype=float)
            sd = np.nan_to_num(series["std"].to_numpy(dtype=float))
            style = _style(loss, colours)
            ax.errorbar(
                x,
                np.maximum(mean, floor),
                yerr=np.where(mean < floor, 0, sd),
                marker="o",
                ms=3.5,
                capsize=2,
                elinewidth=0.9,
                label=loss,
                **style,
            )
            below = mean < floor
            if below.any():
                ax.plot(x[below], np.full(below.sum(), floor), "v", color=style["color"], ms=6)
        ax.set_title(title)
        ax.set_xticks(levels)
        ax.set_xticklabels([_percent(c) for c in levels])
        ax.set_xlabel("contaminated training labels")
        ax.set_ylabel("test R²")
        ax.grid(alpha=0.3)
    _legend(fig, panels[0][0], losses)
    return _save(fig, path)


def _convergence(curves: pd.DataFrame, colours: dict[str, str], path: Path) -> Path:
    losses = _loss_order(curves["loss"])
    top = curves["contamination"].max()
    fig, panels = _panels(curves[curves["contamination"] == top])
    for ax, title, rows in panels:
        block = rows.groupby(["loss", "round"])["test_r2"].median()
        floor = max(_floor(block.to_numpy(dtype=float)), -0.5)
        for loss in losses:
            if loss in block.index.get_level_values("loss"):
                series = block.loc[loss]
                ax.plot(series.index, series.to_numpy(), label=loss, **_style(loss, colours))
        ax.set_ylim(bottom=floor)
        ax.set_title(f"{title}, {_percent(top)} contaminated")
        ax.set_xlabel("boosting round")
        ax.set_ylabel("median test R²")
        ax.grid(alpha=0.3)
    _legend(fig, panels[0][0], losses)
    return _save(fig, path)


def _build_loss(name: str) -> Any:
    """The library's loss object of a benchmark loss name."""
    try:
        from .losses import parse_loss
    except ImportError:  # pragma: no cover - before asrl.bench.losses (issue 11)
        from .. import get_loss
        from .models import asrl_params

        params = asrl_params(name)
        return get_loss(name) if params is None else get_loss("asrl", **params)
    return parse_loss(name).build()


def _shapes(losses: list[str], colours: dict[str, str], path: Path) -> Path | None:
    plt = _pyplot()
    sample = np.random.default_rng(0).standard_normal(20_000)
    grid = np.linspace(-6, 6, 601)
    zero = np.zeros_like(grid)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.3), layout="constrained")
    drawn = []
    for name in losses:
        try:
            loss = _build_loss(name)
            fixed = loss.statistics(np.zeros_like(sample), sample)
            rho = loss.loss(zero, grid, statistics=fixed)
            psi = loss.gradient(zero, grid, statistics=fixed)
        except (ValueError, TypeError, KeyError):  # a loss this library cannot evaluate alone
            continue
        left.plot(grid, rho, label=name, **_style(name, colours))
        right.plot(grid, psi, label=name, **_style(name, colours))
        drawn.append(name)
    if not drawn:
        plt.close(fig)
        return None
    left.set_title("loss rho(u)")
    right.set_title("gradient psi(u)")
    left.set_ylim(0, 8)
    for ax in (left, right):
        ax.set_xlabel("residual u = prediction - label (N(0, 1) residuals' statistics)")
        ax.grid(alpha=0.3)
    _legend(fig, left, drawn)
    return _save(fig, path)


# ----------------------------------------------------------------------------- document


@dataclass
class _Table:
    caption: str
    frame: pd.DataFrame
    bold: np.ndarray | None = None  # True where a cell (of the frame's columns) is bold
    note: pd.DataFrame | None = None  # small text after each value (e.g. "±0.012")
    digits: int = 4


@dataclass(frozen=True)
class _Heading:
    text: str


_Block = str | _Heading | _Table | _Figure | list[_Figure]


@dataclass
class _Section:
    anchor: str
    title: str
    blocks: list[_Block] = field(default_factory=list)
    folded: str = ""  # if set, the HTML shows the blocks behind a "details" toggle with this


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    if "contamination" in frame.columns:
        frame = frame.assign(contamination=[_percent(float(c)) for c in frame["contamination"]])
    return frame


def _without_constants(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the block columns (learner, kind, ...) that take one value here."""
    constant = [
        c
        for c in ("learner", "kind", "scenario", "split")
        if c in frame.columns and frame[c].nunique(dropna=False) <= 1
    ]
    return frame.drop(columns=constant)


def _cells(table: _Table) -> tuple[list[str], list[bool], list[list[tuple[str, str, bool]]]]:
    """Column names, whether each column is numeric, and per row the cells as
    (value, note, bold)."""
    frame = _flat(table.frame)
    index_columns = frame.shape[1] - table.frame.shape[1]
    notes = table.note.to_numpy() if table.note is not None else None
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for j, value in enumerate(row):
            k = j - index_columns
            note = str(notes[i, k]) if notes is not None and k >= 0 else ""
            bold = bool(table.bold is not None and k >= 0 and table.bold[i, k])
            cells.append((_fmt(value, table.digits), note, bold))
        rows.append(cells)
    return [str(c) for c in frame.columns], numeric, rows


def _best(table: pd.DataFrame) -> np.ndarray:
    """True at the largest finite value of each row (every one of a tie)."""
    values = table.to_numpy(dtype=float)
    finite = np.isfinite(values)
    best = np.max(np.where(finite, values, -np.inf), axis=1, keepdims=True)
    return np.asarray(finite & (values == best))


def _inline_html(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return text.replace("R^2", "R²")


@dataclass(frozen=True)
class _Document:
    title: str
    lede: list[str]
    verdicts: list[Verdict]
    glance: dict[str, list[_Figure]]  # the first screen's figures, by learner
    sections: list[_Section]


def _markdown(doc: _Document) -> str:
    lines = [f"# {doc.title}", ""]
    lines += [*(f"{t}\n" for t in doc.lede)]
    for verdict in doc.verdicts:
        lines += [f"**{verdict.headline}**", ""]
        lines += [f"- {p}" for p in verdict.points] + [""]
    for learner, figures in doc.glance.items():
        if len(doc.glance) > 1:
            lines += [f"### {_learner_name(learner)} at a glance", ""]
        for figure in figures:
            lines += _markdown_figure(figure)
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, _Heading):
                lines += [f"### {block.text}", ""]
            elif isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, _Table):
                lines += _markdown_table(block)
            elif isinstance(block, _Figure):
                lines += _markdown_figure(block)
            else:
                for figure in block:
                    lines += _markdown_figure(figure)
    return "\n".join(lines)


def _markdown_figure(figure: _Figure) -> list[str]:
    return [f"![{figure.alt}]({figure.path.name})", "", f"*{figure.caption}*", ""]


def _markdown_table(table: _Table) -> list[str]:
    columns, _, rows = _cells(table)
    lines = [f"**{table.caption}**", ""] if table.caption else []
    lines += ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        cells = []
        for value, note, bold in row:
            cell = f"{value} {note}".strip()
            cells.append(f"**{cell}**" if bold and cell else cell)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return [*lines, ""]


_CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
 max-width:1320px;margin:0 auto;padding:12px 20px 40px}
h1{font-size:1.55em;margin:.3em 0 .1em}
h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .3em}
p,li{overflow-wrap:anywhere}
.lede{color:#555;margin:.2em 0 .8em}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px;font-size:.92em}
.verdicts{display:flex;flex-wrap:wrap;gap:12px}
.verdict{flex:1 1 420px;min-width:0;border:1px solid #d8d8d8;border-left:6px solid #d62728;
 border-radius:6px;padding:.5em .9em;background:#fffaf9}
.verdict h2{margin:.1em 0 .2em;border:0;font-size:1.05em;color:#555}
.verdict .headline{font-size:1.12em;font-weight:600;margin:.1em 0 .3em}
.verdict ul{margin:.2em 0;padding-left:1.2em;font-size:.93em}
.figrow{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.figrow figure{flex:1 1 480px}
.glance figure:first-child{flex:1.2 1 560px}
.glance figure + figure{flex:1 1 420px}
figure{margin:.8em 0;min-width:0;max-width:100%}
figure img{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{font-size:.88em;color:#444;margin-top:.3em}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
td,th{border:1px solid #ccc;padding:2px 7px;text-align:right;white-space:nowrap}
th{background:#f5f5f5;position:sticky;top:0}
td.text,th.text,td.long{text-align:left}
td.long{white-space:normal;min-width:24em}
.note{color:#888;font-size:.85em;margin-left:.3em}
.caption{font-weight:600;margin:.8em 0 .2em}
nav{font-size:.92em;margin:1.2em 0;padding:.4em .8em;background:#f7f7f7;border-radius:6px}
nav a{margin-right:1em;white-space:nowrap}
summary{cursor:pointer;color:#1a5fb4}
"""


def _html_figure(figure: _Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode()
    return (
        f"<figure id='{figure.anchor}'><img src='data:image/png;base64,{data}' "
        f"alt='{html.escape(figure.alt)}'><figcaption>{_inline_html(figure.caption)}"
        "</figcaption></figure>"
    )


def _html_table(table: _Table) -> str:
    columns, numeric, rows = _cells(table)
    out = []
    if table.caption:
        out.append(f"<p class='caption'>{_inline_html(table.caption)}</p>")
    out.append("<div class='scroll'><table><thead><tr>")
    out += [
        f"<th>{_inline_html(c)}</th>" if n else f"<th class='text'>{_inline_html(c)}</th>"
        for c, n in zip(columns, numeric, strict=True)
    ]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for j, (value, note, bold) in enumerate(row):
            cell = html.escape(value)
            if bold:
                cell = f"<b>{cell}</b>"
            if note:
                cell += f"<span class='note'>{html.escape(note)}</span>"
            kind = "" if numeric[j] else " class='long'" if len(value) > 40 else " class='text'"
            out.append(f"<td{kind}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _html(doc: _Document) -> str:
    body = [f"<h1>{html.escape(doc.title)}</h1>"]
    body += [f"<p class='lede'>{_inline_html(t)}</p>" for t in doc.lede]
    body.append("<section id='verdict' class='verdicts'>")
    for verdict in doc.verdicts:
        points = "".join(f"<li>{_inline_html(p)}</li>" for p in verdict.points)
        body.append(
            f"<div class='verdict'><h2>{html.escape(_learner_name(verdict.learner))}</h2>"
            f"<p class='headline'>{_inline_html(verdict.headline)}</p><ul>{points}</ul></div>"
        )
    body.append("</section>")
    body.append("<section id='at-a-glance'>")
    for learner, figures in doc.glance.items():
        if len(doc.glance) > 1:
            body.append(f"<h3>{html.escape(_learner_name(learner))} at a glance</h3>")
        body.append(
            "<div class='figrow glance'>" + "".join(_html_figure(f) for f in figures) + "</div>"
        )
    body.append("</section>")
    links = " ".join(f"<a href='#{s.anchor}'>{_inline_html(s.title)}</a>" for s in doc.sections)
    body.append(f"<nav>Details: {links}</nav>")
    for section in doc.sections:
        body.append(f"<section id='{section.anchor}'><h2>{_inline_html(section.title)}</h2>")
        if section.folded:
            body.append(f"<details><summary>{_inline_html(section.folded)}</summary>")
        for block in section.blocks:
            if isinstance(block, _Heading):
                body.append(f"<h3>{html.escape(block.text)}</h3>")
            elif isinstance(block, str):
                body.append(f"<p>{_inline_html(block)}</p>")
            elif isinstance(block, _Table):
                body.append(_html_table(block))
            elif isinstance(block, _Figure):
                body.append(_html_figure(block))
            else:
                body.append(
                    "<div class='figrow'>" + "".join(_html_figure(f) for f in block) + "</div>"
                )
        if section.folded:
            body.append("</details>")
        body.append("</section>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _gap_table(results: pd.DataFrame, reference: str, baselines: list[str]) -> pd.DataFrame:
    """Per block: the best baseline, and ``reference``'s R^2 minus its, paired by split."""
    blocks = _shown_blocks(results)
    wide = results.pivot_table(
        index=[*blocks, "seed", "fold"], columns="loss", values="r2", dropna=False
    )
    rows = []
    for key, block in wide.groupby(level=blocks, dropna=False):
        means = block[baselines].mean()
        if means.isna().all() or reference not in block:
            continue
        best = str(means.idxmax())
        diff = (block[reference] - block[best]).dropna()
        rows.append(
            {
                **dict(zip(blocks, key if isinstance(key, tuple) else (key,), strict=True)),
                "best baseline": best,
                "its R^2": float(means.max()),
                f"{reference} R^2": float(block[reference].mean()),
                "difference": float(diff.mean()),
                "sd of the difference": float(diff.std()) if len(diff) > 1 else math.nan,
                f"splits {reference} wins": f"{int((diff > 0).sum())}/{len(diff)}",
            }
        )
    return pd.DataFrame(rows)


def _paired_table(tests: pd.DataFrame, reference: str) -> _Table:
    """The Wilcoxon tests as one row per block and one column per other loss."""
    blocks = [c for c in _shown_blocks(tests) if c in tests.columns]
    wide = tests.pivot_table(
        index=blocks, columns="baseline", values=["mean_r2_diff", "p_holm"], aggfunc="first"
    )
    wins = tests.pivot_table(index=blocks, columns="baseline", values="wins", aggfunc="first")
    order = _loss_order(wide["mean_r2_diff"].columns)
    diff, p = wide["mean_r2_diff"][order], wide["p_holm"][order]
    wins = wins[order]
    note = pd.DataFrame(
        [
            [f"{w} p={q:.2g}" if isinstance(w, str) else "" for w, q in zip(wr, pr, strict=True)]
            for wr, pr in zip(wins.to_numpy(), p.to_numpy(), strict=True)
        ],
        index=diff.index,
        columns=diff.columns,
    )
    return _Table(
        f"{reference} minus each loss (mean R^2 difference; splits {reference} wins; "
        "Holm-corrected p; bold where p < 0.05)",
        diff,
        (p < 0.05).to_numpy(),
        note,
    )


def _cost_table(results: pd.DataFrame) -> pd.DataFrame:
    frame = results.assign(rounds=pd.to_numeric(results["rounds"], errors="coerce"))
    per_loss = frame.groupby("loss")[["fit_seconds", "rounds"]].mean()
    per_loss = per_loss.loc[_loss_order(per_loss.index)]
    per_loss.columns = ["mean fit seconds", "mean rounds to 99 % of the final R^2"]
    return per_loss


def _matching_curves(curves: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """The curve rows of the fits in ``results``, each once."""
    measured = {"round", "test_mse", "test_r2"}
    keys = [c for c in curves.columns if c in results.columns and c not in measured]
    curves = curves.drop_duplicates([*keys, "round"])
    return curves.merge(results[keys].drop_duplicates(), on=keys)


def _lede(results: pd.DataFrame, learners: list[str]) -> list[str]:
    levels = ", ".join(_percent(c) for c in sorted(results["contamination"].unique()))
    kinds = ", ".join(sorted(map(str, results["kind"].unique()))) if "kind" in results else ""
    scenarios = list(dict.fromkeys(map(str, results["scenario"]))) if "scenario" in results else []
    if scenarios == ["random"] or not scenarios:
        where = ""
    elif len(scenarios) == 1:
        where = f", scenario {scenarios[0]} ({SCENARIO_TEXT.get(scenarios[0], 'see the docs')})"
    else:
        where = f", scenarios {', '.join(scenarios)}"
    first = results.iloc[0]
    folds = int(first["folds"]) if "folds" in results else results["fold"].nunique()
    return [
        f"{' and '.join(_learner_name(x) for x in learners)} on "
        f"{_count(results['dataset'].nunique(), 'dataset')}, training labels contaminated at "
        f"{levels}{f' ({kinds})' if kinds else ''}{where}, test rows clean; {folds} folds x "
        f"{_count(results['seed'].nunique(), 'seed')}; metric: test R^2 (higher is better). "
        "For your own data: `asrl bench --data your.csv --target COLUMN`."
    ]


def render_report(
    results: pd.DataFrame,
    out: Path,
    *,
    command: str = "",
    curves: pd.DataFrame | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write report.md, report.html and the figures of these result rows into ``out``.

    ``results`` has the columns of results.csv (:data:`asrl.bench.store.RESULT_COLUMNS`);
    ``curves`` those of curves.csv. Returns the key numbers: ``table`` (mean R^2),
    ``verdicts`` and ``rankings`` by learner, ``headline`` (one line per learner, for a
    terminal), ``tests``; ``verdict`` (:func:`bar_verdict`) and ``ranking`` of the only
    (else the first) learner.
    """
    if results.empty:
        raise ValueError("no result rows to report.")
    out.mkdir(parents=True, exist_ok=True)
    results = results.assign(loss=results["loss"].astype(str))
    if "learner" not in results:
        results = results.assign(learner="learner")
    learners = list(dict.fromkeys(map(str, results["learner"])))
    colours = _colours(_loss_order(results["loss"]))
    if curves is not None and len(curves):
        curves = _matching_curves(curves, results)

    verdicts: dict[str, Verdict] = {}
    rankings: dict[str, Ranking] = {}
    glance: dict[str, list[_Figure]] = {}
    main = _Section("mean-r2", "Mean test R^2 and its spread")
    paired = _Section("paired-tests", "Paired tests: ASRL against each loss")
    ranks = _Section("ranks", "Ranks across blocks")
    cost = _Section("cost", "Cost and convergence")
    all_tests = []
    for learner in learners:
        sub = results[results["learner"].astype(str) == learner]
        who = _learner_name(learner)
        slug = _slug(learner)
        table = mean_r2_table(sub)
        ranking = rankings[learner] = rank_losses(sub)
        verdict = verdicts[learner] = learner_verdict(sub, ranking)
        reference = verdict.numbers.get("reference") or _reference(table.columns)
        n_splits = int(sub.groupby([*block_columns(sub), "loss"], dropna=False).size().median())
        glance[learner] = []
        where = " in one scenario" if "scenario" in table.index.names else ""
        glance[learner].append(
            _Figure(
                f"regret-{slug}",
                _regret_heatmap(table, out / f"regret-{slug}.png"),
                f"Regret heatmap, {who}",
                f"**Regret, {who}.** Each row is a dataset{where} at one share of contaminated "
                "training labels, each column a loss (ASRL's variants in red type). A cell is "
                "the loss's mean test R^2 minus the best mean R^2 of its row: the boxed "
                "'best' won the row, -0.05 is 0.05 R^2 worse. White is as good as the best; "
                f"dark red is {REGRET_SATURATION:g} or more worse.",
            )
        )
        if np.isfinite(ranking.critical_difference) and len(ranking.mean_ranks) >= 2:
            glance[learner].append(
                _Figure(
                    f"cd-{slug}",
                    _cd_diagram(ranking, colours, out / f"critical-difference-{slug}.png"),
                    f"Critical-difference diagram, {who}",
                    f"**Ranks, {who}.** Each loss sits at its mean rank over the "
                    f"{ranking.n_blocks} rows of the heatmap (1 = best, on the left). Losses "
                    "joined by a thick black bar do not differ significantly (Nemenyi test, "
                    "alpha 0.05): their mean ranks are closer than the critical difference CD "
                    "drawn above the axis.",
                )
            )
        if len(learners) > 1:
            for section in (main, paired, ranks, cost):
                section.blocks.append(_Heading(who))
        main.blocks.append(
            _Table(
                "Mean test R^2 ± sd over splits (best per row in bold)",
                table,
                _best(table),
                _sd_table(sub).map(lambda sd: f"±{sd:.3f}" if np.isfinite(sd) else ""),
            )
        )
        baselines = [c for c in table.columns if not is_asrl(c)]
        if reference is not None and baselines:
            main.blocks.append(
                _Table(
                    f"{reference} minus the best baseline of each row, paired by split "
                    f"(negative: {reference} loses)",
                    _without_constants(_gap_table(sub, reference, baselines)),
                )
            )
        main.blocks.append(
            _Figure(
                f"robustness-{slug}",
                _robustness(sub, colours, out / f"robustness-{slug}.png"),
                f"Test R^2 against contamination, {who}",
                f"**Robustness, {who}.** Mean test R^2 (higher is better) of each loss as the "
                f"share of contaminated training labels grows, one panel per dataset; bars "
                f"are ± 1 sd over the {n_splits} splits (seeds x folds), points are nudged "
                "sideways so the bars do not hide each other. Each panel's y axis stops 1 "
                "R^2 below its best point; a triangle on the bottom edge is a loss further "
                "below.",
            )
        )
        tests = wilcoxon_table(sub, reference) if reference is not None else pd.DataFrame()
        all_tests.append(tests)
        if reference is not None and len(tests):
            paired.blocks.append(_paired_table(tests, reference))
        else:
            paired.blocks.append("No ASRL configuration to test in this run.")
        ranks.blocks.append(
            f"Friedman chi-square = {ranking.friedman_statistic:.2f}, p = "
            f"{ranking.friedman_p:.3g} over {ranking.n_blocks} blocks; Nemenyi critical "
            f"difference {ranking.critical_difference:.2f}."
        )
        ranks.blocks.append(
            _Table(
                "Mean rank (1 = best)",
                ranking.mean_ranks.rename("mean rank").to_frame(),
                digits=2,
            )
        )
        cost.blocks.append(_Table("", _cost_table(sub), digits=3))
        if curves is not None and len(curves):
            these = (
                curves[curves["learner"].astype(str) == learner] if "learner" in curves else curves
            )
            if len(these):
                top = these["contamination"].max()
                cost.blocks.append(
                    _Figure(
                        f"convergence-{slug}",
                        _convergence(these, colours, out / f"convergence-{slug}.png"),
                        f"Convergence at {_percent(top)} contamination, {who}",
                        f"**Convergence, {who}.** Median test R^2 over the splits after each "
                        f"boosting round, at the highest contamination ({_percent(top)}); a "
                        "curve that peaks and falls is fitting the outliers. Each panel's y axis "
                        "stops 1 R^2 below its best point, and at -0.5 at the lowest.",
                    )
                )
    n_pairs = int(results.groupby([*block_columns(results), "loss"], dropna=False).size().median())
    paired.blocks.insert(
        0,
        "Two-sided Wilcoxon signed-rank test of ASRL's default against each loss on the R^2 "
        "of the same splits, Holm-corrected over the losses within each row. With n pairs "
        f"the smallest attainable p-value is 2/2^n: {2 / 2**n_pairs:.2g} for this run's "
        f"{n_pairs} splits per row (`asrl bench --full` has 15).",
    )

    sections = [main, paired, ranks, cost]
    shapes = _shapes(_loss_order(results["loss"]), colours, out / "shapes.png")
    if shapes is not None:
        sections.append(
            _Section(
                "shapes",
                "Shapes of the losses",
                [
                    _Figure(
                        "shapes-figure",
                        shapes,
                        "Loss and gradient of each loss",
                        "**Shapes.** Each loss (left) and its gradient (right) against the "
                        "residual, with the thresholds (or delta) each adaptive loss takes "
                        "from standard normal residuals: a gradient that falls back towards "
                        "0 for large residuals lets outliers pull less.",
                    )
                ],
            )
        )
    summary = summarise(results)
    summary = _without_constants(
        summary.assign(loss=pd.Categorical(summary["loss"], _loss_order(summary["loss"])))
        .sort_values([c for c in block_columns(summary) if c in summary] + ["loss"], kind="stable")
        .assign(loss=lambda f: f["loss"].astype(str))
        .reset_index(drop=True)
    )
    sections.append(
        _Section(
            "all-metrics",
            "All metrics (mean, sd, count over splits)",
            [_Table("", summary)],
            folded=f"Show the table ({len(summary)} rows, {summary.shape[1]} columns)",
        )
    )
    run = _Section("run", "Run")
    if command:
        run.blocks.append(f"Command: `{command}`")
    for learner in learners:
        first = results[results["learner"].astype(str) == learner].iloc[0]
        settings = [
            f"{label} {first[column]}"
            for column, label in (
                ("n_rounds", "rounds"),
                ("max_depth", "depth"),
                ("learning_rate", "learning rate"),
                ("folds", "folds"),
                ("max_rows", "rows at most"),
            )
            if column in first and not pd.isna(first[column])
        ]
        run.blocks.append(f"{_learner_name(learner)}: {', '.join(settings)}.")
    if datasets:
        run.blocks.append(_Table("Datasets", pd.DataFrame(datasets)))
    sections.append(run)

    title = "ASRL benchmark: should I use ASRL on data like mine?"
    lede = _lede(results, learners)
    ordered = list(verdicts.values())
    headline = [v.headline.replace("R^2", "R²") for v in ordered]
    doc = _Document(title, lede, ordered, glance, sections)
    (out / "report.md").write_text(_markdown(doc))
    (out / "report.html").write_text(_html(doc))
    table = mean_r2_table(results)
    only = learners[0]
    return {
        "table": table,
        "verdict": bar_verdict(table) if len(learners) == 1 else {},
        "verdicts": verdicts,
        "headline": headline,
        "ranking": rankings[only],
        "rankings": rankings,
        "tests": pd.concat(all_tests, ignore_index=True) if all_tests else pd.DataFrame(),
    }


def write_report(
    out: Path,
    command: str,
    settings: dict[str, Any] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write report.md, report.html and figures into ``out`` from its results.csv (the rows
    with these settings) and curves.csv; return the key numbers (:func:`render_report`)."""
    results = load_results(out, settings)
    if results.empty:
        raise ValueError(f"{out / 'results.csv'} has no rows for these settings.")
    curves_path = out / "curves.csv"
    curves = pd.read_csv(curves_path) if curves_path.exists() else None
    return render_report(results, out, command=command, curves=curves, datasets=datasets)
