"""Global thresholds across workers: the sharded protocol, and ASRL on Dask-distributed XGBoost.

The first half checks the radix-selection protocol of ``asrl.core`` against the
single-machine quantiles on random shardings, in one process. The second half trains on a
real ``distributed.LocalCluster`` of two worker processes (one thread each), started once
for the module, with data placed on chosen workers.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asrl import ASRL, AdaptiveHuber
from asrl.core import (
    Shard,
    _quantiles_and_max,
    run_sharded,
    sharded_max_abs,
    sharded_quantile_thresholds,
    sharded_quantiles,
    sharded_scale_thresholds,
    weighted_quantiles,
)

EPS64 = float(np.finfo(np.float64).eps)
levels = st.floats(0.0, 1.0)
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def sharded(draw, weights=("none", "equal")):
    """Values (with ties, zeros and mixed scales) split into 1 to 4 shards, some empty."""
    dtype = draw(dtypes)
    n = draw(st.integers(1, 60))
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(-1e6, 1e6, allow_nan=False, width=width) | st.sampled_from([0.0, 1.0])
    x = draw(arrays(dtype, n, elements=elements))
    kind = draw(st.sampled_from(weights))
    w = None
    if kind == "equal":  # equal positive weights, some zero: the unweighted quantile
        w = np.where(draw(arrays(bool, n)), 0.0, draw(st.floats(0.01, 100))).astype(dtype)
    elif kind == "unequal":
        w = draw(arrays(dtype, n, elements=st.floats(0.0, 1e3, width=width)))
    if w is not None and not (w > 0).any():
        w[0] = 1
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    parts = np.split(np.arange(n), cuts)
    shards = [Shard(x[p], None if w is None else w[p]) for p in parts]
    return x, w, shards


# --------------------------------------------------------------------------------------
# The protocol, in one process
# --------------------------------------------------------------------------------------


@given(sharded(), levels, levels, st.sampled_from(["abs", "raw"]))
def test_sharded_quantiles_equal_the_single_machine_ones_bit_for_bit(data, q1, q2, kind):
    x, w, shards = data
    values = np.abs(x) if kind == "abs" else x
    protocol = sharded_quantiles((q1, q2), x.dtype, weighted=w is not None, values=(kind, 0.0))
    got = run_sharded(protocol, shards)
    expected = _quantiles_and_max(values, (q1, q2), w)
    assert [g.dtype for g in got] == [e.dtype for e in expected] == [x.dtype] * 3
    assert got == expected  # rank error 0: the same order statistics, the same lerp


@given(sharded(), st.sampled_from(["quantile", "scale"]))
def test_sharded_thresholds_equal_the_single_machine_rules(data, rule):
    x, w, shards = data
    loss = ASRL(thresholds=rule, q_low=0.3, q_high=0.8, c1=1.0, c2=2.5)
    if rule == "quantile":
        protocol = sharded_quantile_thresholds(0.3, 0.8, x.dtype, weighted=w is not None)
    else:
        protocol = sharded_scale_thresholds(1.0, 2.5, x.dtype, weighted=w is not None)
    got = run_sharded(protocol, shards)
    assert tuple(float(d) for d in got) == loss.thresholds(np.zeros_like(x), x, sample_weight=w)


@given(sharded(weights=("unequal",)), levels)
def test_weighted_quantiles_are_within_the_stated_level_bound(data, q):
    # A single machine sorts tied points by position, which a partitioning does not
    # define; the protocol gives each tied point its group's mean weight. The stated
    # bound: the result is the single-machine quantile at a level within
    # 2 n eps64 (rounding of weight sums) + 1.5 w_max / (W - w_max) (ties) of q.
    x, w, shards = data  # the shards hold x in this order, as a single machine would
    (got, _) = run_sharded(sharded_quantiles((q,), x.dtype, weighted=True), shards)
    a, positive = np.abs(x), w[w > 0]
    total, heaviest = float(positive.sum(dtype=np.float64)), float(positive.max())
    tied = np.unique(a[w > 0]).size < positive.size
    bound = 2 * x.size * EPS64
    if tied:
        bound += 1.5 * heaviest / (total - heaviest) if total > heaviest else 1.0
    (below,) = weighted_quantiles(a, (max(q - bound, 0.0),), w)
    (above,) = weighted_quantiles(a, (min(q + bound, 1.0),), w)
    assert below <= got <= above


def test_weighted_quantiles_without_ties_match_closely_and_weights_matter():
    rng = np.random.default_rng(4)
    x = rng.standard_t(2, 5001)
    w = rng.random(5001) * 10.0 ** rng.uniform(-2, 2, 5001) / (1 + np.abs(x))  # light tails
    shards = [Shard(x[:100], w[:100]), Shard(x[100:], w[100:])]
    got = run_sharded(sharded_quantiles((0.5, 0.9), x.dtype, weighted=True), shards)
    expected = _quantiles_and_max(np.abs(x), (0.5, 0.9), w)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    unweighted = _quantiles_and_max(np.abs(x), (0.5, 0.9), None)
    assert abs(got[1] - unweighted[1]) > 0.05 * unweighted[1]


def test_a_protocol_costs_a_few_small_reductions():
    x = np.random.default_rng(0).normal(size=10_000).astype(np.float32)
    sizes = []

    class Counting(Shard):
        def contribution(self, request):
            part = super().contribution(request)
            sizes.append(part.nbytes)
            return part

    shards = [Counting(x[:4000]), Counting(x[4000:])]
    got = run_sharded(sharded_quantile_thresholds(0.5, 0.9, np.float32), shards)
    assert got == ASRL().thresholds(np.zeros_like(x), x)
    sizes = sizes[::2]  # both shards send arrays of the same size
    assert len(sizes) == 3  # 11 + 10 + 10 bits of |x| in float32 (its sign bit is 0)
    assert sizes[0] == 2048 * 8  # one histogram of the top bits
    assert sum(sizes) <= 2048 * 8 + 2 * 5 * 1024 * 8  # then at most 5 order statistics


def test_buffers_reused_round_after_round_give_the_same_results():
    rng = np.random.default_rng(2)
    buffers = [{}, {}]
    for round_ in range(12):
        x = (rng.standard_t(2, 300) * 10.0 ** rng.integers(-3, 3)).astype(np.float32)
        w = rng.random(300).astype(np.float32) if round_ % 3 == 2 else None
        shards = [
            Shard(x[:120], None if w is None else w[:120], buffers=buffers[0]),
            Shard(x[120:], None if w is None else w[120:], buffers=buffers[1]),
        ]
        for rule in ("quantile", "scale"):
            if rule == "quantile":
                protocol = sharded_quantile_thresholds(0.5, 0.9, x.dtype, weighted=w is not None)
            else:
                protocol = sharded_scale_thresholds(1.345, 3.0, x.dtype, weighted=w is not None)
            got = [float(d) for d in run_sharded(protocol, shards)]
            exact = ASRL(thresholds=rule).thresholds(np.zeros_like(x), x, sample_weight=w)
            np.testing.assert_allclose(got, exact, rtol=0 if w is None else 1e-6)
    assert {"abs", "abs-centred", "inside"} <= set(buffers[0])
    # One buffer serves every centre of |x - c|: a new centre must not see the old keys.
    for centre in (0.5, -2.0, 0.5):
        protocol = sharded_quantiles((0.3,), x.dtype, values=("abs", centre))
        got, _ = run_sharded(protocol, shards)
        assert got == np.quantile(np.abs(x - np.float32(centre)), 0.3)


def test_protocol_errors_are_clear():
    x = np.array([1.0, np.nan, 3.0])
    with pytest.raises(FloatingPointError, match="not all finite"):
        run_sharded(sharded_max_abs(x.dtype), [Shard(x[:1]), Shard(x[1:])])
    with pytest.raises(FloatingPointError, match="not all finite"):
        run_sharded(sharded_quantiles((0.5,), x.dtype), [Shard(x)])
    with pytest.raises(ValueError, match="no shard holds any value"):
        run_sharded(sharded_quantiles((0.5,), np.float64), [Shard(np.zeros(0))])
    zero = [Shard(np.ones(3), np.zeros(3))]
    with pytest.raises(ValueError, match="every sample_weight is zero"):
        run_sharded(sharded_quantiles((0.5,), np.float64, weighted=True), zero)
    with pytest.raises(TypeError, match="float32 or float64"):
        Shard(np.arange(3))
    with pytest.raises(ValueError, match="without weights"):
        run_sharded(sharded_quantiles((0.5,), np.float64, weighted=True), [Shard(np.ones(3))])


# --------------------------------------------------------------------------------------
# The objective in one process: the allreduce is the identity
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "params"),
    [("asrl", {"thresholds": "scale"}), ("asrl", {"hessian": "exact"}), ("huber-adaptive", {})],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_in_one_process_the_objective_is_the_single_machine_one(loss, params, weighted):
    xgb = pytest.importorskip("xgboost")
    pytest.importorskip("distributed")
    from asrl import dask as asrl_dask
    from asrl import xgboost as asrl_xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    y = X[:, 0] + rng.standard_t(2, 500)
    w = rng.random(500) if weighted else None
    dtrain = xgb.DMatrix(X, label=y, weight=w)
    params_xgb = {"base_score": asrl_xgb.base_score(y, w), "max_depth": 3, "verbosity": 0}
    single = asrl_xgb.objective(loss, **params)
    ours = asrl_dask.objective(loss, **params)
    a = xgb.train(params_xgb, dtrain, num_boost_round=10, obj=single).predict(dtrain)
    b = xgb.train(params_xgb, dtrain, num_boost_round=10, obj=ours).predict(dtrain)
    history = ours.history()["local"]
    assert len(history) == 10
    if not weighted:  # exact thresholds, the same gradients: the same trees
        np.testing.assert_array_equal(a, b)
        if loss == "asrl":
            assert [r["deltas"] for r in history] == single.state.deltas_history
    else:  # weight sums rounded in another order
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_unsupported_losses_name_the_parameter():
    pytest.importorskip("distributed")
    pytest.importorskip("xgboost")
    from asrl import dask as asrl_dask

    with pytest.raises(NotImplementedError, match="weights='stats'"):
        asrl_dask.objective(weights="stats")
    with pytest.raises(NotImplementedError, match="pseudo-huber-auto"):
        asrl_dask.custom_metric("pseudo-huber-auto")
    with pytest.raises(NotImplementedError, match="weights='stats'"):
        asrl_dask.ASRLDaskXGBRegressor(weights="stats").fit(None, None)


# --------------------------------------------------------------------------------------
# On a LocalCluster of two worker processes
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.array")
    pytest.importorskip("xgboost")
    cloudpickle = pytest.importorskip("cloudpickle")
    # The workers unpickle the recording objective below from its bytes, not by
    # importing this test module.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # dashboard_address=":0": any free port. The default 8787 may be taken (another
    # cluster on the machine), and distributed then warns, which this suite makes an error.
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with cluster, distributed.Client(cluster) as c:
        yield c
        SCATTERED.clear()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


SCATTERED = []  # the data placed on the workers, released with the module's cluster


def placed(client, blocks):
    """A dask array whose i-th block lives on the i-th worker (by address).

    ``hash=False``: equal blocks scattered by two tests must not share a key, or the
    release of the first test's data can race with the second test's use of it.
    """
    import dask.array as da

    addresses = sorted(client.scheduler_info()["workers"])
    futures = [
        client.scatter(b, workers=[a], hash=False) for b, a in zip(blocks, addresses, strict=True)
    ]
    SCATTERED.extend(futures)  # a dask DataFrame made from the array keeps only their keys
    parts = [da.from_delayed(f, b.shape, b.dtype) for f, b in zip(futures, blocks, strict=True)]
    return da.concatenate(parts)


class Recorder:
    """Test harness: saves what each worker's objective saw at each round, then calls it."""

    def __init__(self, objective, folder):
        self.objective, self.folder, self.calls = objective, str(folder), 0

    def __call__(self, preds, dtrain):
        import distributed

        self.calls += 1
        name = distributed.get_worker().name
        np.savez(
            f"{self.folder}/round{self.calls}-worker{name}.npz",
            pred=preds,
            label=dtrain.get_label(),
            weight=dtrain.get_weight(),
        )
        return self.objective(preds, dtrain)


def seen(folder, rounds):
    """Per round: every worker's (pred, label, weight), by worker name."""
    out = []
    for r in range(1, rounds + 1):
        files = sorted(folder.glob(f"round{r}-worker*.npz"))
        out.append({f.stem.split("worker")[1]: dict(np.load(f)) for f in files})
    return out


def skewed_blocks(seed=0):
    """Worker 0 holds labels near the median, worker 1 labels far from it."""
    rng = np.random.default_rng(seed)
    X = [np.round(rng.normal(size=(600, 3)), 1) for _ in range(2)]
    y = [0.1 * (rng.normal(size=600) + X[0][:, 0]), 10 * (rng.standard_t(2, 600) + X[1][:, 0])]
    w = [rng.random(600) + 0.5, rng.random(600) * 3]
    return X, y, w


@pytest.fixture(scope="module")
def skewed_runs(client, tmp_path_factory):
    """Train 6 rounds through ``xgboost.dask.train``, recording what the workers saw,
    without and with sample weights and with the scale rule."""
    from xgboost import dask as dxgb

    from asrl.dask import base_score, objective

    X, y, w = skewed_blocks()
    dX, dy, dw = placed(client, X), placed(client, y), placed(client, w)
    runs = {}
    for name, loss, weight in [
        ("quantile", {}, None),
        ("weighted", {}, dw),
        ("scale", {"thresholds": "scale"}, None),
    ]:
        folder = tmp_path_factory.mktemp(name)
        obj = objective(**loss)
        start = base_score(client, dy, weight)
        dtrain = dxgb.DaskDMatrix(client, dX, dy, weight=weight)
        params = {"base_score": start, "max_depth": 3, "tree_method": "hist", "verbosity": 0}
        dxgb.train(client, params, dtrain, num_boost_round=6, obj=Recorder(obj, folder))
        runs[name] = (obj.history(client), seen(folder, 6), start, loss)
    return runs


@pytest.mark.parametrize("name", ["quantile", "weighted", "scale"])
def test_every_worker_uses_the_same_thresholds_every_round(skewed_runs, name):
    history, rounds, _, _ = skewed_runs[name]
    assert len(history) == 2  # both workers trained and recorded
    per_worker = [[r["deltas"] for r in records] for records in history.values()]
    assert len(per_worker[0]) == 6
    assert per_worker[0] == per_worker[1]
    assert sorted(r["rows"] for r in (records[0] for records in history.values())) == [600, 600]
    assert len(rounds) == 6
    assert all(len(r) == 2 for r in rounds)


@pytest.mark.parametrize("name", ["quantile", "scale"])
def test_thresholds_equal_the_single_machine_ones_on_all_residuals(skewed_runs, name):
    history, rounds, _, loss = skewed_runs[name]
    recorded = [r["deltas"] for r in next(iter(history.values()))]
    for deltas, workers in zip(recorded, rounds, strict=True):
        pred = np.concatenate([s["pred"] for s in workers.values()])
        label = np.concatenate([s["label"] for s in workers.values()])
        assert pred.dtype == label.dtype == np.float32
        exact = ASRL(threshold_sample=None, **loss).thresholds(label, pred)
        assert deltas == exact  # bit for bit: the order statistics are exact


def test_weighted_thresholds_are_the_single_machine_ones_within_the_bound(skewed_runs):
    history, rounds, start, _ = skewed_runs["weighted"]
    unweighted = [r["deltas"] for r in next(iter(skewed_runs["quantile"][0].values()))]
    recorded = [r["deltas"] for r in next(iter(history.values()))]
    for deltas, workers in zip(recorded, rounds, strict=True):
        pred, label, weight = (
            np.concatenate([s[k] for s in workers.values()]) for k in ("pred", "label", "weight")
        )
        # Continuous residuals have no ties: only weight sums are rounded differently.
        exact = ASRL(threshold_sample=None).thresholds(label, pred, sample_weight=weight)
        np.testing.assert_allclose(deltas, exact, rtol=1e-6)
    assert abs(recorded[0][1] - unweighted[0][1]) > 0.1 * unweighted[0][1]  # weights matter
    _, y, w = skewed_blocks()
    label, weight = np.concatenate(y).astype(np.float32), np.concatenate(w).astype(np.float32)
    assert start == pytest.approx(ASRL().best_constant(label, sample_weight=weight), rel=1e-6)


def test_local_thresholds_would_differ_on_this_partitioning(skewed_runs):
    # The test above could fail: each worker's own residuals give other thresholds.
    history, rounds, _, _ = skewed_runs["quantile"]
    d1, d2 = next(iter(history.values()))[0]["deltas"]
    local = [ASRL().thresholds(s["label"], s["pred"]) for s in rounds[0].values()]
    small, large = sorted(local)  # measured: (0.092, 0.24), (11.4, 33.0); global (0.34, 23.6)
    assert small[1] < d1  # all of worker 0's ASRL would sit below the global delta1
    assert large[0] > 10 * d1
    assert min(abs(d2 - small[1]), abs(d2 - large[1])) > 0.25 * d2


@pytest.fixture(scope="module")
def continuous_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4))
    y = 3 * X[:, 0] - 2 * X[:, 1] + rng.normal(size=3000)
    y[rng.random(3000) < 0.1] += 30
    w = rng.random(3000) + 0.2
    return X, y, w


TREES = {"n_estimators": 30, "max_depth": 4, "learning_rate": 0.3, "tree_method": "hist"}


@pytest.mark.parametrize("weighted", [False, True])
def test_predictions_equal_the_single_machine_models_when_the_sketch_is_exact(
    client, continuous_data, weighted
):
    # With fewer distinct feature values than max_bin, distributed and single-machine
    # histograms have the same cuts; the gradients are the same, so are the trees.
    from asrl.dask import ASRLDaskXGBRegressor
    from asrl.xgboost import ASRLXGBRegressor

    X, y, w = continuous_data
    X = np.round(X, 1)
    sw = w if weighted else None
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    dw = placed(client, np.array_split(w, 2)) if weighted else None
    model = ASRLDaskXGBRegressor(**TREES).fit(dX, dy, sample_weight=dw)
    single = ASRLXGBRegressor(threshold_sample=None, **TREES).fit(X, y, sample_weight=sw)
    assert model.start_ == single.start_
    assert model.n_objective_calls_ == 30
    assert len(model.worker_history_) == 2
    np.testing.assert_allclose(model.predict(dX).compute(), single.predict(X), atol=1e-5)


def test_predictions_are_as_accurate_as_the_single_machine_models_in_general(
    client, continuous_data
):
    # Continuous features: the distributed quantile sketch places other cuts, so single
    # predictions differ (by up to about 2 here); accuracy does not (|R^2 gap| < 0.001
    # measured over 3 seeds; asserted with margin).
    from sklearn.metrics import r2_score

    from asrl.dask import ASRLDaskXGBRegressor
    from asrl.xgboost import ASRLXGBRegressor

    X, y, _ = continuous_data
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    model = ASRLDaskXGBRegressor(**TREES).fit(dX, dy)
    single = ASRLXGBRegressor(threshold_sample=None, **TREES).fit(X, y)
    X_test = np.random.default_rng(9).normal(size=(2000, 4))
    clean = 3 * X_test[:, 0] - 2 * X_test[:, 1]
    import dask.array as da

    r2_dask = r2_score(clean, model.predict(da.from_array(X_test)).compute())
    r2_single = r2_score(clean, single.predict(X_test))
    assert r2_single > 0.9
    assert abs(r2_dask - r2_single) < 0.005


def test_eval_metric_is_the_mean_loss_over_all_rows_and_early_stopping_works(
    client, continuous_data
):
    from asrl.dask import ASRLDaskXGBRegressor

    X, y, _ = continuous_data
    X = np.round(X, 1)
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    Xv, yv = X[:1000] + 0.1, y[:1000]
    dXv, dyv = placed(client, [Xv[:100], Xv[100:]]), placed(client, [yv[:100], yv[100:]])
    model = ASRLDaskXGBRegressor(early_stopping_rounds=3, **(TREES | {"n_estimators": 200}))
    model.fit(dX, dy, eval_set=[(dXv, dyv)], verbose=False)
    curve = model.evals_result()["validation_0"]["asrl"]
    assert len(curve) < 200  # stopped early
    best = model.best_iteration
    pred = model.predict(dXv, iteration_range=(0, best + 1)).compute()
    # XGBoost prints a Python metric with 6 decimals before it averages the workers.
    assert curve[best] == pytest.approx(ASRL()(yv.astype(np.float32), pred), abs=2e-6)


def test_baselines_with_statistics_use_global_ones(client):
    from asrl.dask import ASRLDaskXGBRegressor

    X, y, _ = skewed_blocks(seed=2)
    dX, dy = placed(client, X), placed(client, y)
    model = ASRLDaskXGBRegressor(
        loss="huber-adaptive", loss_params={"alpha": 0.8}, n_estimators=3, max_depth=2
    ).fit(dX, dy)
    label = np.concatenate(y).astype(np.float32)
    first = [records[0]["delta"] for records in model.worker_history_.values()]
    start = np.full_like(label, model.start_)
    loss = AdaptiveHuber(alpha=0.8)
    loss.gradient(label, start)
    assert first == [loss.delta_] * 2
    mae = ASRLDaskXGBRegressor(loss="mae", n_estimators=3, max_depth=2).fit(dX, dy)
    assert mae.start_ == float(np.median(label))
    assert mae.deltas_history_ == []


def test_fit_leaves_the_parameters_as_given(client, continuous_data):
    from sklearn.base import clone

    from asrl.dask import ASRLDaskXGBRegressor

    X, y, _ = continuous_data
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    model = ASRLDaskXGBRegressor(q_low=0.6, n_estimators=2)
    before = model.get_params()
    model.fit(dX, dy)
    assert model.get_params() == before
    assert "q_low" not in model.get_xgb_params()
    assert clone(model).get_params() == before


def test_bad_input_gives_a_clear_error(client, continuous_data):
    import dask.array as da
    from xgboost import dask as dxgb

    from asrl.dask import ASRLDaskXGBRegressor, objective

    X, y, w = continuous_data
    dX = placed(client, np.array_split(X, 2))
    model = ASRLDaskXGBRegressor(n_estimators=2)
    bad = y.copy()
    bad[[1700, 2500]] = np.nan
    with pytest.raises(ValueError, match=r"y contains 2 non-finite values .* index 1700"):
        model.fit(dX, placed(client, np.array_split(bad, 2)))
    dy = placed(client, np.array_split(y, 2))
    negative = w.copy()
    negative[2200] = -1
    with pytest.raises(ValueError, match=r"non-negative; 1 value.* index 2200"):
        model.fit(dX, dy, sample_weight=placed(client, np.array_split(negative, 2)))
    with pytest.raises(ValueError, match="sums to zero"):
        model.fit(dX, dy, sample_weight=da.zeros(3000, chunks=1500))
    with pytest.raises(ValueError, match="same shape as y"):
        model.fit(dX, dy, sample_weight=da.ones(10, chunks=5))
    with pytest.raises(TypeError, match="dask array or a dask Series"):
        model.fit(dX, y)
    with pytest.raises(ValueError, match="supplies its own objective"):
        ASRLDaskXGBRegressor(objective="reg:absoluteerror").fit(dX, dy)
    # On the workers: an infinite start on one worker's row makes that worker's
    # residual infinite; both workers stop with the same error (none waits forever).
    margin = np.zeros(3000)
    margin[2000] = np.inf
    dtrain = dxgb.DaskDMatrix(client, dX, dy, base_margin=placed(client, np.array_split(margin, 2)))
    with pytest.raises(FloatingPointError, match="non-finite at round 1"):
        dxgb.train(client, {"verbosity": 0}, dtrain, 3, obj=objective())


def test_dask_dataframes_and_series_are_accepted(client, continuous_data):
    dd = pytest.importorskip("dask.dataframe")
    from asrl.dask import ASRLDaskXGBRegressor

    X, y, w = continuous_data
    dX = dd.from_dask_array(placed(client, np.array_split(X, 2)))
    dy = dd.from_dask_array(placed(client, np.array_split(y, 2)))
    dw = dd.from_dask_array(placed(client, np.array_split(w, 2)))
    model = ASRLDaskXGBRegressor(n_estimators=2, max_depth=2).fit(dX, dy, sample_weight=dw)
    label, weight = y.astype(np.float32), w.astype(np.float32)
    assert model.start_ == pytest.approx(ASRL().best_constant(label, sample_weight=weight))
    assert len(model.deltas_history_) == 2
