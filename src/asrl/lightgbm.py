"""ASRL as a LightGBM objective, as a scikit-learn regressor.

LightGBM has two traps for custom objectives, both handled here: its scikit-learn
wrapper drops sample weights for an objective of two arguments (ours takes three),
and it does not keep ``init_score`` in the model. ``ASRLLGBMRegressor`` trains from the
weighted median (through ``init_score``) and then adds that start to the leaves of the
first tree, so the saved model predicts on its own, without this package.
"""

from __future__ import annotations

import inspect
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
    import lightgbm as lgb
except ModuleNotFoundError as error:
    raise missing("LightGBM", "lightgbm") from error

__all__ = ["ASRLLGBMRegressor", "eval_metric"]

# LightGBM 4.7 takes validation data as eval_X / eval_y and deprecates eval_set.
_HAS_EVAL_XY = "eval_X" in inspect.signature(lgb.LGBMRegressor.fit).parameters

Array = NDArray[np.floating[Any]]


def eval_metric(loss: str | BaseLoss = "asrl", **params: Any) -> Any:
    """A metric for ``LGBMRegressor.fit(eval_metric=...)``: the mean loss, lower is better."""
    loss_object = get_loss(loss, **params)

    def metric(
        y_true: Array, y_pred: Array, weight: Array | None = None
    ) -> tuple[str, float, bool]:
        return loss_object.name, loss_object(y_true, y_pred, sample_weight=weight), False

    return metric


class ASRLLGBMRegressor(BoostingEstimator, lgb.LGBMRegressor):
    __doc__ = (
        """LightGBM regressor trained with ASRL (or another loss of :data:`asrl.LOSSES`).

    Everything else is ``lightgbm.LGBMRegressor``: pass its parameters as keywords.

    Parameters
    ----------"""
        + LOSS_PARAMS_DOC
        + """    **kwargs
        Parameters of ``lightgbm.LGBMRegressor``; ``objective`` must stay unset.

    Attributes
    ----------
    start_ : float
        The first prediction (weighted median of ``y``, or ``init_score`` if given as
        a scalar), folded into the first tree after training.
    statistics_, statistics_history_
        The loss statistics of the last round and of every round (ASRL's
        thresholds: ``statistics_.deltas``).
    n_objective_calls_ : int
        Rounds in which the objective was called.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.lightgbm import ASRLLGBMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = 2 * X[:, 0] + rng.normal(size=300)
    >>> model = ASRLLGBMRegressor(n_estimators=20, verbose=-1).fit(X, y)
    >>> model.n_objective_calls_
    20
    """
    )

    _objective_defaults = (None,)

    # LightGBM builds its booster parameters from get_params(), and reads ``loss`` as
    # an alias of ``objective``: our loss parameters are hidden while it does so.
    _hide_loss_params = False

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's parameters, as scikit-learn expects."""
        params: dict[str, Any] = super().get_params(deep)
        if self._hide_loss_params:
            for name in LOSS_PARAMS:
                params.pop(name, None)
        return params

    def _process_params(self, stage: str) -> dict[str, Any]:
        self._hide_loss_params = True
        try:
            params: dict[str, Any] = super()._process_params(stage)
        finally:
            self._hide_loss_params = False
        return params

    def fit(  # type: ignore[override]
        self,
        X: Any,
        y: Any,
        sample_weight: ArrayLike | None = None,
        init_score: Any = None,
        eval_set: list[tuple[Any, Any]] | None = None,
        eval_metric: Any = None,
        *,
        eval_X: Any = None,
        eval_y: Any = None,
        **fit_params: Any,
    ) -> ASRLLGBMRegressor:
        """Fit the trees; other ``fit_params`` are those of ``LGBMRegressor.fit``.

        Validation data come as ``eval_X`` and ``eval_y`` (tuples, LightGBM 4.7's
        spelling) or as ``eval_set`` (a list of pairs). ``init_score``, if given, must
        be a scalar start (per-row scores cannot be folded into the model). Labels
        and weights are validated before training.
        """
        loss = self._make_loss(self.objective)
        if init_score is not None and np.ndim(init_score) != 0:
            raise ValueError(
                "init_score must be a scalar start for ASRLLGBMRegressor; the model "
                "must predict without it."
            )
        y = check_labels(self, y)
        state = BoostingRound(loss, y, sample_weight, dtype=np.float64, output_dtype=np.float32)
        start = state.start() if init_score is None else float(init_score)

        def train_objective(
            y_true: Array, y_pred: Array, weight: Array | None
        ) -> tuple[Array, Array]:
            return state(y_pred)

        eval_sets = list(eval_set or [])
        if eval_X is not None:
            xs = eval_X if isinstance(eval_X, tuple) else (eval_X,)
            ys = eval_y if isinstance(eval_y, tuple) else (eval_y,)
            eval_sets += list(zip(xs, ys, strict=True))
        if eval_sets and _HAS_EVAL_XY:
            fit_params["eval_X"] = tuple(x for x, _ in eval_sets)
            fit_params["eval_y"] = tuple(y for _, y in eval_sets)
        elif eval_sets:
            fit_params["eval_set"] = eval_sets
        metrics = eval_metric if eval_metric is not None else globals()["eval_metric"](loss)
        # Report our metric, not l2.
        other = {"metric": "None", **self._other_params}
        try:
            with swapped(self, _objective=train_objective, _other_params=other):
                super().fit(
                    X,
                    y,
                    sample_weight=sample_weight,
                    init_score=np.full(len(state.y), start),
                    eval_init_score=[np.full(len(ys), start) for _, ys in eval_sets] or None,
                    eval_metric=metrics,
                    **fit_params,
                )
        except lgb.basic.LightGBMError as error:
            if "num_features()) > (0)" not in str(error):
                raise
            self._fit_constant(X, y, sample_weight, start)
        self._fold_start_into_first_tree(start)
        self._finish_fit(start, state.n_calls, state.history)
        state.release()
        return self

    def _fit_constant(self, X: Any, y: Any, sample_weight: Any, start: float) -> None:
        """The model when LightGBM finds no usable feature (e.g. too few rows).

        LightGBM's custom-objective path fails on such data, while its built-in
        objectives train single-leaf trees. We train one such tree and zero its leaf;
        the start is then folded in as usual, so the model predicts the start.
        """
        params = {k: v for k, v in self.get_params().items() if k not in LOSS_PARAMS}
        params["n_estimators"] = 1
        constant = lgb.LGBMRegressor(**params).fit(X, y, sample_weight=sample_weight)
        constant.booster_.set_leaf_output(0, 0, 0.0)
        self.__dict__.update(
            {k: v for k, v in constant.__dict__.items() if k.endswith("_") or k == "_Booster"}
        )

    def _fold_start_into_first_tree(self, start: float) -> None:
        booster = self.booster_
        if booster.num_trees() == 0:
            raise RuntimeError("LightGBM trained no tree; there is nothing to predict with.")
        first = booster.dump_model(num_iteration=1)["tree_info"][0]
        for leaf in range(first["num_leaves"]):
            booster.set_leaf_output(0, leaf, booster.get_leaf_output(0, leaf) + start)
