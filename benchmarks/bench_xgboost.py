"""Training time of ASRLXGBRegressor against XGBoost's built-in pseudo-Huber.

Same data, trees and rounds; fits interleaved (A B A B ...) in one process, and the
figure is the median of the pairwise time ratios. Also times one objective call (the
per-round cost ASRL adds) per 1e6 rows, interleaved with an ``np.abs`` pass.

Run: ``python benchmarks/bench_xgboost.py [--rows 1000000] [--pairs 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import xgboost as xgb

from asrl import ASRL
from asrl._boosting import BoostingRound
from asrl.xgboost import ASRLXGBRegressor


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
    y = (X[:, :5] @ rng.normal(size=5) + rng.standard_t(3, args.rows)).astype(np.float32)
    trees = {"n_estimators": args.rounds, "max_depth": 6, "tree_method": "hist"}
    asrl_model = ASRLXGBRegressor(**trees)
    builtin = xgb.XGBRegressor(
        objective="reg:pseudohubererror", base_score=float(np.median(y)), **trees
    )
    ratios = []
    for _ in range(args.pairs):
        t_builtin = timed(partial(builtin.fit, X, y))
        t_asrl = timed(partial(asrl_model.fit, X, y))
        ratios.append(t_asrl / t_builtin)
        print(f"  pseudo-Huber {t_builtin:6.2f} s   ASRL {t_asrl:6.2f} s   ratio {ratios[-1]:.3f}")
    print(
        f"xgboost {xgb.__version__}, {args.rows} x {args.features}, {args.rounds} rounds, "
        f"depth 6, hist: training-time ratio ASRL / pseudo-Huber = "
        f"{statistics.median(ratios):.3f} (median of {args.pairs} interleaved pairs)"
    )

    state = BoostingRound(ASRL(threshold_sample=65536), y)
    pred = np.full_like(y, np.median(y)) + rng.normal(size=args.rows).astype(np.float32)
    call_times, abs_times = [], []
    for _ in range(30):
        abs_times.append(timed(partial(np.abs, pred)))
        call_times.append(timed(partial(state, pred)))
    per_million = 1e6 / args.rows
    print(
        f"objective call: {statistics.median(call_times) * 1e3 * per_million:.2f} ms per 1e6 "
        f"rows (median of 30; np.abs pass {statistics.median(abs_times) * 1e3 * per_million:.2f}"
        " ms per 1e6)"
    )


if __name__ == "__main__":
    main()
