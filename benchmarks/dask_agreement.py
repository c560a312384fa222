"""How closely the Dask model agrees with the single-machine one (issue 9, item 7).

20,000 rows sorted by label and split into 2 partitions (one per worker), 10 % gross
outliers, all in the upper partition; 100 rounds of depth-6 trees. For ASRL
(``asrl.dask.ASRLDaskXGBRegressor`` against ``asrl.xgboost.ASRLXGBRegressor``) and for
XGBoost's own squared error (``xgboost.dask.DaskXGBRegressor`` against
``xgboost.XGBRegressor``) it prints the correlation of the two models' predictions on
the training rows and on 5,000 fresh rows. As a yardstick of what XGBoost itself
reproduces, it also prints the agreement of two single-machine models that differ only
in their thread count (1 and 2), i.e. in the order in which histograms are summed. For
ASRL it prints the first round whose thresholds differ between the Dask and the
single-machine training, and the largest relative gap between them.

- ``--data shifted``: ``y = 3 x0 - 2 x1 + N(0, 1)``, 4 features, 10 % of the rows
  shifted by +30 (the data of ``tests/test_dask.py``);
  ``--data cauchy``: Friedman's first function of 10 uniform features, noise 1, and
  10 % of the rows shifted by ``50 |t_1|`` (heavy-tailed outliers).
- ``--exact-sketch``: features rounded to 0.1, fewer distinct values than ``max_bin``,
  so the distributed histogram cuts equal the single-machine ones.
- ``--shuffle``: the rows split at random instead of by label.

Run: ``python benchmarks/dask_agreement.py [--data shifted|cauchy] [--exact-sketch]
[--shuffle] [--seeds 3]`` (about a minute per seed on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import dask.array
import distributed
import numpy as np
import xgboost as xgb
from xgboost import dask as dxgb

from asrl.dask import ASRLDaskXGBRegressor
from asrl.xgboost import ASRLXGBRegressor
from bench_dask import placed  # one block per worker, as in the timing benchmark

# dask and distributed annotate only part of their API: call them through Any.
da: Any = dask.array
Client: Any = distributed.Client
LocalCluster: Any = distributed.LocalCluster

TREES = {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.3, "tree_method": "hist"}
N, N_TEST = 20_000, 5000


def make_data(kind: str, seed: int) -> tuple[Any, Any, Any]:
    """Training features and labels, and test features."""
    rng = np.random.default_rng(seed)
    outliers = rng.random(N) < 0.1
    if kind == "shifted":
        X = rng.normal(size=(N + N_TEST, 4))
        y = 3 * X[:N, 0] - 2 * X[:N, 1] + rng.normal(size=N)
        y[outliers] += 30
    else:
        X = rng.random(size=(N + N_TEST, 10))
        x = X[:N].T
        y = 10 * np.sin(np.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4]
        y += rng.normal(size=N)
        y[outliers] += 50 * np.abs(rng.standard_t(1, outliers.sum()))
    return X[:N], y, X[N:]


def corr(a: Any, b: Any) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def _history(model: Any) -> list[Any]:
    """Per-round statistics (``deltas_history_`` before the redesign, for comparisons)."""
    for name in ("statistics_history_", "deltas_history_"):
        if hasattr(model, name):
            history: list[Any] = getattr(model, name)
            return history
    return []


def _threshold_gaps(distributed_model: Any, single: Any) -> dict[str, float]:
    """The first round whose thresholds differ (0: none), and the largest relative gap."""
    a, b = (
        np.array([getattr(s, "deltas", s) for s in _history(m)])
        for m in (distributed_model, single)
    )
    if a.shape != b.shape:  # the code before the redesign kept no single-machine history
        return {}
    differ = np.flatnonzero((a != b).any(axis=1))
    return {
        "asrl: first round with other thresholds": float(differ[0] + 1 if differ.size else 0),
        "asrl: largest relative threshold gap": float(np.max(np.abs(a - b) / b)),
    }


def run(client: Any, seed: int, args: Any) -> dict[str, float]:
    X, y, X_test = make_data(args.data, seed)
    if args.exact_sketch:
        X, X_test = np.round(X, 1), np.round(X_test, 1)
    order = np.random.default_rng(seed).permutation(N) if args.shuffle else np.argsort(y)
    X, y = X[order], y[order]
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    dX_test = da.from_array(X_test, chunks=(N_TEST // 2, X.shape[1]))
    mean = float(np.mean(y))
    models = {
        "asrl": (ASRLDaskXGBRegressor, ASRLXGBRegressor, {}),
        "squared error": (dxgb.DaskXGBRegressor, xgb.XGBRegressor, {"base_score": mean}),
    }
    out = {}
    for name, (on_dask, single, params) in models.items():
        model = on_dask(**params, **TREES).fit(dX, dy)
        one, two = (single(n_jobs=k, **params, **TREES).fit(X, y) for k in (1, 2))
        train, test = model.predict(dX).compute(), model.predict(dX_test).compute()
        out[f"{name}: Dask vs single, train"] = corr(train, two.predict(X))
        out[f"{name}: Dask vs single, test"] = corr(test, two.predict(X_test))
        out[f"{name}: 1 vs 2 threads, train"] = corr(one.predict(X), two.predict(X))
        out[f"{name}: 1 vs 2 threads, test"] = corr(one.predict(X_test), two.predict(X_test))
        if name == "asrl":
            out.update(_threshold_gaps(model, two))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["shifted", "cauchy"], default="shifted")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--exact-sketch", action="store_true")
    parser.add_argument("--shuffle", action="store_true")
    args = parser.parse_args()
    split = "at random" if args.shuffle else "sorted by label"
    sketch = "rounded to 0.1 (exact sketch)" if args.exact_sketch else "continuous"
    print(
        f"xgboost {xgb.__version__}; {args.data} data, {N} rows {split} into 2 workers, "
        f"features {sketch}; {TREES}"
    )
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        results = [run(client, seed, args) for seed in range(args.seeds)]
    seeds = range(args.seeds)
    print("| measure | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
    print("| --- |" + " --- |" * (args.seeds + 1))
    for key in results[0]:
        values = [r[key] for r in results]
        cells = " | ".join(f"{v:.4f}" for v in [*values, statistics.median(values)])
        print(f"| {key} | {cells} |")


if __name__ == "__main__":
    main()
