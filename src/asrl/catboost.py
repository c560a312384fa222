"""ASRL as a CatBoost objective, as a scikit-learn regressor.

CatBoost calls a Python objective on chunks of about a thousand rows, so no single
call sees all residuals and a global quantile cannot be taken inside one. The
objective here therefore uses the exact thresholds (or other statistics) of the
previous full pass over the training rows: it keeps every residual it is shown and,
each time it has seen as many as there are rows, recomputes the statistics from them.
The first pass uses the residuals of the robust start. The start itself (the weighted
median) goes in as CatBoost's ``baseline`` and is then stored as the model's bias, so
the saved model predicts on its own.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._boosting import (
    LOSS_PARAMS,
    LOSS_PARAMS_DOC,
    BoostingEstimator,
    BoostingRound,
    check_labels,
    swapped,
)
from ._optional import missing
from .core.rules import as_floats
from .losses import BaseLoss, get_loss

try:
    import catboost as cb
except ModuleNotFoundError as error:
    raise missing("CatBoost", "catboost") from error

__all__ = ["ASRLCatBoostRegressor", "CatBoostMetric", "CatBoostObjective", "fold_start"]

Array = NDArray[np.floating[Any]]


def fold_start(model: Any, start: float) -> None:
    """Add a constant start to a fitted CatBoost model's bias.

    A model trained from ``baseline`` does not keep it; after this it predicts
    ``start + trees`` on its own.
    """
    scale, bias = model.get_scale_and_bias()
    model.set_scale_and_bias(scale, bias + start)


class CatBoostObjective:
    """A CatBoost ``loss_function`` object with statistics lagged by one pass.

    Parameters
    ----------
    loss : BaseLoss
        The loss.
    y : array_like of shape (n,)
        Training labels.
    sample_weight : array_like of shape (n,), optional
    start : float
        The first prediction; the first pass uses the statistics of ``start - y``.

    Attributes
    ----------
    n_calls : int
        Calls of ``calc_ders_range`` (chunks).
    statistics : statistics value or None
        The loss statistics in use (those of the last full pass).
    history : list
        The statistics of every pass, the first one's included.
    """

    no_jit = True  # CatBoost would try to compile this class with numba and warn

    def __deepcopy__(self, memo: dict[int, Any]) -> CatBoostObjective:
        # CatBoost deep-copies its parameters; the copy must be this very object, whose
        # counters and statistics the estimator reads after training.
        return self

    def __init__(
        self,
        loss: BaseLoss,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        start: float,
    ) -> None:
        state = BoostingRound(loss, y, sample_weight, dtype=np.float64)
        self.loss = loss
        self.n = state.y.size
        self.history: list[Any] = []
        self._residuals = np.full(self.n, start) - state.y
        self._weights = None if state.w is None else state.w.copy()
        self._scratch = np.empty_like(self._residuals)
        self.statistics = self._update()
        self._filled = 0
        self._lock = threading.Lock()
        self.n_calls = 0

    def _update(self) -> Any:
        """The statistics of the residuals of the last full pass."""
        statistics = self.loss.residual_statistics(
            self._residuals, self._weights, scratch=self._scratch
        )
        if statistics is not None:
            statistics = as_floats(statistics)
            self.history.append(statistics)
        return statistics

    def calc_ders_range(self, approxes: Any, targets: Any, weights: Any) -> Array:
        """CatBoost's hook: derivatives of the *negative* loss (CatBoost maximises).

        CatBoost passes numpy views of its buffers (float64 approxes, float32
        targets and weights) and copies an ``(n, 2)`` float array back in compiled
        code, so one chunk costs a few numpy calls; a list of pairs, the documented
        form, costs two Python floats per row (``docs/boosting.md``).

        Returns
        -------
        ndarray of shape (n, 2), float64
            Minus the gradient and minus the hessian of each row, as columns.
        """
        u = np.subtract(approxes, targets, dtype=np.float64)
        weight = None if weights is None else np.asarray(weights, dtype=np.float64)
        with self._lock:
            statistics = self.statistics
            self.n_calls += 1
            self._remember(u, weight)
        # Gradient and hessian as the rows of one array, handed back transposed: each
        # is contiguous for the kernel, and CatBoost reads any strides.
        ders: Array = np.empty((2, u.size))
        with np.errstate(over="ignore", under="ignore"):
            self.loss.residual_gradient_hessian(
                u, statistics, gradient_out=ders[0], hessian_out=ders[1]
            )
        if weight is not None:
            np.multiply(ders, weight, out=ders)
        np.negative(ders, out=ders)
        transposed: Array = ders.T
        return transposed

    def _remember(self, residual: Array, weight: Array | None) -> None:
        """Keep residuals; after a full pass, recompute the statistics from them."""
        end = self._filled + residual.size
        if end < self.n:  # the usual chunk: inside the pass
            self._residuals[self._filled : end] = residual
            if self._weights is not None and weight is not None:
                self._weights[self._filled : end] = weight
            self._filled = end
            return
        while residual.size:
            take = min(residual.size, self.n - self._filled)
            self._residuals[self._filled : self._filled + take] = residual[:take]
            if self._weights is not None and weight is not None:
                self._weights[self._filled : self._filled + take] = weight[:take]
                weight = weight[take:]
            residual = residual[take:]
            self._filled += take
            if self._filled == self.n:
                self.statistics = self._update()
                self._filled = 0


class CatBoostMetric:
    """A CatBoost ``eval_metric`` object: the mean loss, lower is better."""

    no_jit = True

    def __init__(self, loss: str | BaseLoss = "asrl", **params: Any) -> None:
        self.loss = get_loss(loss, **params)

    def is_max_optimal(self) -> bool:
        """Lower is better."""
        return False

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        """``(sum of weighted losses, sum of weights)`` for one evaluation."""
        approx = np.asarray(approxes[0], dtype=np.float64)
        y = np.asarray(target, dtype=np.float64)
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        total = float(self.loss.loss(y, approx, sample_weight=w).sum())
        return total, float(len(y) if w is None else w.sum())

    def get_final_error(self, error: float, weight: float) -> float:
        """The weighted mean."""
        return error / weight


class ASRLCatBoostRegressor(BoostingEstimator, cb.CatBoostRegressor):  # type: ignore[misc]
    _init_params: dict[str, Any]  # CatBoost's parameter store
    _objective_parameter = "loss_function"
    _objective_defaults = (None, "RMSE")
    __doc__ = (
        """CatBoost regressor trained with ASRL (or another loss of :data:`asrl.LOSSES`).

    Everything else is ``catboost.CatBoostRegressor``: pass its parameters as keywords.
    The statistics of each pass (ASRL's thresholds) are those of the previous full
    pass over the training rows, since CatBoost shows the objective chunks of rows.

    Parameters
    ----------"""
        + LOSS_PARAMS_DOC
        + """    **kwargs
        Parameters of ``catboost.CatBoostRegressor``; ``loss_function`` must stay
        at its default. ``eval_metric`` defaults to the training loss.

    Attributes
    ----------
    start_ : float
        The first prediction (weighted median of ``y``), stored as the model's bias.
    statistics_, statistics_history_
        The loss statistics of the last pass and of every pass (ASRL's
        thresholds: ``statistics_.deltas``).
    n_objective_calls_ : int
        Chunks for which CatBoost asked for derivatives.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.catboost import ASRLCatBoostRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = 2 * X[:, 0] + rng.normal(size=300)
    >>> model = ASRLCatBoostRegressor(iterations=20, verbose=0, allow_writing_files=False)
    >>> model = model.fit(X, y)
    >>> model.n_objective_calls_ > 0, model.get_scale_and_bias()[1] == model.start_
    (True, True)
    """
    )

    # CatBoost pickles only its parameter dict and model; add what is ours.
    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state["__asrl__"] = {
            name: value
            for name, value in self.__dict__.items()
            if name in LOSS_PARAMS or (name.endswith("_") and not name.startswith("_"))
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        ours = state.pop("__asrl__", {})
        super().__setstate__(state)
        self.__dict__.update(ours)

    # CatBoost keeps its parameters in a dict of its own; ours are attributes.
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """CatBoost's parameters and this class's loss parameters."""
        params: dict[str, Any] = super().get_params()
        return {**self._loss_params(), **params}

    def set_params(self, **params: Any) -> ASRLCatBoostRegressor:
        """Set loss parameters and CatBoost parameters."""
        for name in [name for name in params if name in LOSS_PARAMS]:
            setattr(self, name, params.pop(name))
        super().set_params(**params)
        return self

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        sample_weight: ArrayLike | None = None,
        eval_set: Any = None,
        **fit_params: Any,
    ) -> ASRLCatBoostRegressor:
        """Fit the trees; other ``fit_params`` are those of ``CatBoostRegressor.fit``.

        ``X`` and ``y`` are arrays or data frames (not a ``Pool``); ``eval_set`` is a
        pair ``(X, y)``, a list of such pairs, or Pools (their baseline is set to the
        start). Labels and weights are validated before training.
        """
        loss = self._make_loss(self._init_params.get("loss_function"))
        if isinstance(X, cb.Pool):
            raise TypeError("ASRLCatBoostRegressor.fit takes X and y, not a Pool.")
        y = check_labels(self, y)
        start = BoostingRound(loss, y, sample_weight).start()
        objective = CatBoostObjective(loss, y, sample_weight, start=start)
        params = {**self._init_params, "loss_function": objective}
        if params.get("eval_metric") is None:
            # CatBoost names a Python metric after its class: name it after the loss.
            params["eval_metric"] = type(loss.name, (CatBoostMetric,), {})(loss)
        with swapped(self, _init_params=params):
            super().fit(
                X,
                y,
                sample_weight=sample_weight,
                baseline=np.full(objective.n, start),
                eval_set=self._eval_pools(eval_set, start),
                **fit_params,
            )
        fold_start(self, start)
        self._finish_fit(start, objective.n_calls, objective.history)
        return self

    def _eval_pools(self, eval_set: Any, start: float) -> Any:
        if eval_set is None:
            return None
        single = isinstance(eval_set, (tuple, cb.Pool))
        pools = []
        for item in [eval_set] if single else list(eval_set):
            if isinstance(item, cb.Pool):
                pool = item
            else:
                X_eval, y_eval = item
                pool = cb.Pool(
                    X_eval,
                    y_eval,
                    cat_features=self._init_params.get("cat_features"),
                    text_features=self._init_params.get("text_features"),
                    embedding_features=self._init_params.get("embedding_features"),
                )
            pool.set_baseline(np.full(pool.num_row(), start))
            pools.append(pool)
        return pools[0] if single else pools
