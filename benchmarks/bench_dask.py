"""Time per boosting round on Dask: ASRL with global thresholds against alternatives.

On a ``distributed.LocalCluster`` of 1 and then 2 worker processes (one thread each), the
same rows (split evenly, one block per worker) are trained through ``xgboost.dask.train``
with three objectives, interleaved:

- ``builtin``: XGBoost's ``reg:pseudohubererror`` (C++, no Python per round);
- ``asrl-local``: ASRL from ``asrl.xgboost.objective()``: each worker takes thresholds
  from its own rows (what a naive port does; wrong, but the same Python work);
- ``asrl-global``: ``asrl.dask.objective()``: thresholds from all rows (radix selection
  with XGBoost's allreduce).

Time per round is ``(t(long) - t(short)) / (long - short)`` rounds, so the set-up of a
training (tracker, per-worker DMatrix, sketch) cancels; the median over ``--repeats``.
Also reported from the workers' records: seconds, allreduces and bytes of the global
threshold protocol per round.

Run: ``python benchmarks/bench_dask.py [--rows 400000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import dask.array
import distributed
import numpy as np
import xgboost as xgb
from xgboost import dask as dxgb

import asrl.dask
import asrl.xgboost

# dask and distributed annotate only part of their API: call them through Any.
da: Any = dask.array
Client: Any = distributed.Client
LocalCluster: Any = distributed.LocalCluster


def placed(client: Any, blocks: list[np.ndarray[Any, Any]]) -> Any:
    """A dask array whose i-th block lives on the i-th worker (unique keys: hash=False)."""
    addresses = sorted(client.scheduler_info()["workers"])
    futures = [
        client.scatter(b, workers=[a], hash=False) for b, a in zip(blocks, addresses, strict=True)
    ]
    parts = [da.from_delayed(f, b.shape, b.dtype) for f, b in zip(futures, blocks, strict=True)]
    return da.concatenate(parts)


def timed_train(client: Any, params: dict[str, Any], dtrain: Any, rounds: int, obj: Any) -> float:
    start = time.perf_counter()
    dxgb.train(client, params, dtrain, num_boost_round=rounds, obj=obj)
    return time.perf_counter() - start


def bench(workers: int, X: np.ndarray[Any, Any], y: np.ndarray[Any, Any], args: Any) -> None:
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        dX = placed(client, np.array_split(X, workers))
        dy = placed(client, np.array_split(y, workers))
        dtrain = dxgb.DaskDMatrix(client, dX, dy)
        start = asrl.dask.base_score(client, dy)
        params = {"base_score": start, "max_depth": 6, "tree_method": "hist", "verbosity": 0}
        per_round: dict[str, list[float]] = {"builtin": [], "asrl-local": [], "asrl-global": []}
        protocol: list[dict[str, Any]] = []
        obj: Any
        for _ in range(args.repeats):
            for name in per_round:
                if name == "builtin":
                    run_params, obj = params | {"objective": "reg:pseudohubererror"}, None
                elif name == "asrl-local":
                    run_params, obj = params, asrl.xgboost.objective()
                else:
                    run_params, obj = params, asrl.dask.objective()
                short = timed_train(client, run_params, dtrain, args.short, obj)
                long = timed_train(client, run_params, dtrain, args.long, obj)
                per_round[name].append((long - short) / (args.long - args.short))
                if name == "asrl-global":
                    for records in obj.history(client).values():
                        protocol += records
        base = statistics.median(per_round["builtin"])
        print(f"\n{workers} worker(s) x 1 thread, {len(X)} x {X.shape[1]} rows, depth 6, hist")
        print("| objective | ms per round (median) | range over repeats | ratio to builtin |")
        print("| --- | --- | --- | --- |")
        for name, times in per_round.items():
            median = statistics.median(times)
            spread = f"{min(times) * 1e3:.1f} to {max(times) * 1e3:.1f}"
            print(f"| {name} | {median * 1e3:.1f} | {spread} | {median / base:.2f} |")
        seconds = statistics.median(r["seconds"] for r in protocol)
        allreduces = statistics.median(r["allreduces"] for r in protocol)
        sent = statistics.median(r["bytes"] for r in protocol)
        print(
            f"global thresholds per round and worker (median of {len(protocol)} records): "
            f"{seconds * 1e3:.2f} ms, {allreduces:.0f} allreduces, {sent / 1024:.0f} KiB sent"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
    y = (X[:, :5] @ rng.normal(size=5) + rng.standard_t(3, args.rows)).astype(np.float32)
    print(f"xgboost {xgb.__version__}; per round = (t({args.long}) - t({args.short})) / rounds")
    for workers in (1, 2):
        bench(workers, X, y, args)


if __name__ == "__main__":
    main()
