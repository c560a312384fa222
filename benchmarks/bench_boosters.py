"""Training time of the three ASRL boosters against each library's built-in robust loss.

For each booster and size, the ASRL estimator and the same library's built-in robust
objective train the same trees (depth or leaves, rounds, learning rate, threads, start)
on the same data, fitted interleaved in one process (A B, B A, ...); the figure is the
median of the pairwise wall-time ratios ASRL / built-in, so machine noise hits both
sides alike. The pairs:

- ``ASRLXGBRegressor`` against ``XGBRegressor(objective="reg:pseudohubererror")``,
  depth 6, ``hist``, ``base_score`` the median of ``y``;
- ``ASRLLGBMRegressor`` against ``LGBMRegressor(objective="huber")``, 63 leaves,
  ``init_score`` the median;
- ``ASRLCatBoostRegressor`` against ``CatBoostRegressor(loss_function="Huber:delta=1")``,
  depth 6, ``baseline`` the median, Plain boosting, one Newton leaf step.

Run: ``python benchmarks/bench_boosters.py [--sizes 1e5 3e5 1e6] [--boosters xgboost
lightgbm catboost] [--pairs 3] [--rounds 50] [--threads 2]``. It prints one line per
fit pair, then a markdown table of the median ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Fit = Callable[[NDArray[Any], NDArray[Any]], object]


@dataclass(frozen=True)
class Pair:
    """One booster's two fits: ASRL's and the built-in reference's."""

    booster: str
    reference: str
    asrl: Fit
    builtin: Fit


def xgboost_pair(rounds: int, threads: int, learning_rate: float) -> Pair:
    """``ASRLXGBRegressor`` against ``reg:pseudohubererror`` with the same trees."""
    import xgboost as xgb

    from asrl.xgboost import ASRLXGBRegressor

    trees: dict[str, Any] = {
        "n_estimators": rounds,
        "max_depth": 6,
        "tree_method": "hist",
        "learning_rate": learning_rate,
        "n_jobs": threads,
    }

    def asrl(X: NDArray[Any], y: NDArray[Any]) -> object:
        return ASRLXGBRegressor(**trees).fit(X, y)

    def builtin(X: NDArray[Any], y: NDArray[Any]) -> object:
        model = xgb.XGBRegressor(
            objective="reg:pseudohubererror", base_score=float(np.median(y)), **trees
        )
        return model.fit(X, y)

    return Pair(f"XGBoost {xgb.__version__}", "`reg:pseudohubererror`", asrl, builtin)


def lightgbm_pair(rounds: int, threads: int, learning_rate: float) -> Pair:
    """``ASRLLGBMRegressor`` against LightGBM's ``huber`` with the same trees."""
    import lightgbm as lgb

    from asrl.lightgbm import ASRLLGBMRegressor

    trees: dict[str, Any] = {
        "n_estimators": rounds,
        "num_leaves": 63,
        "learning_rate": learning_rate,
        "n_jobs": threads,
        "verbose": -1,
    }

    def asrl(X: NDArray[Any], y: NDArray[Any]) -> object:
        return ASRLLGBMRegressor(**trees).fit(X, y)

    def builtin(X: NDArray[Any], y: NDArray[Any]) -> object:
        model = lgb.LGBMRegressor(objective="huber", alpha=1.0, **trees)
        return model.fit(X, y, init_score=np.full(len(y), np.median(y)))

    return Pair(f"LightGBM {lgb.__version__}", '`objective="huber"`', asrl, builtin)


def catboost_pair(rounds: int, threads: int, learning_rate: float) -> Pair:
    """``ASRLCatBoostRegressor`` against CatBoost's ``Huber`` with the same trees."""
    import catboost as cb

    from asrl.catboost import ASRLCatBoostRegressor

    trees: dict[str, Any] = {
        "iterations": rounds,
        "depth": 6,
        "learning_rate": learning_rate,
        "thread_count": threads,
        "boosting_type": "Plain",
        "leaf_estimation_method": "Newton",
        "leaf_estimation_iterations": 1,
        "verbose": 0,
        "allow_writing_files": False,
    }

    def asrl(X: NDArray[Any], y: NDArray[Any]) -> object:
        return ASRLCatBoostRegressor(**trees).fit(X, y)

    def builtin(X: NDArray[Any], y: NDArray[Any]) -> object:
        model = cb.CatBoostRegressor(loss_function="Huber:delta=1.0", **trees)
        return model.fit(X, y, baseline=np.full(len(y), np.median(y)))

    return Pair(f"CatBoost {cb.__version__}", '`loss_function="Huber:delta=1.0"`', asrl, builtin)


PAIRS: dict[str, Callable[[int, int, float], Pair]] = {
    "xgboost": xgboost_pair,
    "lightgbm": lightgbm_pair,
    "catboost": catboost_pair,
}


def make_data(n: int, features: int, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    """A linear signal in 5 of ``features`` normal columns plus Student-t(3) noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    y = X[:, :5] @ rng.normal(size=5) + rng.standard_t(3, n)
    return X, y.astype(np.float32)


def timed(fit: Fit, X: NDArray[Any], y: NDArray[Any]) -> float:
    """Wall seconds of one fit."""
    start = time.perf_counter()
    fit(X, y)
    return time.perf_counter() - start


def interleaved(
    pair: Pair, X: NDArray[Any], y: NDArray[Any], pairs: int, log: Callable[[str], None]
) -> tuple[float, float, float]:
    """Median ratio ASRL / built-in over ``pairs`` fit pairs, and both median times.

    The order alternates (built-in first, then ASRL first), so a drift in machine
    load between the two fits of a pair does not favour either.
    """
    ratios, t_asrl, t_builtin = [], [], []
    for i in range(pairs):
        if i % 2 == 0:
            b = timed(pair.builtin, X, y)
            a = timed(pair.asrl, X, y)
        else:
            a = timed(pair.asrl, X, y)
            b = timed(pair.builtin, X, y)
        ratios.append(a / b)
        t_asrl.append(a)
        t_builtin.append(b)
        log(
            f"  {pair.booster:<16} n={len(y):>8}  built-in {b:7.3f} s  ASRL {a:7.3f} s  "
            f"ratio {a / b:.3f}"
        )
    return statistics.median(ratios), statistics.median(t_asrl), statistics.median(t_builtin)


def main(argv: list[str] | None = None) -> None:
    """Measure, then print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 3e5, 1e6])
    parser.add_argument("--boosters", nargs="+", choices=list(PAIRS), default=list(PAIRS))
    parser.add_argument("--pairs", type=int, default=3, help="interleaved fit pairs per size")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    args = parser.parse_args(argv)

    rows = []
    for name in args.boosters:
        pair = PAIRS[name](args.rounds, args.threads, args.learning_rate)
        X, y = make_data(2000, args.features)
        pair.asrl(X, y)  # warm-up: imports, first-call costs
        pair.builtin(X, y)
        for size in args.sizes:
            X, y = make_data(int(size), args.features)
            ratio, a, b = interleaved(pair, X, y, args.pairs, lambda s: print(s, flush=True))
            rows.append((pair, int(size), a, b, ratio))

    print()
    print(
        f"{args.features} features, {args.rounds} rounds, learning rate {args.learning_rate}, "
        f"{args.threads} threads; median of {args.pairs} interleaved pairs"
    )
    print()
    print("| booster | built-in reference | rows | ASRL s | built-in s | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for pair, n, a, b, ratio in rows:
        print(f"| {pair.booster} | {pair.reference} | {n:,} | {a:.2f} | {b:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
