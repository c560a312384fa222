"""Turn results.csv into report.md, a self-contained report.html and figures."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ASRL_VARIANTS, BASELINES
from .stats import Ranking, rank_losses, summarise, wilcoxon_table

__all__ = ["bar_verdict", "load_results", "mean_r2_table", "write_report"]

REFERENCE = "asrl"


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


def mean_r2_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean test R^2: one row per dataset and contamination, one column per loss."""
    table = results.groupby(["dataset", "contamination", "loss"])["r2"].mean().unstack("loss")
    # Baselines first, then ASRL's variants, whatever order parallel fits finished in.
    known = [c for c in (*BASELINES, *ASRL_VARIANTS) if c in table.columns]
    return table[known + sorted(c for c in table.columns if c not in known)]


def bar_verdict(table: pd.DataFrame) -> dict[str, Any]:
    """The project's bar for ASRL's default (README): best under contamination, and on
    clean data within 0.005 R^2 of the best baseline on average (0.01 on every dataset)."""
    if REFERENCE not in table.columns:
        return {}
    baselines = [c for c in table.columns if not c.startswith("asrl")]
    if not baselines:
        return {}
    gap = table[REFERENCE] - table[baselines].max(axis=1)
    contaminated = gap[gap.index.get_level_values("contamination") > 0]
    clean = gap[gap.index.get_level_values("contamination") == 0]
    return {
        "contaminated_blocks": len(contaminated),
        "contaminated_wins": int((contaminated > 0).sum()),
        "clean_mean_gap": float(clean.mean()) if len(clean) else math.nan,
        "clean_worst_gap": float(clean.min()) if len(clean) else math.nan,
        "bar_contaminated": bool(len(contaminated) and (contaminated > 0).all()),
        "bar_clean": bool(len(clean) and clean.mean() >= -0.005 and clean.min() >= -0.01),
        "gap": gap,
    }


@dataclass
class _Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    images: list[tuple[str, Path]] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    if "contamination" in frame.columns:
        frame = frame.assign(contamination=[f"{c:g}" for c in frame["contamination"]])
    return frame


def _markdown_table(frame: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    frame = _flat(frame)
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = [header, rule]
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for j, value in enumerate(row):
            cell = _fmt(value)
            if bold is not None and bool(bold.iloc[i, j]):
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    frame = _flat(frame)
    out = ["<table><thead><tr>"]
    out += [f"<th>{html.escape(str(c))}</th>" for c in frame.columns]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(frame.itertuples(index=False)):
        out.append("<tr>")
        for j, value in enumerate(row):
            cell = html.escape(_fmt(value))
            if bold is not None and bool(bold.iloc[i, j]):
                cell = f"<b>{cell}</b>"
            out.append(f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _best_mask(table: pd.DataFrame) -> pd.DataFrame:
    """Mask of the best loss per row, aligned with ``table.reset_index()``."""
    flat = table.reset_index()
    mask = pd.DataFrame(False, index=flat.index, columns=flat.columns)
    values = table.to_numpy()
    for i in range(values.shape[0]):
        row = values[i]
        if np.isfinite(row).any():
            j = int(np.nanargmax(row))
            mask.iloc[i, table.index.nlevels + j] = True
    return mask


def _figures(
    results: pd.DataFrame, curves: pd.DataFrame | None, ranking: Ranking, out: Path
) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: dict[str, Path] = {}
    datasets = list(results["dataset"].drop_duplicates())
    losses = list(results["loss"].drop_duplicates())
    colours = {loss: plt.get_cmap("tab10")(i % 10) for i, loss in enumerate(losses)}

    def style(loss: str) -> dict[str, Any]:
        return {
            "color": colours[loss],
            "lw": 2.6 if loss == REFERENCE else 1.2,
            "ls": "-" if loss.startswith("asrl") or loss == "mse" else "--",
        }

    cols = min(3, len(datasets))
    rows = math.ceil(len(datasets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    means = results.groupby(["dataset", "loss", "contamination"])["r2"].mean()
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        for loss in losses:
            if (dataset, loss) in means.index.droplevel(2):
                series = means.loc[(dataset, loss)]
                ax.plot(series.index, series.to_numpy(), marker="o", label=loss, **style(loss))
        ax.set_title(dataset)
        ax.set_xlabel("contamination of training labels")
        ax.set_ylabel("test R²")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    paths["robustness"] = out / "robustness.png"
    fig.savefig(paths["robustness"], dpi=110)
    plt.close(fig)

    if curves is not None and len(curves):
        top = curves["contamination"].max()
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        median = (
            curves[curves["contamination"] == top]
            .groupby(["dataset", "loss", "round"])["test_r2"]
            .median()
        )
        for ax, dataset in zip(axes.flat, datasets, strict=False):
            for loss in losses:
                if (dataset, loss) in median.index.droplevel(2):
                    series = median.loc[(dataset, loss)]
                    ax.plot(series.index, series.to_numpy(), label=loss, **style(loss))
            ax.set_title(f"{dataset}, contamination {top:g}")
            ax.set_xlabel("boosting round")
            ax.set_ylabel("median test R²")
            ax.set_ylim(bottom=max(-0.5, ax.get_ylim()[0]))
        for ax in list(axes.flat)[len(datasets) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.tight_layout()
        paths["convergence"] = out / "convergence.png"
        fig.savefig(paths["convergence"], dpi=110)
        plt.close(fig)

    ranks = ranking.mean_ranks
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.35 * len(ranks)))
    ax.scatter(
        ranks.to_numpy(),
        range(len(ranks)),
        color=[colours.get(n, "k") for n in ranks.index],
        zorder=3,
    )
    for i, (name, value) in enumerate(ranks.items()):
        ax.annotate(
            f"{name} ({value:.2f})",
            (value, i),
            xytext=(6, -4),
            textcoords="offset points",
            fontsize=8,
        )
    if np.isfinite(ranking.critical_difference):
        best = float(ranks.iloc[0])
        ax.plot([best, best + ranking.critical_difference], [-0.8, -0.8], color="k", lw=3)
        ax.annotate(
            f"CD = {ranking.critical_difference:.2f} (Nemenyi, alpha 0.05)",
            (best, -0.8),
            xytext=(0, 6),
            textcoords="offset points",
            fontsize=8,
        )
        for i, value in enumerate(ranks.to_numpy()):
            group = np.flatnonzero(np.abs(ranks.to_numpy() - value) <= ranking.critical_difference)
            if len(group) > 1 and group[0] == i:
                ax.plot(
                    [ranks.iloc[group[0]], ranks.iloc[group[-1]]],
                    [i - 0.3, i - 0.3],
                    color="grey",
                    lw=1.5,
                )
    ax.set_yticks([])
    ax.set_xlabel("mean rank by test R² over datasets x contamination levels (1 = best)")
    ax.set_ylim(len(ranks) - 0.3, -1.3)
    fig.tight_layout()
    paths["cd"] = out / "critical_difference.png"
    fig.savefig(paths["cd"], dpi=110)
    plt.close(fig)

    paths["shapes"] = _shapes(losses, colours, out)
    return paths


def _shapes(losses: list[str], colours: dict[str, Any], out: Path) -> Path:
    import matplotlib.pyplot as plt

    from .. import get_loss
    from .models import asrl_params

    sample = np.random.default_rng(0).standard_normal(20_000)
    grid = np.linspace(-6, 6, 601)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in losses:
        params = asrl_params(name)
        loss = get_loss(name) if params is None else get_loss("asrl", **params)
        fixed = loss.statistics(np.zeros_like(sample), sample)
        zero = np.zeros_like(grid)
        left.plot(grid, loss.loss(zero, grid, **fixed), label=name, color=colours[name])
        right.plot(grid, loss.gradient(zero, grid, **fixed), label=name, color=colours[name])
    left.set_title("loss rho(u), statistics of N(0, 1) residuals")
    right.set_title("gradient psi(u)")
    left.set_ylim(0, 8)
    for ax in (left, right):
        ax.set_xlabel("residual u = prediction - label")
    right.legend(fontsize=7)
    fig.tight_layout()
    path = out / "shapes.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    out: Path,
    command: str,
    settings: dict[str, Any] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write report.md, report.html and figures into ``out``; return the key numbers."""
    results = load_results(out, settings)
    if results.empty:
        raise ValueError(f"{out / 'results.csv'} has no rows for these settings.")
    curves_path = out / "curves.csv"
    curves = None
    if curves_path.exists():
        curves = pd.read_csv(curves_path).drop_duplicates(
            [
                "learner",
                "dataset",
                "kind",
                "contamination",
                "loss",
                "seed",
                "fold",
                "round",
                "n_rounds",
            ]
        )
        curves = curves.merge(
            results[["dataset", "contamination", "loss", "seed", "fold"]].drop_duplicates()
        )
    table = mean_r2_table(results)
    verdict = bar_verdict(table)
    ranking = rank_losses(results)
    tests = wilcoxon_table(results)
    summary = summarise(results)
    figures = _figures(results, curves, ranking, out)

    sections = []
    intro = _Section("Run")
    intro.text.append(f"Command: `{command}`")
    first = results.iloc[0]
    intro.text.append(
        f"Learner {first['learner']}, {first['n_rounds']} rounds, depth {first['max_depth']}, "
        f"learning rate {first['learning_rate']}, {first['folds']}-fold CV x "
        f"{results['seed'].nunique()} seed(s); contamination kind {first['kind']} "
        "(training labels only; test folds clean); metric: test R^2 (higher is better)."
    )
    if datasets:
        intro.tables.append(("Datasets", pd.DataFrame(datasets)))
    sections.append(intro)

    main = _Section("Mean test R^2 (best per row in bold)")
    main.tables.append(("", table))
    if verdict:
        gap = verdict["gap"].rename("asrl - best baseline").to_frame()
        main.text.append(
            f"ASRL's default (`asrl`) beats every baseline in {verdict['contaminated_wins']} of "
            f"{verdict['contaminated_blocks']} contaminated dataset x level blocks. On clean data "
            f"its R^2 differs from the best baseline's by {verdict['clean_mean_gap']:+.4f} on "
            f"average (worst {verdict['clean_worst_gap']:+.4f}). Project bar: best under "
            f"contamination everywhere ({'met' if verdict['bar_contaminated'] else 'NOT met'}); "
            f"within 0.005 on clean data on average and 0.01 everywhere "
            f"({'met' if verdict['bar_clean'] else 'NOT met'})."
        )
        main.tables.append(("ASRL minus the best baseline (negative: ASRL loses)", gap))
    main.images.append(("Robustness: test R^2 against contamination", figures["robustness"]))
    sections.append(main)

    paired = _Section("Paired tests: asrl against each loss")
    if len(tests):
        paired.text.append(
            "Two-sided Wilcoxon signed-rank test on the R^2 of the same splits, Holm-corrected "
            "over the losses within each dataset and contamination level. With n pairs the "
            "smallest attainable p-value is 2/2^n."
        )
        paired.tables.append(("", tests))
    sections.append(paired)

    ranks = _Section("Ranks across datasets and contamination levels")
    ranks.text.append(
        f"Friedman chi-square = {ranking.friedman_statistic:.2f}, p = {ranking.friedman_p:.3g} "
        f"over {ranking.n_blocks} blocks; Nemenyi critical difference "
        f"{ranking.critical_difference:.2f}."
    )
    ranks.tables.append(("Mean rank (1 = best)", ranking.mean_ranks.rename("mean rank").to_frame()))
    ranks.images.append(("Critical difference diagram", figures["cd"]))
    sections.append(ranks)

    cost = _Section("Cost and convergence")
    per_loss = summary.groupby("loss")[["fit_seconds_mean", "rounds_mean"]].mean()
    per_loss.columns = ["mean fit seconds", "mean rounds to 99% of final R^2"]
    cost.tables.append(("", per_loss))
    if "convergence" in figures:
        cost.images.append(("Convergence at the highest contamination", figures["convergence"]))
    cost.images.append(("Shapes of the losses", figures["shapes"]))
    sections.append(cost)

    full = _Section("All metrics (mean, sd, count over splits)")
    full.tables.append(("", summary))
    sections.append(full)

    _write_markdown(out / "report.md", sections, table)
    _write_html(out / "report.html", sections, table)
    return {"table": table, "verdict": verdict, "ranking": ranking, "tests": tests}


def _write_markdown(path: Path, sections: list[_Section], table: pd.DataFrame) -> None:
    lines = ["# ASRL benchmark report", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for text in section.text:
            lines += [text, ""]
        for caption, frame in section.tables:
            if caption:
                lines += [f"**{caption}**", ""]
            bold = _best_mask(frame) if frame is table else None
            lines += [_markdown_table(frame, bold), ""]
        for caption, image in section.images:
            lines += [f"![{caption}]({image.name})", ""]
    path.write_text("\n".join(lines))


def _write_html(path: Path, sections: list[_Section], table: pd.DataFrame) -> None:
    body = ["<h1>ASRL benchmark report</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for text in section.text:
            body.append(f"<p>{html.escape(text).replace('`', '')}</p>")
        for caption, frame in section.tables:
            if caption:
                body.append(f"<p><b>{html.escape(caption)}</b></p>")
            bold = _best_mask(frame) if frame is table else None
            body.append(_html_table(frame, bold))
        for caption, image in section.images:
            data = base64.b64encode(image.read_bytes()).decode()
            body.append(
                f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "img{max-width:100%}"
    )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>ASRL benchmark"
        f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
