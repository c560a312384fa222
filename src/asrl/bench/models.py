"""The losses the benchmark compares, and how each learner trains with each of them.

Every loss of one learner gets the same trees, rounds and learning rate. Built-in
objectives are used where the learner has them (squared and absolute error, XGBoost's
pseudo-Huber, and the learners' own robust objectives of
:data:`asrl.bench.losses.NATIVE`); the others run as this package's objectives. Robust
losses start from the median of the training labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core import MAD_TO_SIGMA
from .config import LEARNER_MODULES, LEARNERS
from .deps import check_installed
from .losses import NATIVE, LossSpec, asrl_params

__all__ = ["ModelSpec", "asrl_params", "make_model", "prepare_features", "require_learner"]


@dataclass(frozen=True)
class ModelSpec:
    """Tree settings shared by every loss."""

    rounds: int = 200
    max_depth: int = 4
    learning_rate: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)


def require_learner(learner: str) -> None:
    """Check that the learner's framework is installed, else raise an ImportError
    naming its extra."""
    module, extra = LEARNER_MODULES[learner]
    check_installed(module, extra, f"--learner {learner}")


def robust_scale(y: np.ndarray) -> float:
    """1.4826 MAD of ``y`` about its median (or its std if the MAD is zero)."""
    mad = float(np.median(np.abs(y - np.median(y)))) * MAD_TO_SIGMA
    return mad if mad > 0 else float(np.std(y)) or 1.0


def make_model(
    learner: str, loss: LossSpec, spec: ModelSpec, y_train: np.ndarray, X: pd.DataFrame
) -> Any:
    """An unfitted regressor of ``learner`` that trains with ``loss``."""
    if learner == "xgboost":
        return _xgboost(loss, spec, y_train)
    if learner == "lightgbm":
        return _lightgbm(loss, spec, y_train)
    if learner == "catboost":
        return _catboost(loss, spec, y_train, X)
    if learner == "linear":
        return _linear(loss, y_train)
    raise ValueError(f"--learner must be one of {', '.join(LEARNERS)}; got {learner!r}.")


def _delta(loss: LossSpec, y_train: np.ndarray) -> float:
    """Huber's or pseudo-Huber's delta: as given, else the robust scale of the labels."""
    return robust_scale(y_train) if loss.scaled_delta else float(loss.params["delta"])


def _ours(loss: LossSpec, y_train: np.ndarray) -> dict[str, Any]:
    """The loss keywords of this package's estimators."""
    if loss.name == "asrl":
        return {"loss": "asrl", **loss.params}
    params = dict(loss.params)
    if loss.scaled_delta:
        params["delta"] = robust_scale(y_train)
    return {"loss": loss.name, "loss_params": params or None}


def _xgboost(loss: LossSpec, spec: ModelSpec, y_train: np.ndarray) -> Any:
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
    if loss.name == "mse":
        return xgb.XGBRegressor(objective="reg:squarederror", **trees)
    if loss.name == "mae":
        return xgb.XGBRegressor(objective="reg:absoluteerror", **trees)
    if loss.name == "pseudo-huber":
        # A fair built-in pseudo-Huber: the median start that XGBoost would not choose
        # and a slope on the scale of the labels (its default, 1, is in label units).
        return xgb.XGBRegressor(
            objective="reg:pseudohubererror",
            base_score=float(np.median(y_train)),
            huber_slope=_delta(loss, y_train),
            **trees,
        )
    return ASRLXGBRegressor(**_ours(loss, y_train), **trees)


def _lightgbm(loss: LossSpec, spec: ModelSpec, y_train: np.ndarray) -> Any:
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
    if loss.name == "mse":
        return lgb.LGBMRegressor(objective="regression", **trees)
    if loss.name == "mae":
        return lgb.LGBMRegressor(objective="regression_l1", **trees)
    if loss.native:
        from ..lightgbm import fold_start

        objective = NATIVE[loss.name]["lightgbm"]
        scale = {"huber": "alpha", "fair": "fair_c"}[objective]

        class MedianStart(lgb.LGBMRegressor):
            """The built-in objective from the median, with the start kept in the model."""

            def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:  # type: ignore[override]
                start = float(np.median(y))
                super().fit(X, y, init_score=np.full(len(y), start), **kwargs)
                fold_start(self.booster_, start)
                return self

        scale_param: dict[str, Any] = {scale: robust_scale(y_train)}
        return MedianStart(objective=objective, **scale_param, **trees)
    return ASRLLGBMRegressor(**_ours(loss, y_train), **trees)


def _catboost(loss: LossSpec, spec: ModelSpec, y_train: np.ndarray, X: pd.DataFrame) -> Any:
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
    if loss.name == "mse":
        return cb.CatBoostRegressor(loss_function="RMSE", **trees)
    if loss.name == "mae":
        return cb.CatBoostRegressor(loss_function="MAE", **trees)
    if loss.native:
        from ..catboost import fold_start

        objective = NATIVE[loss.name]["catboost"]
        if objective == "Huber":
            objective = f"Huber:delta={robust_scale(y_train)!r}"

        class MedianStart(cb.CatBoostRegressor):  # type: ignore[misc]
            """The built-in objective from the median, the start stored as the bias."""

            def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:
                start = float(np.median(y))
                super().fit(X, y, baseline=np.full(len(y), start), **kwargs)
                fold_start(self, start)
                return self

        return MedianStart(loss_function=objective, **trees)
    return ASRLCatBoostRegressor(**_ours(loss, y_train), **trees)


def _linear(loss: LossSpec, y_train: np.ndarray) -> Any:
    from sklearn.linear_model import LinearRegression, QuantileRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..linear import ASRLLinearRegressor

    if loss.name == "mse":
        model: Any = LinearRegression()
    elif loss.name == "mae":
        model = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs")
    else:
        model = ASRLLinearRegressor(**_ours(loss, y_train))
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
