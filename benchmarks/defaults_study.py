"""Score candidate defaults against the goals of the safe-default study (docs/defaults.md).

Reads one or more ``asrl bench`` result folders (every row of their
``all-results.csv``), averages R² over seeds and folds per block (learner x dataset x
scenario x kind x contamination) and loss, and prints, per learner and loss:

- regret: R² minus the best R² of any loss in the block (mean, worst), on clean data and
  under contamination;
- against the best *baseline* (every loss not named ``asrl...``): the mean and worst clean
  gap, and the share of contaminated blocks where the loss is within 0.005 of the best
  baseline or better (within 0.01 at 40 %), the goal's figures;
- rounds to reach 99 % of the block's best final R² (median over blocks; the bench's
  ``rounds`` column is per fit, against its own final R²).

Usage: ``python benchmarks/defaults_study.py OUT [OUT ...] [--losses a,b] [--markdown]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

BLOCK = ["learner", "dataset", "scenario", "kind", "contamination"]


def load(folders: list[Path]) -> pd.DataFrame:
    frames = [pd.read_csv(folder / "all-results.csv") for folder in folders]
    results = pd.concat(frames, ignore_index=True)
    # The same fit may appear in two folders, and one label may have meant other
    # parameters in an older run (``asrl`` before a change of defaults): the last
    # written row of each fit wins, and the shadowed ones are counted.
    key = [*BLOCK, "loss", "seed", "fold"]
    kept = results.drop_duplicates(key, keep="last")
    shadowed = results.merge(kept[[*key, "loss_params"]], on=key, suffixes=("", "_kept"))
    older = int((shadowed["loss_params"] != shadowed["loss_params_kept"]).sum())
    if older:
        print(f"note: {older} older rows with other parameters under the same label ignored")
    return kept


def block_means(results: pd.DataFrame, losses: list[str] | None = None) -> pd.DataFrame:
    """Mean R² per block and loss, over the blocks where every loss scored (the given
    ``losses`` and every baseline) has results."""
    complete = results.groupby([*BLOCK, "loss"])["r2"].agg(["mean", "count"]).reset_index()
    table = complete.pivot_table(index=BLOCK, columns="loss", values="mean")
    if losses:
        keep = [c for c in table.columns if not str(c).startswith("asrl") or c in losses]
        table = table[keep]
    return table.dropna(axis=0, how="any")


def convergence(folders: list[Path], table: pd.DataFrame, losses: list[str]) -> pd.Series:
    """Per loss: the median over blocks of the rounds its mean test R² curve takes to
    reach 99 % of the block's best final R² (blocks where that best is positive), and
    how many blocks it never reaches it in."""
    frames = [pd.read_csv(folder / "all-curves.csv") for folder in folders]
    curves = pd.concat(frames, ignore_index=True)
    curves = curves.drop_duplicates([*BLOCK, "loss", "seed", "fold", "round"], keep="last")
    mean = curves.groupby([*BLOCK, "loss", "round"])["test_r2"].mean()
    best = table.max(axis=1)
    out = {}
    for loss in losses:
        reached, never = [], 0
        for block, target in best.items():
            if not target > 0:
                continue
            try:
                key = (*block, loss)
                curve = mean.loc[key]
            except KeyError:
                continue
            hit = curve[curve >= 0.99 * target]
            if len(hit):
                reached.append(int(hit.index[0]))
            else:
                never += 1
        median = float(np.median(reached)) if reached else float("nan")
        out[loss] = f"{median:.0f} ({never} never)"
    return pd.Series(out, name="rounds to 99 % of best")


def score(table: pd.DataFrame, losses: list[str]) -> pd.DataFrame:
    baselines = [c for c in table.columns if not str(c).startswith("asrl")]
    best = table.max(axis=1)
    best_baseline = table[baselines].max(axis=1)
    level = table.index.get_level_values("contamination")
    clean, dirty, forty = level == 0, level > 0, level >= 0.4
    rows = []
    for loss in losses:
        regret = table[loss] - best
        gap = table[loss] - best_baseline
        tolerance = np.where(level >= 0.4, 0.01, 0.005)
        ok = gap >= -tolerance
        rows.append(
            {
                "loss": loss,
                "clean gap mean": gap[clean].mean(),
                "clean gap worst": gap[clean].min(),
                "dirty ok <40%": ok[dirty & ~forty].mean() if (dirty & ~forty).any() else np.nan,
                "dirty ok 40%": ok[forty].mean() if forty.any() else np.nan,
                "dirty gap mean": gap[dirty].mean(),
                "regret mean": regret.mean(),
                "regret worst": regret.min(),
                "blocks won": int((table[losses].idxmax(axis=1) == loss).sum()),
                "blocks": len(table),
            }
        )
    return pd.DataFrame(rows).set_index("loss")


def markdown(frame: pd.DataFrame) -> str:
    """A frame as a markdown table (index first), without optional dependencies."""
    index = frame.index.name or ""
    rows = [[str(i), *map(str, row)] for i, row in zip(frame.index, frame.to_numpy(), strict=True)]
    header = [index, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="+", type=Path)
    parser.add_argument(
        "--losses", help="semicolon-separated losses to score (default: all); baselines always"
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--blocks", action="store_true", help="print the block table too")
    parser.add_argument("--convergence", action="store_true", help="add rounds to 99 %% of best")
    args = parser.parse_args()
    results = load(args.out)
    for learner, part in results.groupby("learner"):
        wanted = args.losses.split(";") if args.losses else None
        table = block_means(part, wanted)
        losses = wanted or list(table.columns)
        print(f"\n## {learner}: {len(table)} complete blocks")
        scored = score(table, losses).round(4)
        if args.convergence:
            scored = scored.join(convergence(args.out, table, losses))
        print(markdown(scored) if args.markdown else scored.to_string())
        if args.blocks:
            print((table - table.max(axis=1).to_numpy()[:, None]).round(3).to_string())


if __name__ == "__main__":
    main()
