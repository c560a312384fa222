r"""ASRL on Dask-distributed XGBoost, with statistics taken from every worker's residuals.

With ``xgboost.dask`` each worker computes the gradients of the rows it holds. ASRL's
thresholds are quantiles of *all* residuals: a worker that took them from its own
shard would train with a loss that changes with the partitioning. Here every worker
runs the same :class:`asrl._boosting.BoostingRound` as a single machine, except that
the round's residual statistics come from all workers together: the loss's rule
(:meth:`asrl.losses.BaseLoss.statistics_rule`, written once in :mod:`asrl.core.rules`) is
driven by :func:`asrl.core.sharded.sharded_rule`, whose requests are answered with a
few allreduces inside XGBoost's own communicator (:mod:`xgboost.collective`): order
statistics by radix selection on the bits of the residuals, means by summed moments.

So every loss of :data:`asrl.LOSSES` and every threshold rule of
:data:`asrl.THRESHOLD_RULES` (one registered at run time too) works here unchanged.
The order statistics are exact: without sample weights, or with integer ones, the
statistics equal the single-machine ``loss.statistics(...)`` of all residuals together
bit for bit (with ``threshold_sample=None``); with other weights, and where a rule asks
for a mean (the "stats" weights, ``"pseudo-huber-auto"``), they differ only by the
rounding of sums added in another order (:func:`asrl.core.sharded.sharded_quantiles`,
:func:`asrl.core.sharded.sharded_mean`). ``docs/distributed.md`` states the cost (3
allreduces and 64 KiB per worker and round for the default ASRL) and measures it.

- :class:`ASRLDaskXGBRegressor`: ``xgboost.dask.DaskXGBRegressor`` trained with ASRL
  (or a baseline of :data:`asrl.LOSSES`), started from the global weighted median of
  ``y``, with the global mean loss as its evaluation metric.
- :func:`objective`, :func:`custom_metric` and :func:`base_score` for
  ``xgboost.dask.train``.

Usage (not run here: it starts a cluster)::

    from distributed import Client, LocalCluster  # or Client("tcp://scheduler:8786")
    import dask.array as da
    from asrl.dask import ASRLDaskXGBRegressor

    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        X = da.random.normal(size=(100_000, 10), chunks=(25_000, 10))
        y = X[:, 0] + da.random.standard_t(2, size=100_000, chunks=25_000)
        model = ASRLDaskXGBRegressor(n_estimators=100, max_depth=6).fit(X, y)
        model.statistics_.deltas        # the thresholds of the last round
        model.predict(X).compute()

Import this module only when Dask and XGBoost are installed
(``pip install "asrl[dask]"``); ``import asrl`` never imports it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Generator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import core
from ._boosting import LOSS_PARAMS, LOSS_PARAMS_DOC, BoostingEstimator, BoostingRound, swapped
from ._optional import missing
from .core.rules import as_floats
from .losses import BaseLoss, SquaredError, get_loss

try:
    import dask.array as da
    import distributed
    from dask.delayed import delayed
    from xgboost import collective
    from xgboost import dask as dxgb
except ModuleNotFoundError as error:
    raise missing("Dask", "dask") from error

__all__ = [
    "ASRLDaskXGBRegressor",
    "DaskMetric",
    "DaskObjective",
    "base_score",
    "collect_history",
    "custom_metric",
    "objective",
    "statistics_protocol",
]

Array = NDArray[np.floating[Any]]
Protocol = Generator[core.ShardRequest, NDArray[Any], Any]

#: XGBoost hands labels, weights and predictions to Python objectives as float32.
DTYPE = np.dtype(np.float32)
_OPS = {"sum": collective.Op.SUM, "max": collective.Op.MAX}


# --------------------------------------------------------------------------------------
# A loss's statistics across workers
# --------------------------------------------------------------------------------------


def statistics_protocol(loss: BaseLoss, *, weighted: bool) -> Protocol:
    """Protocol returning ``loss``'s statistics of all shards' residuals.

    The shards hold the residuals ``u = y_pred - y_true`` (``core.Shard(u, w)``); the
    result is what ``loss.residual_statistics`` returns on all of them together
    without a subsample (:func:`asrl.core.sharded.sharded_rule` runs the loss's rule).
    A loss without statistics gets None, after a check that every residual is finite
    (one 40-byte MAX allreduce). Raises ``FloatingPointError`` on every worker alike
    if a residual is NaN or infinite (every registered rule asks for a quantile of
    ``|u|`` or for ``max |u|``, which check it).
    """
    if loss.Statistics is None:
        yield from core.sharded_max_abs(DTYPE)
        return None
    return (yield from core.sharded_rule(loss.statistics_rule, DTYPE, weighted=weighted))


class _Traffic:
    """Allreduces and bytes sent by one worker in one round."""

    def __init__(self) -> None:
        self.allreduces = 0
        self.bytes = 0
        self.seconds = 0.0


def _allreduce(protocol: Protocol, shard: core.Shard, traffic: _Traffic) -> Any:
    """Run a sharded protocol with XGBoost's allreduce (the identity outside training)."""
    begin = time.perf_counter()
    try:
        request = next(protocol)
        while True:
            part = shard.contribution(request)
            traffic.allreduces += 1
            traffic.bytes += part.nbytes
            request = protocol.send(collective.allreduce(part, _OPS[request.op]))
    except StopIteration as stop:
        return stop.value
    finally:
        traffic.seconds += time.perf_counter() - begin


def _census(y: Array, pred: Array | None, w: Array | None) -> bool:
    """Check labels (and predictions) and weights over all workers; ``True`` if weighted.

    One SUM allreduce, so that every worker raises the same error instead of one worker
    raising while the others wait in the next allreduce.
    """

    def non_finite(a: Array | None) -> int:
        return 0 if a is None else int(a.size - np.count_nonzero(np.isfinite(a)))

    local = np.array(
        [
            y.size,
            non_finite(y) + non_finite(pred),
            non_finite(w),
            0 if w is None else np.count_nonzero(w < 0),
            0 if w is None else np.count_nonzero(w > 0),
            0 if w is None else y.size,
            y.size if w is None else 0,
        ],
        dtype=np.float64,
    )
    n, bad, bad_w, negative, positive, rows_w, rows_no_w = (
        int(v) for v in collective.allreduce(local, collective.Op.SUM)
    )
    if n == 0:
        raise ValueError("no worker holds any rows; at least one sample is needed.")
    if bad:
        raise ValueError(f"the labels or predictions contain {bad} non-finite values (NaN or inf).")
    if rows_w and rows_no_w:
        raise ValueError("sample weights are given for some workers' rows and not for others'.")
    if bad_w:
        raise ValueError(f"sample_weight contains {bad_w} non-finite values (NaN or inf).")
    if negative:
        raise ValueError(f"sample_weight must be non-negative; {negative} value(s) are negative.")
    if rows_w and not positive:
        raise ValueError("sample_weight sums to zero; at least one weight must be positive.")
    return rows_w > 0


# --------------------------------------------------------------------------------------
# Per-round records, kept in each worker process until the client collects them
# --------------------------------------------------------------------------------------

_HISTORY: dict[tuple[str, str], list[dict[str, Any]]] = {}
_HISTORY_LOCK = threading.Lock()


def _worker_address() -> str:
    """This Dask worker's address, or ``"local"`` outside a worker."""
    try:
        return str(distributed.get_worker().address)
    except ValueError:
        return "local"


def _record(run_id: str, entry: dict[str, Any]) -> None:
    with _HISTORY_LOCK:
        _HISTORY.setdefault((run_id, _worker_address()), []).append(entry)


def _pop_history(run_id: str, dask_worker: Any = None) -> list[dict[str, Any]]:
    """The records of ``run_id`` made in this worker (``client.run`` passes it)."""
    address = "local" if dask_worker is None else str(dask_worker.address)
    with _HISTORY_LOCK:
        return _HISTORY.pop((run_id, address), [])


def collect_history(run_id: str, client: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Remove and return the per-round records of ``run_id``, by worker address.

    Records made outside Dask (a plain ``xgboost.train``) are under ``"local"``.
    """
    found = {}
    if client is not None:
        found = client.run(_pop_history, run_id)
    local = _pop_history(run_id)
    if local:
        found["local"] = local
    return {address: records for address, records in found.items() if records}


# --------------------------------------------------------------------------------------
# The objective on each worker
# --------------------------------------------------------------------------------------


class _WorkerState:
    """One worker's training: a :class:`BoostingRound` whose statistics are global.

    Labels and weights are checked over all workers first (:func:`_census`), so a
    worker may hold no rows, or rows of zero weight only: it then contributes zero
    gradients and takes part in the statistics all the same.
    """

    def __init__(self, loss: BaseLoss, y: ArrayLike, w: ArrayLike | None, run_id: str) -> None:
        self.loss = loss
        self.run_id = run_id
        self.y = np.ascontiguousarray(np.asarray(y).reshape(-1), dtype=DTYPE)
        self.w = None if w is None else np.ascontiguousarray(np.asarray(w).reshape(-1), DTYPE)
        self.weighted = _census(self.y, None, self.w)
        if self.weighted and self.w is None:  # this worker holds no rows
            self.w = np.ones(0, dtype=DTYPE)
        self.n_calls = 0
        self.buffers: dict[str, NDArray[Any]] = {}  # the protocol's, reused every round
        self.traffic = _Traffic()
        self.statistics: Any = None
        self.joined = False
        carries_weight = self.y.size and (self.w is None or bool((self.w > 0).any()))
        self.round = (
            BoostingRound(loss, self.y, self.w, dtype=DTYPE, statistics=self._statistics)
            if carries_weight
            else None
        )

    def _statistics(self, u: Array, w: Array | None, scratch: Array | None) -> Any:
        """The round's statistics, from all workers' residuals (``BoostingRound`` calls it)."""
        self.joined = True
        protocol = statistics_protocol(self.loss, weighted=self.weighted)
        try:
            self.statistics = _allreduce(
                protocol, core.Shard(u, w, buffers=self.buffers), self.traffic
            )
        except FloatingPointError:
            raise FloatingPointError(
                f"the booster's predictions became non-finite at round {self.n_calls} "
                "(on another worker); training diverged."
            ) from None
        return self.statistics

    def __call__(self, preds: ArrayLike) -> tuple[Array, Array]:
        pred = np.asarray(preds).reshape(-1)
        self.n_calls += 1
        self.traffic, self.statistics, self.joined = _Traffic(), None, False
        try:
            if self.round is not None:
                g, h = self.round(pred)
            else:
                if pred.shape != self.y.shape:
                    raise ValueError(
                        f"the booster passed {pred.size} predictions for {self.y.size} labels."
                    )
                self._statistics(pred - self.y, self.w, None)
                g, h = np.zeros_like(self.y), np.zeros_like(self.y)
        except FloatingPointError:
            if not self.joined:
                # This worker's own check failed before the statistics: run their
                # protocol all the same, so that the workers waiting in it fail with
                # this error too (at the same step), not with XGBoost's "Ring
                # Allreduce failed" when this worker leaves.
                with contextlib.suppress(FloatingPointError, ValueError):
                    self._statistics(pred - self.y, self.w, None)
            raise
        stats = None if self.statistics is None else as_floats(self.statistics)
        entry = {"round": self.n_calls, "rows": int(self.y.size), "statistics": stats}
        traffic = self.traffic
        entry.update(allreduces=traffic.allreduces, bytes=traffic.bytes, seconds=traffic.seconds)
        _record(self.run_id, entry)
        return g, h


class DaskObjective:
    """An objective for ``xgboost.dask.train(obj=...)`` with global statistics.

    Each worker receives a copy; at its first call it reads its labels and weights
    (checked over all workers at once), then every round it computes the loss's
    statistics of all workers' residuals (:func:`statistics_protocol`) and its own
    rows' gradients and hessians with them. It works unchanged in ``xgboost.train``
    (one process: the allreduce is the identity).

    Parameters
    ----------
    loss : BaseLoss
        Any loss of :data:`asrl.LOSSES`, with any threshold rule.

    Attributes
    ----------
    run_id : str
        Key of this objective's per-round records on the workers; see :meth:`history`.
    """

    def __init__(self, loss: BaseLoss) -> None:
        self.loss = loss
        self.run_id = uuid.uuid4().hex
        self._states: dict[tuple[str, int], tuple[Any, _WorkerState]] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"loss": self.loss, "run_id": self.run_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.loss, self.run_id = state["loss"], state["run_id"]
        self._states, self._lock = {}, threading.Lock()

    def _state(self, source: Any, labels: Any, weights: Any) -> _WorkerState:
        """The state of this worker's training on ``source`` (created at the first call)."""
        key = (_worker_address(), id(source))
        with self._lock:
            entry = self._states.get(key)
        if entry is None or entry[0] is not source:
            # Outside the lock: creating the state is an allreduce, which the other
            # workers (threads of this process, with an in-process cluster) must reach.
            weight = weights()
            state = _WorkerState(self.loss, labels(), weight if weight.size else None, self.run_id)
            with self._lock:
                self._states[key] = entry = (source, state)
        return entry[1]

    def __call__(self, preds: Array, dtrain: Any) -> tuple[Array, Array]:
        """Gradient and hessian of this worker's rows (``obj(preds, dtrain)``)."""
        return self._state(dtrain, dtrain.get_label, dtrain.get_weight)(preds)

    def history(self, client: Any = None) -> dict[str, list[dict[str, Any]]]:
        """Remove and return the per-round records, by worker address.

        Each record holds ``round``, this worker's ``rows``, the ``statistics`` used
        (e.g. ``ASRLStatistics(deltas=...)``, None for a loss without), and the
        ``allreduces``, ``bytes`` (sent by this worker) and ``seconds`` (local work and
        waiting included) they took. Pass the ``distributed.Client`` to collect them
        from the workers; records made in this process (``xgboost.train``) are under
        ``"local"``.
        """
        return collect_history(self.run_id, client)


class _SklearnObjective:
    """``DaskObjective`` with the scikit-learn signature ``DaskXGBRegressor`` expects."""

    def __init__(self, objective: DaskObjective) -> None:
        self.objective = objective
        self._source = object()  # one training per worker: the same state every round

    def __getstate__(self) -> dict[str, Any]:
        return {"objective": self.objective}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.objective = state["objective"]
        self._source = object()

    def __call__(
        self, y_true: Array, y_pred: Array, sample_weight: Array | None = None
    ) -> tuple[Array, Array]:
        weight = np.zeros(0, dtype=DTYPE) if sample_weight is None else sample_weight
        state = self.objective._state(self._source, lambda: y_true, lambda: weight)
        return state(y_pred)


def objective(loss: str | BaseLoss = "asrl", **params: Any) -> DaskObjective:
    """An objective for ``xgboost.dask.train(obj=...)`` with global statistics.

    Parameters
    ----------
    loss : str or BaseLoss, default "asrl"
        A loss object, or a name from :data:`asrl.LOSSES` with ``params``.
    **params
        Parameters of the named loss.

    Returns
    -------
    DaskObjective
        ``obj(preds, dtrain) -> (grad, hess)``; ``obj.history(client)`` returns the
        statistics each worker used at each round. Set ``base_score`` to
        :func:`base_score` yourself.

    Examples
    --------
    In one process (``xgboost.train``) the allreduce is the identity, so the
    statistics are those of the single-machine loss:

    >>> import numpy as np, xgboost as xgb
    >>> from asrl import ASRL
    >>> from asrl.dask import objective
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + rng.standard_t(2, 200)).astype("f4")
    >>> start = float(np.median(y))
    >>> obj = objective(q_low=0.6)
    >>> booster = xgb.train({"base_score": start, "verbosity": 0}, xgb.DMatrix(X, label=y),
    ...                     num_boost_round=2, obj=obj)
    >>> first = obj.history()["local"][0]
    >>> first["statistics"] == ASRL(q_low=0.6).statistics(y, np.full(200, start, "f4"))
    True
    """
    return DaskObjective(get_loss(loss, **params))


# --------------------------------------------------------------------------------------
# The evaluation metric: the mean loss over all workers' rows
# --------------------------------------------------------------------------------------


class DaskMetric:
    """The mean loss over all workers' rows of an evaluation set, with global statistics.

    For ``xgboost.dask.train(custom_metric=...)``: ``metric(preds, dmatrix)`` returns
    ``(name, value)``, the same on every worker (so XGBoost's average over workers
    and early stopping see the global value). XGBoost's own handling of a Python
    metric averages the workers' local values, which is not the mean over all rows.
    """

    def __init__(self, loss: BaseLoss) -> None:
        self.loss = loss
        self.__name__ = loss.name

    def __call__(self, preds: Array, dmatrix: Any) -> tuple[str, float]:
        weight = dmatrix.get_weight()
        return self.loss.name, self.mean(
            dmatrix.get_label(), preds, weight if weight.size else None
        )

    def mean(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> float:
        """``sum(w * rho) / sum(w)`` over every worker's rows (call it on all workers)."""
        y = np.asarray(y_true, dtype=DTYPE).reshape(-1)
        pred = np.asarray(y_pred, dtype=DTYPE).reshape(-1)
        w = None if sample_weight is None else np.asarray(sample_weight, DTYPE).reshape(-1)
        if pred.shape != y.shape:
            raise ValueError(f"{pred.size} predictions for {y.size} labels.")
        weighted = _census(y, pred, w)
        if weighted and w is None:
            w = np.ones(0, dtype=DTYPE)
        u = pred - y
        protocol = statistics_protocol(self.loss, weighted=weighted)
        statistics = _allreduce(protocol, core.Shard(u, w), _Traffic())
        with np.errstate(over="ignore", under="ignore"):
            rho = self.loss.residual_loss(u, statistics)
        local = np.zeros(2)
        if w is None:
            local[:] = rho.sum(dtype=np.float64), y.size
        else:
            local[:] = (rho * w).sum(dtype=np.float64), w.sum(dtype=np.float64)
        total, mass = collective.allreduce(local, collective.Op.SUM)
        return float(total / mass)


class _SklearnMetric:
    """``DaskMetric`` with the scikit-learn signature (``eval_metric=``)."""

    def __init__(self, metric: DaskMetric) -> None:
        self.metric = metric
        self.__name__ = metric.__name__

    def __call__(self, y_true: Array, y_pred: Array, sample_weight: Array | None = None) -> float:
        return self.metric.mean(y_true, y_pred, sample_weight)


def custom_metric(loss: str | BaseLoss = "asrl", **params: Any) -> DaskMetric:
    """A metric for ``xgboost.dask.train(custom_metric=...)``: the global mean loss."""
    return DaskMetric(get_loss(loss, **params))


# --------------------------------------------------------------------------------------
# On the client: checks and the robust start over Dask collections
# --------------------------------------------------------------------------------------


def _as_vector(name: str, data: Any) -> Any:
    """A 1-d float32 dask array from a dask array, Series or one-column DataFrame."""
    if hasattr(data, "to_dask_array"):
        data = data.to_dask_array(lengths=True)
    if not isinstance(data, da.Array):
        raise TypeError(f"{name} must be a dask array or a dask Series; got {type(data).__name__}.")
    if data.ndim == 2 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != 1:
        raise ValueError(f"{name} must be 1-d; got shape {data.shape}.")
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric; got dtype {data.dtype}.")
    return data.astype(DTYPE)


def _vectors(client: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
    """Labels and weights as aligned float32 dask vectors, checked like ``check_target``
    and ``check_sample_weight`` (counts and first indices over the whole collection)."""
    labels = _as_vector("y", y)
    weights = None
    if sample_weight is not None:
        weights = _as_vector("sample_weight", sample_weight)
        if weights.shape != labels.shape:
            raise ValueError(
                f"sample_weight must have the same shape as y; got {weights.shape} and "
                f"{labels.shape}."
            )
        weights = weights.rechunk(labels.chunks)
    # Each protocol step reads the blocks again: compute them once.
    labels = client.persist(labels)
    weights = None if weights is None else client.persist(weights)
    checks = [labels.size, (~da.isfinite(labels)).sum(), da.argmin(da.isfinite(labels))]
    if weights is not None:
        checks += [
            (~da.isfinite(weights)).sum(),
            da.argmin(da.isfinite(weights)),
            (weights < 0).sum(),
            da.argmax(weights < 0),
            (weights > 0).sum(),
        ]
    values = [int(v) for v in client.compute(checks, sync=True)]
    n, bad, first = values[:3]
    if n == 0:
        raise ValueError("y is empty; at least one sample is needed.")
    if bad:
        raise ValueError(
            f"y contains {bad} non-finite value{'s' if bad > 1 else ''} (NaN or inf); "
            f"the first is at index {first}."
        )
    if weights is not None:
        bad_w, first_w, negative, first_negative, positive = values[3:]
        if bad_w:
            raise ValueError(
                f"sample_weight contains {bad_w} non-finite value{'s' if bad_w > 1 else ''} "
                f"(NaN or inf); the first is at index {first_w}."
            )
        if negative:
            raise ValueError(
                f"sample_weight must be non-negative; {negative} value(s) are negative, "
                f"the first at index {first_negative}."
            )
        if not positive:
            raise ValueError("sample_weight sums to zero; at least one weight must be positive.")
    return labels, weights


def _block_contribution(
    request: core.ShardRequest, y: NDArray[Any], w: NDArray[Any] | None
) -> NDArray[Any]:
    return core.Shard(y, w).contribution(request)


def _run_on_blocks(client: Any, protocol: Protocol, labels: Any, weights: Any) -> Any:
    """Run a sharded protocol over a dask vector's blocks, reducing on the client."""
    y_blocks = labels.to_delayed().ravel()
    w_blocks = [None] * len(y_blocks) if weights is None else weights.to_delayed().ravel()
    try:
        request = next(protocol)
        while True:
            tasks = [
                delayed(_block_contribution)(request, y, w)
                for y, w in zip(y_blocks, w_blocks, strict=True)
            ]
            parts = client.compute(tasks, sync=True)
            request = protocol.send(core.reduce_contributions(request.op, parts))
    except StopIteration as stop:
        return stop.value


def _start(client: Any, loss: BaseLoss, labels: Any, weights: Any) -> float:
    """The loss's best constant over all rows: the weighted median of ``y`` (the
    weighted mean for the squared error), computed where the blocks are."""
    if isinstance(loss, SquaredError):
        total, mass = client.compute(
            [labels.astype(np.float64).sum(), labels.size]
            if weights is None
            else [(labels.astype(np.float64) * weights).sum(), weights.astype(np.float64).sum()],
            sync=True,
        )
        return float(total / mass)
    protocol = core.sharded_quantiles(
        (0.5,), DTYPE, weighted=weights is not None, values=("raw", 0.0)
    )
    median, _ = _run_on_blocks(client, protocol, labels, weights)
    return float(median)


def base_score(
    client: Any,
    y: Any,
    sample_weight: Any = None,
    loss: str | BaseLoss = "asrl",
    **params: Any,
) -> float:
    """The robust start for ``base_score`` over a Dask collection of labels.

    ``loss.best_constant`` of all labels as float32 (as XGBoost stores them): the
    weighted median of ``y`` (frequency weights, as on one machine; the weighted mean
    for ``"mse"``), found by the radix selection of
    :func:`asrl.core.sharded.sharded_quantiles` run over the blocks of ``y``, so exact
    without weights and within its stated bound with them. Labels and weights are
    checked first (non-finite or negative values: how many and the first index).
    """
    labels, weights = _vectors(client, y, sample_weight)
    return _start(client, get_loss(loss, **params), labels, weights)


# --------------------------------------------------------------------------------------
# The scikit-learn estimator
# --------------------------------------------------------------------------------------


class ASRLDaskXGBRegressor(BoostingEstimator, dxgb.DaskXGBRegressor):
    __doc__ = (
        """``xgboost.dask.DaskXGBRegressor`` trained with ASRL with global statistics.

    The same parameters as :class:`asrl.xgboost.ASRLXGBRegressor`; the loss
    statistics of every round (ASRL's thresholds) are computed from all workers'
    residuals (see :mod:`asrl.dask`).

    Parameters
    ----------"""
        + LOSS_PARAMS_DOC
        + """    **kwargs
        Parameters of ``xgboost.dask.DaskXGBRegressor``. ``objective`` must stay at its
        default (this class supplies it). ``base_score`` defaults to the weighted
        median of ``y`` over all rows; ``eval_metric`` defaults to the training loss,
        averaged over all rows of each evaluation set.

    Attributes
    ----------
    start_ : float
        The first prediction (``base_score``) used by the last ``fit``.
    statistics_ : ASRLStatistics, DeltaStatistics or None
        The loss statistics of the last round (``statistics_.deltas``: ASRL's
        thresholds), the same on every worker; None for a loss without statistics.
    statistics_history_ : list
        The loss statistics of every round.
    worker_history_ : dict
        Per worker address, one record per round: ``round``, ``rows``, the
        ``statistics`` used, and the ``allreduces``, ``bytes`` and ``seconds`` they
        took (see :meth:`DaskObjective.history`).
    n_objective_calls_ : int
        Rounds in which the objective was called.

    Notes
    -----
    ``threshold_sample`` is checked as by the single-machine estimator but has no
    effect: the distributed statistics are always exact (radix selection costs each
    worker a few passes over its rows, no more than a subsample would).
    """
    )

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        **fit_params: Any,
    ) -> ASRLDaskXGBRegressor:
        """Fit the trees; ``fit_params`` are those of ``DaskXGBRegressor.fit``.

        Labels and weights are checked over the whole collection before training.
        Needs a synchronous ``distributed.Client`` (the default client if none is set).
        """
        loss = self._make_loss(self.objective)
        client = self.client
        if client.asynchronous:
            raise NotImplementedError(
                "ASRLDaskXGBRegressor.fit needs a synchronous distributed.Client; "
                "got an asynchronous one."
            )
        labels, weights = _vectors(client, y, sample_weight)
        start = (
            _start(client, loss, labels, weights) if self.base_score is None else self.base_score
        )
        train_objective = DaskObjective(loss)
        metric = _SklearnMetric(DaskMetric(loss)) if self.eval_metric is None else self.eval_metric
        try:
            with swapped(
                self,
                objective=_SklearnObjective(train_objective),
                base_score=start,
                eval_metric=metric,
            ):
                super().fit(X, y, sample_weight=sample_weight, **fit_params)
        finally:
            history = train_objective.history(client)
        self.worker_history_ = history
        first = history[min(history)] if history else []
        statistics = [r["statistics"] for r in first if r["statistics"] is not None]
        self._finish_fit(start, len(first), statistics)  # type: ignore[arg-type]
        return self

    def get_xgb_params(self) -> dict[str, Any]:
        """XGBoost's booster parameters, without this class's loss parameters."""
        params: dict[str, Any] = super().get_xgb_params()
        for name in LOSS_PARAMS:
            params.pop(name, None)
        return params
