"""ASRL as an XGBoost objective: for ``xgb.train`` and as a scikit-learn regressor.

``ASRLXGBRegressor`` is an ``xgboost.XGBRegressor`` that trains with ASRL (or any
loss in :data:`asrl.LOSSES`), starts from the weighted median of the labels, and
reports the loss on ``eval_set`` as its evaluation metric. The saved model is a plain
XGBoost model: it loads and predicts without this package.

For the functional API, :func:`objective` gives ``xgb.train(obj=...)`` its
objective; set ``base_score`` to :func:`base_score` yourself, since a robust loss
started at XGBoost's default converges slowly or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
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
from .losses import BaseLoss, get_loss

try:
    import xgboost as xgb
except ModuleNotFoundError as error:
    raise missing("XGBoost", "xgboost") from error

__all__ = ["ASRLXGBRegressor", "base_score", "custom_metric", "eval_metric", "objective"]

Array = NDArray[np.floating[Any]]


class _TrainObjective:
    """``obj(preds, dtrain)`` for ``xgb.train``; labels and weights read once per DMatrix."""

    def __init__(self, loss: BaseLoss) -> None:
        self.loss = loss
        self._dtrain: xgb.DMatrix | None = None
        self.state: BoostingRound | None = None

    def __call__(self, preds: Array, dtrain: xgb.DMatrix) -> tuple[Array, Array]:
        if dtrain is not self._dtrain or self.state is None:
            weight = dtrain.get_weight()
            self.state = BoostingRound(
                self.loss, dtrain.get_label(), weight if weight.size else None
            )
            self._dtrain = dtrain
        return self.state(preds)


def objective(loss: str | BaseLoss = "asrl", **params: Any) -> _TrainObjective:
    """An objective for ``xgb.train(obj=...)``.

    Parameters
    ----------
    loss : str or BaseLoss, default "asrl"
        A loss object, or a name from :data:`asrl.LOSSES` with ``params``.
    **params
        Parameters of the named loss.

    Returns
    -------
    callable
        ``obj(preds, dtrain) -> (grad, hess)``. Labels and weights are read from
        ``dtrain`` and validated once, not every round. Its ``state.n_calls`` counts
        the rounds and ``state.history`` keeps the loss statistics of each round
        (ASRL's thresholds).

    Examples
    --------
    >>> import numpy as np, xgboost as xgb
    >>> from asrl.xgboost import base_score, objective
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X[:, 0] + 0.1
    >>> dtrain = xgb.DMatrix(X, label=y)
    >>> params = {"base_score": base_score(y), "max_depth": 3, "verbosity": 0}
    >>> booster = xgb.train(params, dtrain, num_boost_round=5, obj=objective())
    >>> booster.predict(dtrain).shape
    (200,)
    """
    return _TrainObjective(get_loss(loss, **params))


def base_score(
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    loss: str | BaseLoss = "asrl",
    **params: Any,
) -> float:
    """The robust start for ``base_score``: the loss's best constant (weighted median)."""
    return get_loss(loss, **params).best_constant(y, sample_weight=sample_weight)


def eval_metric(loss: str | BaseLoss = "asrl", **params: Any) -> Callable[..., float]:
    """A metric for ``XGBRegressor(eval_metric=...)``: the mean loss (lower is better).

    Its ``__name__`` is the loss name, which XGBoost uses in ``evals_result()``.
    """
    loss_object = get_loss(loss, **params)

    def metric(y_true: Array, y_pred: Array, sample_weight: Array | None = None) -> float:
        return loss_object(y_true, y_pred, sample_weight=sample_weight)

    metric.__name__ = loss_object.name
    return metric


def custom_metric(
    loss: str | BaseLoss = "asrl", **params: Any
) -> Callable[[Array, xgb.DMatrix], tuple[str, float]]:
    """A metric for ``xgb.train(custom_metric=...)``: ``(name, mean loss)``."""
    metric = eval_metric(loss, **params)

    def inner(preds: Array, dmatrix: xgb.DMatrix) -> tuple[str, float]:
        weight = dmatrix.get_weight()
        value = metric(dmatrix.get_label(), preds, weight if weight.size else None)
        return metric.__name__, value

    return inner


class ASRLXGBRegressor(BoostingEstimator, xgb.XGBRegressor):
    __doc__ = (
        """XGBoost regressor trained with ASRL (or another loss of :data:`asrl.LOSSES`).

    Everything else is ``xgboost.XGBRegressor``: pass its parameters as keywords.

    Parameters
    ----------"""
        + LOSS_PARAMS_DOC
        + """    **kwargs
        Parameters of ``xgboost.XGBRegressor``. ``objective`` must stay at its
        default (this class supplies it). ``base_score`` defaults to the weighted
        median of ``y``; ``eval_metric`` defaults to the training loss.

    Attributes
    ----------
    start_ : float
        The first prediction (``base_score``) used by the last ``fit``.
    statistics_ : ASRLStatistics, DeltaStatistics or None
        The loss statistics of the last round (``statistics_.deltas``: ASRL's
        thresholds); None for a loss without statistics.
    statistics_history_ : list
        The loss statistics of every round.
    n_objective_calls_ : int
        Rounds in which the objective was called.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.xgboost import ASRLXGBRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = 2 * X[:, 0] + rng.normal(size=300)
    >>> y[:30] += 50  # gross outliers
    >>> model = ASRLXGBRegressor(n_estimators=50, max_depth=3).fit(X, y)
    >>> model.n_objective_calls_
    50
    >>> bool(abs(model.start_ - np.median(y)) < 1e-6)
    True
    """
    )

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: ArrayLike | None = None,
        **fit_params: Any,
    ) -> ASRLXGBRegressor:
        """Fit the trees; ``fit_params`` are those of ``XGBRegressor.fit``.

        Labels and weights are validated before training: NaN or infinite labels,
        and weights of the wrong length, negative, non-finite or all zero, are errors.
        """
        loss = self._make_loss(self.objective)
        y = check_labels(self, y)
        state = BoostingRound(loss, y, sample_weight)
        start = state.start() if self.base_score is None else self.base_score

        def train_objective(
            y_true: Array, y_pred: Array, sample_weight: Array | None = None
        ) -> tuple[Array, Array]:
            return state(y_pred)

        metric = eval_metric(loss) if self.eval_metric is None else self.eval_metric
        with swapped(self, objective=train_objective, base_score=start, eval_metric=metric):
            super().fit(X, y, sample_weight=sample_weight, **fit_params)
        self._finish_fit(start, state.n_calls, state.history)  # type: ignore[arg-type]
        state.release()
        return self

    def get_xgb_params(self) -> dict[str, Any]:
        """XGBoost's booster parameters, without this class's loss parameters."""
        params: dict[str, Any] = super().get_xgb_params()
        for name in LOSS_PARAMS:
            params.pop(name, None)
        return params

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
