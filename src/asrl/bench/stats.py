"""Statistics of a benchmark run: summaries, paired tests, ranks and critical difference.

A *block* is one cell of the comparison: a learner, a dataset, a scenario (the columns of
:data:`CONDITIONS` that a results table has) and a contamination level. Per block: mean
and standard deviation of every metric over seeds x folds, and a two-sided Wilcoxon
signed-rank test of ASRL's R^2 against each baseline's on the same folds, Holm-corrected
over the baselines. Across blocks: each loss's mean rank by mean R^2, Friedman's test, and
the Nemenyi critical difference (Demsar, 2006) for the CD diagram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CONDITIONS",
    "Ranking",
    "block_columns",
    "holm",
    "nemenyi_q",
    "rank_losses",
    "summarise",
    "wilcoxon_table",
]

#: Studentized range statistic / sqrt(2) at alpha = 0.05 for k = 2..10 (Demsar, 2006).
NEMENYI_Q05 = {
    2: 1.960,
    3: 2.343,
    4: 2.569,
    5: 2.728,
    6: 2.850,
    7: 2.949,
    8: 3.031,
    9: 3.102,
    10: 3.164,
}

#: Columns besides the dataset and the contamination level that define a block, where a
#: results table has them (the contamination kind, a scenario, a split).
CONDITIONS = ("kind", "scenario", "split")


def block_columns(results: pd.DataFrame) -> list[str]:
    """The columns of ``results`` that define a block: learner, dataset, conditions, level.

    Examples
    --------
    >>> block_columns(pd.DataFrame(columns=["dataset", "kind", "contamination", "loss", "r2"]))
    ['dataset', 'kind', 'contamination']
    """
    present = [c for c in ("learner", "dataset", *CONDITIONS) if c in results.columns]
    return [*present, "contamination"]


def nemenyi_q(k: int) -> float:
    """The Nemenyi test's critical value at alpha 0.05 for ``k`` losses (Demsar, 2006).

    Examples
    --------
    >>> nemenyi_q(4), round(nemenyi_q(12), 3)
    (2.569, 3.268)
    """
    if k < 2:
        return math.nan
    if k in NEMENYI_Q05:
        return NEMENYI_Q05[k]
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(0.95, k, np.inf)) / math.sqrt(2)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of each metric per dataset, contamination and loss."""
    metrics = ["r2", "mse", "mae", "medae", "fit_seconds", "rounds"]
    frame = results.copy()
    frame["rounds"] = pd.to_numeric(frame["rounds"], errors="coerce")
    grouped = frame.groupby([*block_columns(frame), "loss"], sort=True, dropna=False)[metrics]
    summary = grouped.agg(["mean", "std", "count"])
    summary.columns = [f"{m}_{s}" for m, s in summary.columns]
    return summary.reset_index()


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Examples
    --------
    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def wilcoxon_table(results: pd.DataFrame, reference: str = "asrl") -> pd.DataFrame:
    """Paired two-sided Wilcoxon tests of ``reference``'s R^2 against each other loss.

    Pairs are the (seed, fold) splits of a dataset at one contamination level; with
    ``n`` pairs the smallest possible p-value is ``2 / 2**n`` (0.0625 for 4 pairs), so
    a few folds cannot show significance, only direction.
    """
    from scipy.stats import wilcoxon

    rows = []
    blocks = block_columns(results)
    for names, block in results.groupby(blocks, sort=True, dropna=False):
        wide = block.pivot_table(index=["seed", "fold"], columns="loss", values="r2")
        if reference not in wide:
            continue
        tests = []
        for other in [c for c in wide.columns if c != reference]:
            diff = (wide[reference] - wide[other]).dropna()
            if len(diff) == 0:
                continue
            p = 1.0 if np.allclose(diff, 0) else float(wilcoxon(diff, zero_method="zsplit").pvalue)
            tests.append((other, float(diff.mean()), int((diff > 0).sum()), len(diff), p))
        adjusted = holm([t[-1] for t in tests])
        for (other, mean_diff, wins, n, p), p_holm in zip(tests, adjusted, strict=True):
            rows.append(
                {
                    **dict(zip(blocks, names, strict=True)),
                    "baseline": other,
                    "mean_r2_diff": mean_diff,
                    "wins": f"{wins}/{n}",
                    "p": p,
                    "p_holm": p_holm,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Ranking:
    """Mean ranks over blocks, Friedman's test and Nemenyi's critical difference."""

    mean_ranks: pd.Series
    n_blocks: int
    friedman_statistic: float
    friedman_p: float
    critical_difference: float


def rank_losses(results: pd.DataFrame) -> Ranking:
    """Rank the losses by mean R^2 in every block (1 = best); blocks missing a loss are left out."""
    from scipy.stats import friedmanchisquare

    blocks = block_columns(results)
    means = results.groupby([*blocks, "loss"], dropna=False)["r2"].mean().unstack("loss").dropna()
    ranks = means.rank(axis=1, ascending=False)
    k, n = means.shape[1], means.shape[0]
    if k >= 3 and n >= 2:
        statistic, p = friedmanchisquare(*[means[c] for c in means.columns])
    else:
        statistic, p = math.nan, math.nan
    cd = nemenyi_q(k) * math.sqrt(k * (k + 1) / (6 * n)) if n else math.nan
    return Ranking(ranks.mean().sort_values(), n, float(statistic), float(p), cd)
