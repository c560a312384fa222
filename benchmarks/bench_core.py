"""Cost of the core ``gradient_hessian`` as a ratio to one ``np.abs`` pass.

Both are timed in the same process, interleaved (A B A B ...), and the figure is the
median of the pairwise ratios, so machine noise hits both sides alike.

Run: ``python benchmarks/bench_core.py [--sizes 1e6 1e7] [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from asrl import ASRL


def best_of(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call, the minimum over ``inner`` calls."""
    best = float("inf")
    for _ in range(inner):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved_ratio(
    candidate: Callable[[], object], baseline: Callable[[], object], repeats: int, inner: int
) -> tuple[float, float, float]:
    """Median over ``repeats`` of candidate/baseline time, plus both median times."""
    ratios, times_c, times_b = [], [], []
    for _ in range(repeats):
        b = best_of(baseline, inner)
        c = best_of(candidate, inner)
        ratios.append(c / b)
        times_c.append(c)
        times_b.append(b)
    return statistics.median(ratios), statistics.median(times_c), statistics.median(times_b)


def cases(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Callable[[], object]]:
    """The timed calls: with exact or subsampled thresholds computed, with them given
    (with and without output buffers), and the statistics alone."""
    exact, sampled = ASRL(threshold_sample=None), ASRL()
    statistics = exact.statistics(y_true, y_pred)
    g, h = np.empty_like(y_true), np.empty_like(y_true)
    return {
        "gradient_hessian (exact thresholds)": partial(exact.gradient_hessian, y_true, y_pred),
        "gradient_hessian (subsampled)": partial(sampled.gradient_hessian, y_true, y_pred),
        "gradient_hessian (given)": partial(
            exact.gradient_hessian, y_true, y_pred, statistics=statistics
        ),
        "gradient_hessian (given, buffers)": partial(
            exact.gradient_hessian,
            y_true,
            y_pred,
            statistics=statistics,
            gradient_out=g,
            hessian_out=h,
        ),
        "statistics only (exact)": partial(exact.statistics, y_true, y_pred),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--inner", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}; float32; median of {args.repeats} interleaved ratios")
    print(f"{'n':>10}  {'case':<36} {'ms':>9} {'abs ms':>8} {'ratio':>7}")
    for size in args.sizes:
        n = int(size)
        y_true = rng.standard_normal(n).astype(np.float32)
        y_pred = (y_true + rng.standard_t(3, n)).astype(np.float32)
        u = y_pred - y_true
        for name, fn in cases(y_true, y_pred).items():
            ratio, t_c, t_b = interleaved_ratio(fn, partial(np.abs, u), args.repeats, args.inner)
            print(f"{n:>10}  {name:<36} {t_c * 1e3:9.2f} {t_b * 1e3:8.3f} {ratio:7.1f}")


if __name__ == "__main__":
    main()
