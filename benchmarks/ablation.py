"""The ablation that chose ASRL's defaults (docs/defaults.md).

Runs the default benchmark protocol (5 datasets, contamination 0 / 0.1 / 0.2,
symmetric gross outliers, XGBoost, 4-fold CV, 200 rounds, depth 4) for a grid of ASRL
configurations, and writes the usual report into ``--out``.

Run: ``python benchmarks/ablation.py --out ablation-results``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asrl.bench.report import write_report
from asrl.bench.run import BenchConfig, run_bench

GRID = (
    "asrl[q_low=0.5,q_high=0.9]",
    "asrl[q_low=0.7,q_high=0.95]",
    "asrl[q_low=0.8,q_high=0.98]",
    "asrl[q_low=0.9,q_high=0.99]",
    "asrl[thresholds=scale,c1=1.345,c2=3]",
    "asrl[thresholds=scale,c1=2,c2=4]",
    "asrl[thresholds=scale,c1=2.5,c2=5]",
    "asrl[thresholds=scale,c1=3,c2=6]",
    "asrl[thresholds=scale,c1=2,c2=4,hessian=unit]",
    "asrl[thresholds=scale,c1=2,c2=4,weights=stats]",
    "mse",
    "mae",
    "huber-adaptive",
    "pseudo-huber-auto",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("ablation-results"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    config = BenchConfig(losses=GRID, out=args.out, jobs=args.jobs)
    run_bench(config)
    report = write_report(args.out, "python benchmarks/ablation.py", config.settings())
    print(report["table"].round(4).to_string())
    print(report["ranking"].mean_ranks.round(2).to_string())


if __name__ == "__main__":
    main()
