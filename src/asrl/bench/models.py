"""The losses the benchmark compares, and how each learner trains with each of them.

Every loss of one learner gets the same trees, rounds and learning rate. Built-in
objectives are used where the learner has them (squared and absolute error, XGBoost's
pseudo-Huber); the others run as this package's objectives. Robust losses start from
the median of the training labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core import MAD_TO_SIGMA
from .config import ASRL_VARIANTS, BASELINES, DEFAULT_LOSSES, LEARNERS

__all__ = ["ASRL_VARIANTS", "DEFAULT_LOSSES", "LEARNERS", "ModelSpec", "make_model"]


@dataclass(frozen=True)
class ModelSpec:
    """Tree settings shared by every loss."""

    rounds: int = 200
    max_depth: int = 4
    learning_rate: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)


def asrl_params(name: str) -> dict[str, Any] | None:
    """ASRL parameters of a benchmark loss name, or None for a baseline.

    Besides the named variants, ``asrl[key=value,...]`` sets any parameter of
    :class:`asrl.ASRL`, e.g. ``asrl[thresholds=scale,c1=2,c2=4]``.

    Examples
    --------
    >>> asrl_params("asrl[q_low=0.7,q_high=0.95]")
    {'q_low': 0.7, 'q_high': 0.95}
    >>> asrl_params("asrl-scale"), asrl_params("mse")
    ({'thresholds': 'scale'}, None)
    """
    if name in ASRL_VARIANTS:
        return dict(ASRL_VARIANTS[name])
    if name.startswith("asrl[") and name.endswith("]"):
        params: dict[str, Any] = {}
        for item in filter(None, name[5:-1].split(",")):
            key, _, value = item.partition("=")
            try:
                params[key.strip()] = float(value) if "." in value or value.isdigit() else value
            except ValueError:
                params[key.strip()] = value
        from ..losses import ASRL

        ASRL(**params)  # validates names and values
        return params
    return None


def check_losses(losses: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse unknown loss names with the list of known ones."""
    known = (*BASELINES, *ASRL_VARIANTS)
    unknown = [name for name in losses if name not in BASELINES and asrl_params(name) is None]
    if unknown:
        raise ValueError(
            f"unknown loss(es) {', '.join(unknown)}; choose from {', '.join(known)} "
            "or asrl[key=value,...]."
        )
    return losses


def robust_scale(y: np.ndarray) -> float:
    """1.4826 MAD of ``y`` about its median (or its std if the MAD is zero)."""
    mad = float(np.median(np.abs(y - np.median(y)))) * MAD_TO_SIGMA
    return mad if mad > 0 else float(np.std(y)) or 1.0


def make_model(
    learner: str, loss: str, spec: ModelSpec, y_train: np.ndarray, X: pd.DataFrame
) -> Any:
    """An unfitted regressor of ``learner`` that trains with ``loss``."""
    if learner == "xgboost":
        return _xgboost(loss, spec, y_train)
    if learner == "lightgbm":
        return _lightgbm(loss, spec, y_train)
    if learner == "catboost":
        return _catboost(loss, spec, y_train, X)
    if learner == "linear":
        return _linear(loss)
    raise ValueError(f"--learner must be one of {', '.join(LEARNERS)}; got {learner!r}.")


def _ours(loss: str) -> dict[str, Any]:
    params = asrl_params(loss)
    return {"loss": loss} if params is None else params


def _xgboost(loss: str, spec: ModelSpec, y_train: np.ndarray) -> Any:
    import xgboost as xgb

    from ..xgboost import ASRLXGBRegressor

    trees = {
        "n_estimators": spec.rounds,
        "max_depth": spec.max_depth,
        "learning_rate": spec.learning_rate,
        "tree_method": "hist",
        "enable_categorical": True,
        "n_jobs": 1,
        **spec.extra,
    }
    if loss == "mse":
        return xgb.XGBRegressor(objective="reg:squarederror", **trees)
    if loss == "mae":
        return xgb.XGBRegressor(objective="reg:absoluteerror", **trees)
    if loss == "pseudo-huber":
        # A fair built-in pseudo-Huber: the median start that XGBoost would not choose
        # and a slope on the scale of the labels (its default, 1, is in label units).
        return xgb.XGBRegressor(
            objective="reg:pseudohubererror",
            base_score=float(np.median(y_train)),
            huber_slope=robust_scale(y_train),
            **trees,
        )
    return ASRLXGBRegressor(**_ours(loss), **trees)


def _lightgbm(loss: str, spec: ModelSpec, y_train: np.ndarray) -> Any:
    import lightgbm as lgb

    from ..lightgbm import ASRLLGBMRegressor

    trees = {
        "n_estimators": spec.rounds,
        "max_depth": spec.max_depth,
        "num_leaves": 2**spec.max_depth,
        "learning_rate": spec.learning_rate,
        "n_jobs": 1,
        "verbose": -1,
        **spec.extra,
    }
    if loss == "mse":
        return lgb.LGBMRegressor(objective="regression", **trees)
    if loss == "mae":
        return lgb.LGBMRegressor(objective="regression_l1", **trees)
    if loss == "pseudo-huber":
        delta = {"delta": robust_scale(y_train)}
        return ASRLLGBMRegressor(loss="pseudo-huber", loss_params=delta, **trees)
    return ASRLLGBMRegressor(**_ours(loss), **trees)


def _catboost(loss: str, spec: ModelSpec, y_train: np.ndarray, X: pd.DataFrame) -> Any:
    import catboost as cb

    from ..catboost import ASRLCatBoostRegressor

    categorical = [
        c
        for c in X.columns
        if isinstance(X[c].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(X[c])
    ]
    trees = {
        "n_estimators": spec.rounds,
        "depth": spec.max_depth,
        "learning_rate": spec.learning_rate,
        "thread_count": 1,
        "verbose": 0,
        "allow_writing_files": False,
        "cat_features": categorical or None,
        **spec.extra,
    }
    if loss == "mse":
        return cb.CatBoostRegressor(loss_function="RMSE", **trees)
    if loss == "mae":
        return cb.CatBoostRegressor(loss_function="MAE", **trees)
    if loss == "pseudo-huber":
        delta = {"delta": robust_scale(y_train)}
        return ASRLCatBoostRegressor(loss="pseudo-huber", loss_params=delta, **trees)
    return ASRLCatBoostRegressor(**_ours(loss), **trees)


def _linear(loss: str) -> Any:
    from sklearn.linear_model import LinearRegression, QuantileRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..linear import ASRLLinearRegressor

    if loss == "mse":
        model: Any = LinearRegression()
    elif loss == "mae":
        model = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs")
    else:
        params = asrl_params(loss)
        model = ASRLLinearRegressor(**({"loss": loss} if params is None else params))
    return make_pipeline(StandardScaler(), model)


def prepare_features(learner: str, X: pd.DataFrame) -> pd.DataFrame:
    """Features in the form the learner takes: CatBoost wants strings for categories;
    the linear model one-hot columns and no missing values (median imputation)."""
    if learner == "linear":
        encoded = pd.get_dummies(X, dummy_na=True, dtype=float)
        encoded = encoded.loc[:, encoded.std() > 0]
        return encoded.fillna(encoded.median())
    if learner != "catboost":
        return X
    X = X.copy()
    for column in X.columns:
        if isinstance(X[column].dtype, pd.CategoricalDtype):
            X[column] = X[column].astype(str).fillna("NA")
    return X
