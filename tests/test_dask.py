"""Global statistics across workers: the sharded driver, and ASRL on Dask-distributed XGBoost.

The first half checks the sharded driver of ``asrl.core.sharded`` against the
single-machine statistics on random shardings, in one process. The second half trains on
a real ``distributed.LocalCluster`` of two worker processes (one thread each), started
once for the module, with data placed on chosen workers.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asrl import ASRL, THRESHOLD_RULES, AdaptiveHuber, AutoPseudoHuber, get_loss
from asrl.core.quantiles import quantiles_and_max, weighted_quantiles
from asrl.core.rules import Mean, run_local
from asrl.core.sharded import (
    Shard,
    run_sharded,
    sharded_max_abs,
    sharded_mean,
    sharded_quantiles,
    sharded_rule,
)

from .toy_rule import toy_rule

EPS64 = float(np.finfo(np.float64).eps)
levels = st.floats(0.0, 1.0)
dtypes = st.sampled_from([np.float32, np.float64])


@pytest.fixture
def toy(monkeypatch):
    """The rule of ``tests/toy_rule.py`` registered as ``thresholds="toy"``."""
    monkeypatch.setitem(THRESHOLD_RULES, "toy", toy_rule)


@st.composite
def sharded(draw, weights=("none", "ones", "integer")):
    """Values (with ties, zeros and mixed scales) split into 1 to 4 shards, some empty."""
    dtype = draw(dtypes)
    n = draw(st.integers(1, 60))
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(-1e6, 1e6, allow_nan=False, width=width) | st.sampled_from([0.0, 1.0])
    x = draw(arrays(dtype, n, elements=elements))
    kind = draw(st.sampled_from(weights))
    w = None
    if kind == "ones":  # weights 0 and 1: the unweighted quantile of the rows of weight 1
        w = draw(arrays(bool, n)).astype(dtype)
    elif kind == "integer":  # frequencies: the quantile of the repeated sample
        w = draw(arrays(dtype, n, elements=st.integers(0, 5).map(float)))
    elif kind == "unequal":
        w = draw(arrays(dtype, n, elements=st.floats(0.0, 1e3, width=width)))
    if w is not None and not (w > 0).any():
        w[0] = 1
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    parts = np.split(np.arange(n), cuts)
    shards = [Shard(x[p], None if w is None else w[p]) for p in parts]
    return x, w, shards


# --------------------------------------------------------------------------------------
# The sharded driver, in one process
# --------------------------------------------------------------------------------------


@given(sharded(), levels, levels, st.sampled_from(["abs", "raw"]))
def test_sharded_quantiles_equal_the_single_machine_ones_bit_for_bit(data, q1, q2, kind):
    x, w, shards = data
    values = np.abs(x) if kind == "abs" else x
    protocol = sharded_quantiles((q1, q2), x.dtype, weighted=w is not None, values=(kind, 0.0))
    got = run_sharded(protocol, shards)
    expected = quantiles_and_max(values, (q1, q2), w)
    assert [g.dtype for g in got] == [e.dtype for e in expected] == [x.dtype] * 3
    assert got == expected  # rank error 0: the same order statistics, the same lerp


#: Every rule shape: quantiles of |u|, the max, raw quantiles and |u - median| (scale),
#: means (the "stats" scales, pseudo-Huber's automatic delta), a rule registered here.
RULES = [
    ("asrl", {"q_low": 0.3, "q_high": 0.8}),
    ("asrl", {"thresholds": "scale", "c1": 1.0, "c2": 2.5}),
    ("asrl", {"thresholds": "toy"}),
    ("asrl", {"weights": "stats"}),
    ("huber-adaptive", {"alpha": 0.7}),
    ("pseudo-huber-auto", {}),
]


def _means(loss):
    return loss.name == "pseudo-huber-auto" or getattr(loss, "weights", None) == "stats"


@pytest.mark.usefixtures("toy")
@given(sharded(), st.sampled_from(RULES))
def test_sharded_statistics_equal_the_single_machine_ones(data, rule):
    x, w, shards = data
    name, params = rule
    loss = get_loss(name, **params)
    # Zero-weight residuals beyond every weighted one included: means are over the rows
    # of positive weight, so u / max|u| cannot overflow on a row that is not there.
    got = run_sharded(sharded_rule(loss.statistics_rule, x.dtype, weighted=w is not None), shards)
    exact = run_local(loss.statistics_rule, x, w)
    assert type(got) is type(exact)
    if not _means(loss):
        assert got == exact  # bit for bit: exact order statistics, the same arithmetic
        return
    # Means are summed in float64 across shards, numpy's pairwise in the dtype on one
    # machine: they agree to the dtype's rounding. The quantile-based values are exact.
    rtol = 8 * float(np.finfo(x.dtype).eps)
    if isinstance(loss, AutoPseudoHuber):
        np.testing.assert_allclose(got.delta, exact.delta, rtol=rtol)
        return
    assert got.deltas == exact.deltas
    assert got.scales[1:] == exact.scales[1:]  # IQR and MAD: order statistics
    # The standard deviation is taken about the mean: where the data hardly vary, a
    # last-bit change of the mean moves it by up to that bit of max |u|.
    largest = float(np.abs(x).max())
    assert abs(got.scales[0] - exact.scales[0]) <= rtol * (exact.scales[0] + largest)


@given(sharded(weights=("none", "unequal")), st.sampled_from(["raw", "square", "sqrt-abs"]))
def test_sharded_means_equal_the_single_machine_ones_to_the_dtypes_rounding(data, of):
    x, w, shards = data
    request = Mean(of, centre=x.dtype.type(0.25), scale=x.dtype.type(3.0))
    got = run_sharded(sharded_mean(request, x.dtype, weighted=w is not None), shards)
    exact = run_local(lambda ops: (yield request), x, w)
    assert got.dtype == x.dtype
    # float64 sums against numpy's in the dtype: within n eps of the mean of |f|.
    f = {"raw": x / 3.0, "square": np.square(x / 3.0 - 0.25), "sqrt-abs": np.sqrt(np.abs(x))}[of]
    mean_abs = np.average(np.abs(f.astype(np.float64)), weights=w)
    bound = x.size * float(np.finfo(x.dtype).eps) * (mean_abs + abs(float(exact)))
    assert abs(float(got) - float(exact)) <= bound


@given(sharded(weights=("unequal",)), levels)
def test_weighted_quantiles_are_within_the_stated_level_bound(data, q):
    # The protocol finds each group of tied values and its weight exactly; only the
    # weight sums are added in another order. Stated bound: the single-machine
    # quantile at a level within 2 n eps64 of q.
    x, w, shards = data  # the shards hold x in this order, as a single machine would
    (got, _) = run_sharded(sharded_quantiles((q,), x.dtype, weighted=True), shards)
    a = np.abs(x)
    bound = 2 * x.size * EPS64
    (below,) = weighted_quantiles(a, (max(q - bound, 0.0),), w)
    (above,) = weighted_quantiles(a, (min(q + bound, 1.0),), w)
    assert below <= got <= above


def test_weighted_quantiles_without_ties_match_closely_and_weights_matter():
    rng = np.random.default_rng(4)
    x = rng.standard_t(2, 5001)
    w = rng.random(5001) * 10.0 ** rng.uniform(-2, 2, 5001) / (1 + np.abs(x))  # light tails
    shards = [Shard(x[:100], w[:100]), Shard(x[100:], w[100:])]
    got = run_sharded(sharded_quantiles((0.5, 0.9), x.dtype, weighted=True), shards)
    expected = quantiles_and_max(np.abs(x), (0.5, 0.9), w)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    unweighted = quantiles_and_max(np.abs(x), (0.5, 0.9), None)
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
    loss = ASRL(thresholds="quantile")
    got = run_sharded(sharded_rule(loss.statistics_rule, np.float32), shards)
    assert got == run_local(loss.statistics_rule, x)
    sizes = sizes[::2]  # both shards send arrays of the same size
    assert len(sizes) == 3  # 11 + 10 + 10 bits of |x| in float32 (its sign bit is 0)
    assert sizes[0] == 2048 * 8  # one histogram of the top bits
    assert sum(sizes) <= 2048 * 8 + 2 * 5 * 1024 * 8  # then at most 5 order statistics
    # The default (capped) rule adds the median to the same selection: the same
    # three reductions, for three order statistics more.
    sizes.clear()
    capped = ASRL(thresholds="capped")
    got = run_sharded(sharded_rule(capped.statistics_rule, np.float32), shards)
    assert got == run_local(capped.statistics_rule, x)
    sizes = sizes[::2]
    assert len(sizes) == 3
    assert sizes[0] == 2048 * 8
    assert sum(sizes) <= 2048 * 8 + 2 * 8 * 1024 * 8


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
            loss = ASRL(thresholds=rule)
            protocol = sharded_rule(loss.statistics_rule, x.dtype, weighted=w is not None)
            got = run_sharded(protocol, shards).deltas
            exact = run_local(loss.statistics_rule, x, w).deltas
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
    [
        ("asrl", {"thresholds": "scale"}),
        ("asrl", {"hessian": "exact"}),
        ("asrl", {"weights": "stats"}),
        ("huber-adaptive", {}),
        ("pseudo-huber-auto", {}),
    ],
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
    params_xgb = {
        "base_score": asrl_xgb.base_score(y, w),
        "max_depth": 3,
        "nthread": 1,
        "verbosity": 0,
    }
    single = asrl_xgb.objective(loss, **params)
    ours = asrl_dask.objective(loss, **params)
    a = xgb.train(params_xgb, dtrain, num_boost_round=10, obj=single).predict(dtrain)
    b = xgb.train(params_xgb, dtrain, num_boost_round=10, obj=ours).predict(dtrain)
    history = [r["statistics"] for r in ours.history()["local"]]
    assert len(history) == 10
    if not weighted and not _means(get_loss(loss, **params)):
        # Exact statistics, the same gradients: the same trees.
        np.testing.assert_array_equal(a, b)
        assert history == single.state.history
    else:  # weight sums and means rounded in another order
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


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
    # importing this test module. (The toy rule goes by reference: the workers import
    # tests.toy_rule, as they start with this process's sys.path.)
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


def together(workers, key):
    """One round's arrays of all workers, concatenated."""
    return np.concatenate([s[key] for s in workers.values()])


def skewed_blocks(seed=0):
    """Worker 0 holds labels near the median, worker 1 labels far from it."""
    rng = np.random.default_rng(seed)
    X = [np.round(rng.normal(size=(600, 3)), 1) for _ in range(2)]
    y = [0.1 * (rng.normal(size=600) + X[0][:, 0]), 10 * (rng.standard_t(2, 600) + X[1][:, 0])]
    w = [rng.random(600) + 0.5, rng.random(600) * 3]
    return X, y, w


SKEWED = {  # run: (loss, its parameters, weighted)
    "quantile": ("asrl", {}, False),
    "weighted": ("asrl", {}, True),
    "scale": ("asrl", {"thresholds": "scale"}, False),
    "stats": ("asrl", {"weights": "stats"}, True),
    "pseudo-huber-auto": ("pseudo-huber-auto", {}, False),
}


@pytest.fixture(scope="module")
def skewed_runs(client, tmp_path_factory):
    """Train 6 rounds through ``xgboost.dask.train`` for each loss of ``SKEWED``,
    recording what the workers saw."""
    from xgboost import dask as dxgb

    from asrl.dask import base_score, objective

    X, y, w = skewed_blocks()
    dX, dy, dw = placed(client, X), placed(client, y), placed(client, w)
    runs = {}
    for name, (loss, params, weighted) in SKEWED.items():
        folder = tmp_path_factory.mktemp(name)
        obj = objective(loss, **params)
        weight = dw if weighted else None
        start = base_score(client, dy, weight)
        dtrain = dxgb.DaskDMatrix(client, dX, dy, weight=weight)
        xgb_params = {"base_score": start, "max_depth": 3, "tree_method": "hist", "verbosity": 0}
        dxgb.train(client, xgb_params, dtrain, num_boost_round=6, obj=Recorder(obj, folder))
        runs[name] = (obj.history(client), seen(folder, 6), start)
    return runs


@pytest.mark.parametrize("name", list(SKEWED))
def test_every_worker_uses_the_same_statistics_every_round(skewed_runs, name):
    history, rounds, _ = skewed_runs[name]
    assert len(history) == 2  # both workers trained and recorded
    per_worker = [[r["statistics"] for r in records] for records in history.values()]
    assert len(per_worker[0]) == 6
    assert per_worker[0] == per_worker[1]
    assert sorted(r["rows"] for r in (records[0] for records in history.values())) == [600, 600]
    assert len(rounds) == 6
    assert all(len(r) == 2 for r in rounds)


@pytest.mark.parametrize("name", list(SKEWED))
def test_statistics_equal_the_single_machine_ones_on_all_residuals(skewed_runs, name):
    history, rounds, _ = skewed_runs[name]
    loss_name, params, weighted = SKEWED[name]
    loss = get_loss(
        loss_name, **({"threshold_sample": None} if loss_name == "asrl" else {}), **params
    )
    recorded = [r["statistics"] for r in next(iter(history.values()))]
    for statistics, workers in zip(recorded, rounds, strict=True):
        pred, label, weight = (together(workers, k) for k in ("pred", "label", "weight"))
        assert pred.dtype == label.dtype == np.float32
        exact = loss.statistics(label, pred, sample_weight=weight if weighted else None)
        if not weighted and not _means(loss):
            assert statistics == exact  # bit for bit: the order statistics are exact
        elif isinstance(loss, AutoPseudoHuber):  # a mean summed in float64, not float32
            assert statistics.delta == pytest.approx(exact.delta, rel=1e-6)
        else:  # weight sums (and the std's moments) added in another order
            np.testing.assert_allclose(statistics.deltas, exact.deltas, rtol=1e-6)
            if exact.scales is not None:
                np.testing.assert_allclose(statistics.scales, exact.scales, rtol=1e-6)


def test_weights_matter_and_the_weighted_start_is_the_weighted_median(skewed_runs):
    history, _, start = skewed_runs["weighted"]
    unweighted = [r["statistics"].deltas for r in next(iter(skewed_runs["quantile"][0].values()))]
    recorded = [r["statistics"].deltas for r in next(iter(history.values()))]
    assert abs(recorded[0][1] - unweighted[0][1]) > 0.1 * unweighted[0][1]
    _, y, w = skewed_blocks()
    label, weight = np.concatenate(y).astype(np.float32), np.concatenate(w).astype(np.float32)
    assert start == pytest.approx(ASRL().best_constant(label, sample_weight=weight), rel=1e-6)


def test_local_thresholds_would_differ_on_this_partitioning(skewed_runs):
    # The test above could fail: each worker's own residuals give other thresholds.
    history, rounds, _ = skewed_runs["quantile"]
    d1, d2 = next(iter(history.values()))[0]["statistics"].deltas
    local = [ASRL().statistics(s["label"], s["pred"]).deltas for s in rounds[0].values()]
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


TREES = {
    "n_estimators": 30,
    "max_depth": 4,
    "learning_rate": 0.3,
    "tree_method": "hist",
    "n_jobs": 1,
}


@pytest.mark.usefixtures("toy")
def test_a_threshold_rule_registered_in_a_test_module_trains_on_the_workers(
    client, continuous_data
):
    from asrl.dask import ASRLDaskXGBRegressor

    X, y, _ = continuous_data
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    model = ASRLDaskXGBRegressor(thresholds="toy", n_estimators=4, max_depth=3).fit(dX, dy)
    assert len(model.statistics_history_) == 4
    label, loss = y.astype(np.float32), ASRL(thresholds="toy", threshold_sample=None)
    for r, statistics in enumerate(model.statistics_history_):
        # The predictions the objective saw at round r + 1: the start and r trees.
        pred = np.full_like(label, model.start_)
        if r:
            pred = model.predict(dX, output_margin=True, iteration_range=(0, r)).compute()
        assert statistics == loss.statistics(label, pred)
    default = ASRL().statistics(label, np.full_like(label, model.start_))
    assert model.statistics_history_[0] != default  # the toy rule, not the default one


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


def test_baselines_use_global_statistics_or_none(client):
    from asrl.dask import ASRLDaskXGBRegressor

    X, y, _ = skewed_blocks(seed=2)
    dX, dy = placed(client, X), placed(client, y)
    model = ASRLDaskXGBRegressor(
        loss="huber-adaptive", loss_params={"alpha": 0.8}, n_estimators=3, max_depth=2
    ).fit(dX, dy)
    label = np.concatenate(y).astype(np.float32)
    first = [records[0]["statistics"] for records in model.worker_history_.values()]
    start = np.full_like(label, model.start_)
    assert first == [AdaptiveHuber(alpha=0.8).statistics(label, start)] * 2
    assert model.statistics_ == model.statistics_history_[-1]
    mae = ASRLDaskXGBRegressor(loss="mae", n_estimators=3, max_depth=2).fit(dX, dy)
    assert mae.start_ == float(np.median(label))
    assert mae.statistics_history_ == []
    assert mae.statistics_ is None
    assert mae.n_objective_calls_ == 3


def test_a_worker_whose_rows_weigh_nothing_takes_part_with_zero_gradients(client, continuous_data):
    from asrl.dask import ASRLDaskXGBRegressor

    X, y, w = continuous_data
    w = np.where(np.arange(w.size) < 1500, 0.0, w)  # all of worker 0's rows
    dX, dy = placed(client, np.array_split(X, 2)), placed(client, np.array_split(y, 2))
    dw = placed(client, np.array_split(w, 2))
    model = ASRLDaskXGBRegressor(n_estimators=3, max_depth=2).fit(dX, dy, sample_weight=dw)
    assert model.n_objective_calls_ == 3
    assert sorted(len(records) for records in model.worker_history_.values()) == [3, 3]
    label, weight = y.astype(np.float32), w.astype(np.float32)
    start = np.full_like(label, model.start_)
    exact = ASRL().statistics(label, start, sample_weight=weight)
    np.testing.assert_allclose(model.statistics_history_[0].deltas, exact.deltas, rtol=1e-6)


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
    # residual infinite; both workers stop with an error (none waits forever), for a
    # loss with statistics and for one without.
    margin = np.zeros(3000)
    margin[2000] = np.inf
    dtrain = dxgb.DaskDMatrix(client, dX, dy, base_margin=placed(client, np.array_split(margin, 2)))
    for loss in ("asrl", "mae"):
        with pytest.raises(FloatingPointError, match=r"non-finite .*at round 1"):
            dxgb.train(client, {"verbosity": 0}, dtrain, 3, obj=objective(loss))


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
    assert len(model.statistics_history_) == 2
