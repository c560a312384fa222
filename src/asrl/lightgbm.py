"""ASRL as a LightGBM objective, as a scikit-learn regressor.

LightGBM has two traps for custom objectives, both handled here: its scikit-learn
wrapper drops sample weights for an objective of two arguments (ours takes three),
and it does not keep ``init_score`` in the model. ``ASRLLGBMRegressor`` trains from the
weighted median (through ``init_score``) and then adds that start to the leaves of the
first tree, so the saved model predicts on its own, without this package.

With ``leaf_refit=True``, each tree's leaves are moved towards the minimiser of their
rows' loss after the tree is grown, as LightGBM does for its own L1 objective: the
booster's training scores then lag the refit model, so the estimator keeps its own.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._boosting import (
    LOSS_PARAMS,
    LOSS_PARAMS_DOC,
    BoostingEstimator,
    BoostingRound,
    check_labels,
    refit_leaves,
    refits_leaves,
    swapped,
)
from ._optional import missing
from .losses import BaseLoss, get_loss

try:
    import lightgbm as lgb
except ModuleNotFoundError as error:
    raise missing("LightGBM", "lightgbm") from error

__all__ = ["ASRLLGBMRegressor", "eval_metric", "fold_start"]

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


def fold_start(booster: lgb.Booster, start: float) -> None:
    """Add a constant start to the leaves of the booster's first tree.

    LightGBM keeps no ``init_score`` in a model; after training from one, this makes
    the model predict ``start + trees`` on its own.
    """
    if booster.num_trees() == 0:
        raise RuntimeError("LightGBM trained no tree; there is nothing to predict with.")
    first = booster.dump_model(num_iteration=1)["tree_info"][0]
    for leaf in range(first["num_leaves"]):
        booster.set_leaf_output(0, leaf, booster.get_leaf_output(0, leaf) + start)


class ASRLLGBMRegressor(BoostingEstimator, lgb.LGBMRegressor):
    __doc__ = (
        """LightGBM regressor trained with ASRL (or another loss of :data:`asrl.LOSSES`).

    Everything else is ``lightgbm.LGBMRegressor``: pass its parameters as keywords.

    Parameters
    ----------"""
        + LOSS_PARAMS_DOC
        + """    leaf_refit : bool, default False
        Move each new tree's leaves towards the minimiser of their rows' loss (up to
        8 IRLS steps from LightGBM's Newton step, with the round's thresholds and
        ``reg_lambda``), as gradient boosting does for L1 and Huber losses. Off by
        default: on the development suite it lowered the mean test R² of the quantile
        rule by 0.033 and of adaptive Huber by 0.037 (under contamination the exact
        leaf gives the outliers in the linear region their full pull), and changed
        the capped rule's by -0.003 (docs/defaults.md). It cannot be honoured, and
        raises a ``ValueError`` naming why, with validation data or ``init_model``
        (LightGBM's own scores of them would not see the refit leaves),
        ``reg_alpha``, monotone or interaction constraints, ``linear_tree``,
        ``path_smooth``, ``max_delta_step``, bagging, a boosting type other than
        ``"gbdt"``, or a loss whose curvature is not its IRLS weight.
    **kwargs
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
    leaf_refit_ : bool
        Whether the leaves were refit (see ``leaf_refit``).

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
    _own_params: ClassVar[dict[str, Any]] = {"leaf_refit": False}

    # LightGBM builds its booster parameters from get_params(), and reads ``loss`` as
    # an alias of ``objective``: our loss parameters are hidden while it does so.
    _hide_loss_params = False

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's parameters, as scikit-learn expects."""
        params: dict[str, Any] = super().get_params(deep)
        if self._hide_loss_params:
            for name in (*LOSS_PARAMS, *self._own_params):
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
        eval_sets = list(eval_set or [])
        if eval_X is not None:
            xs = eval_X if isinstance(eval_X, tuple) else (eval_X,)
            ys = eval_y if isinstance(eval_y, tuple) else (eval_y,)
            eval_sets += list(zip(xs, ys, strict=True))
        refit = None
        if self._refits(loss, bool(eval_sets), fit_params):
            refit = _LeafRefit(state, X, start, float(self.learning_rate), self.reg_lambda)
            fit_params["callbacks"] = [*(fit_params.get("callbacks") or []), refit.keep]

        def train_objective(
            y_true: Array, y_pred: Array, weight: Array | None
        ) -> tuple[Array, Array]:
            return state(y_pred if refit is None else refit.scores(y_pred))

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
            refit = None  # one zeroed leaf: the model predicts the start
        if refit is not None:
            refit.finish(self.booster_)
        fold_start(self.booster_, start)
        self._finish_fit(start, state.n_calls, state.history)
        self.leaf_refit_ = refit is not None
        state.release()
        return self

    def _fit_constant(self, X: Any, y: Any, sample_weight: Any, start: float) -> None:
        """The model when LightGBM finds no usable feature (e.g. too few rows).

        LightGBM's custom-objective path fails on such data, while its built-in
        objectives train single-leaf trees. We train one such tree and zero its leaf;
        the start is then folded in as usual, so the model predicts the start.
        """
        ours = (*LOSS_PARAMS, *self._own_params)
        params = {k: v for k, v in self.get_params().items() if k not in ours}
        params["n_estimators"] = 1
        constant = lgb.LGBMRegressor(**params).fit(X, y, sample_weight=sample_weight)
        constant.booster_.set_leaf_output(0, 0, 0.0)
        self.__dict__.update(
            {k: v for k, v in constant.__dict__.items() if k.endswith("_") or k == "_Booster"}
        )

    def _refits(self, loss: BaseLoss, has_eval: bool, fit_params: dict[str, Any]) -> bool:
        """Whether to refit the leaves; with ``leaf_refit=True``, an error naming what
        prevents it."""
        if not isinstance(self.leaf_refit, bool):
            raise ValueError(f"leaf_refit must be True or False; got {self.leaf_refit!r}.")
        if not self.leaf_refit:
            return False
        params = {**self.get_params(), **self._other_params}

        def given(*names: str) -> Any:
            return next((params[n] for n in names if params.get(n) not in (None, 0, 0.0)), None)

        blockers = {
            "validation data (eval_set / eval_X)": has_eval,
            "init_model": fit_params.get("init_model") is not None,
            "reg_alpha": given("reg_alpha", "lambda_l1", "l1_regularization"),
            "monotone constraints": given("monotone_constraints", "monotone_constraint"),
            "interaction constraints": given("interaction_constraints"),
            "linear_tree": given("linear_tree", "linear_trees"),
            "path_smooth": given("path_smooth"),
            "max_delta_step": given("max_delta_step", "max_leaf_output", "max_tree_output"),
            "bagging (subsample < 1 with subsample_freq > 0)": (
                given("subsample_freq", "bagging_freq")
                and (given("subsample", "bagging_fraction") or 1.0) < 1.0
            ),
            "a boosting type other than gbdt": params.get("boosting_type", "gbdt") != "gbdt",
            f"loss={loss.name!r} with a curvature other than its IRLS weight": not (
                refits_leaves(loss)
            ),
        }
        reasons = [name for name, present in blockers.items() if present]
        if reasons:
            raise ValueError(
                f"leaf_refit=True cannot be honoured with {', '.join(reasons)}; pass "
                "leaf_refit=False to keep LightGBM's leaves."
            )
        return True


class _LeafRefit:
    """Refits each tree's leaves (``refit_leaves`` of the shared round) and keeps the
    training scores of the refit model.

    LightGBM keeps its own training scores, with the leaves as it grew them, and
    passes them to the objective. The change of those scores from one round to the
    next is the grown value of each row's leaf in the newest tree, which tells the
    rows' leaves without predicting (predicting with the booster in training makes
    LightGBM recompute its scores every round: measured 50x slower). So the objective
    of round ``t + 1`` first refits tree ``t``; the last tree is refit after training
    from its predicted leaves.
    """

    def __init__(self, state: BoostingRound, X: Any, start: float, rate: float, l2: Any) -> None:
        self.state = state
        # what LightGBM's predict takes: frames and sparse matrices as they are,
        # other array-likes (lists, objects with __array__) as arrays
        keep = isinstance(X, np.ndarray) or hasattr(X, "iloc") or hasattr(X, "tocsr")
        self._X = X if keep else np.asarray(X)
        self.rate = rate
        self.l2 = float(l2 or 0.0)
        self.model = np.full(len(state.y), start)  # the refit model's training scores
        self.booster: Any = None
        self.previous: Array | None = None
        self.done = 0  # trees refit so far

    def keep(self, env: Any) -> None:
        """The callback: remember the booster, whose newest tree the next round refits."""
        self.booster = env.model

    def scores(self, y_pred: Array) -> Array:
        """The refit model's scores, after refitting the tree LightGBM grew last."""
        if self.previous is not None and self.booster is not None:
            grown = self._values(self.done)
            leaves = _leaves_from_step(y_pred - self.previous, grown, y_pred)
            self._refit(self.done, grown, leaves)
        if self.previous is None:
            self.previous = np.empty_like(self.model)
        np.copyto(self.previous, y_pred)
        return self.model

    def finish(self, booster: Any) -> None:
        """Refit the trees no round came back for (the last), from their leaves."""
        self.booster = booster
        for tree in range(self.done, booster.num_trees()):
            self._refit(tree, self._values(tree), None)

    def _values(self, tree: int) -> Array:
        n_leaves = self.booster.dump_model(start_iteration=tree, num_iteration=1)["tree_info"][0][
            "num_leaves"
        ]
        return np.array([self.booster.get_leaf_output(tree, leaf) for leaf in range(n_leaves)])

    def _refit(self, tree: int, grown: Array, leaves: NDArray[Any] | None) -> None:
        if leaves is None:  # leaf values too close to tell apart: predict them
            leaves = self.booster.predict(
                self._X, start_iteration=tree, num_iteration=1, pred_leaf=True
            )
        leaves = np.asarray(leaves).reshape(-1).astype(np.intp, copy=False)
        state = self.state
        statistics = state.history[tree] if tree < len(state.history) else None
        exact = refit_leaves(
            state.loss,
            statistics,
            self.model - state.y,
            leaves,
            grown / self.rate,
            sample_weight=state.w,
            l2=self.l2,
        )
        for leaf, value in enumerate(self.rate * exact):
            self.booster.set_leaf_output(tree, leaf, float(value))
        np.add(self.model, self.rate * exact[leaves], out=self.model)
        self.done = tree + 1


def _leaves_from_step(step: Array, grown: Array, scores: Array) -> NDArray[Any] | None:
    """Each row's leaf, from the change of its score and the leaves' grown values;
    None if two leaves' values lie too close to tell them apart in the scores' rounding.

    Examples
    --------
    >>> import numpy as np
    >>> before = np.array([1.0, 2.0, 3.0])
    >>> after = before + np.array([0.1, -0.2, 0.1])
    >>> _leaves_from_step(after - before, np.array([-0.2, 0.1]), after).tolist()
    [1, 0, 1]
    """
    if len(grown) == 1:
        return np.zeros(len(step), dtype=np.intp)
    # |fl(s + v) - s - v| <= ulp(s) / 2 for each row's score s: allow a few ulps
    tolerance = 4 * float(np.spacing(np.max(np.abs(scores), initial=1.0)))
    order = np.argsort(grown, kind="stable")
    ordered = grown[order]
    if np.min(np.diff(ordered)) <= 4 * tolerance:
        return None
    nearest = np.searchsorted((ordered[1:] + ordered[:-1]) / 2, step)
    leaves = order[nearest]
    if np.max(np.abs(step - grown[leaves])) > tolerance:
        return None
    return leaves
