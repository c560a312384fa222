"""What the XGBoost, LightGBM and CatBoost adapters share.

A :class:`BoostingObjective` is made once per ``fit``: it validates and caches the
labels and weights, allocates its work arrays once, and on every boosting round turns
the current predictions into gradients and curvatures. For ASRL's default form
(continuous weights, IRLS curvature) a round costs one subtraction, one absolute value,
the thresholds (exact, or from a fixed subsample for large n) and one fused pass, with
no allocation; every other loss goes through its ``gradient_hessian``.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import core
from ._validation import check_sample_weight, check_target
from .losses import ASRL, BaseLoss, get_loss

__all__ = [
    "LOSS_PARAM_DEFAULTS",
    "BoostingObjective",
    "LossParamsMixin",
    "check_labels",
    "make_loss",
]

Array = NDArray[np.floating[Any]]

#: The loss parameters every boosting estimator takes, with their defaults. The
#: estimators spell them out in ``__init__`` (scikit-learn reads the signature).
LOSS_PARAM_DEFAULTS: dict[str, Any] = {
    "loss": "asrl",
    "q_low": 0.5,
    "q_high": 0.9,
    "thresholds": "quantile",
    "c1": 1.345,
    "c2": 3.0,
    "weights": "continuous",
    "hessian": "irls",
    "min_hessian": 1e-6,
    "threshold_sample": 65536,
    "loss_params": None,
}
_ASRL_ONLY = [k for k in LOSS_PARAM_DEFAULTS if k not in ("loss", "loss_params")]

LOSS_PARAMS_DOC = """
    loss : str, default "asrl"
        A name from :data:`asrl.LOSSES`: ``"asrl"`` or a baseline (``"huber"``,
        ``"huber-adaptive"``, ``"pseudo-huber-auto"``, ...).
    q_low, q_high, thresholds, c1, c2, weights, hessian, min_hessian
        ASRL's parameters (see :class:`asrl.ASRL`); only with ``loss="asrl"``.
    threshold_sample : int or None, default 65536
        Above this many rows, ASRL's thresholds come from a fixed subsample of this
        size (quantile levels within 0.0105 with probability 1 - 1e-6); exact below.
    loss_params : dict or None
        Parameters of a baseline loss, e.g. ``{"delta": 2.0}`` for ``"huber"``.
"""


class LossParamsMixin:
    """The loss parameters of the boosting estimators, declared once.

    scikit-learn reads an estimator's parameters from its ``__init__`` signature; the
    estimators inherit this one (put the mixin first among the bases), which names the
    loss parameters explicitly and hands everything else to the library's regressor.
    """

    def __init__(
        self,
        *,
        loss: str = "asrl",
        q_low: float = 0.5,
        q_high: float = 0.9,
        thresholds: str = "quantile",
        c1: float = 1.345,
        c2: float = 3.0,
        weights: str = "continuous",
        hessian: str = "irls",
        min_hessian: float = 1e-6,
        threshold_sample: int | None = 65536,
        loss_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.loss = loss
        self.q_low = q_low
        self.q_high = q_high
        self.thresholds = thresholds
        self.c1 = c1
        self.c2 = c2
        self.weights = weights
        self.hessian = hessian
        self.min_hessian = min_hessian
        self.threshold_sample = threshold_sample
        self.loss_params = loss_params


def make_loss(params: dict[str, Any]) -> BaseLoss:
    """The loss object described by an estimator's loss parameters.

    ASRL's parameters may only differ from their defaults when ``loss="asrl"``, and
    ``loss_params`` only when it is not: nothing given is silently ignored.
    """
    name = params["loss"]
    if name == "asrl":
        if params.get("loss_params"):
            raise ValueError(
                "loss_params is for baseline losses; give ASRL's parameters directly "
                "(q_low=..., thresholds=...)."
            )
        return ASRL(**{k: params[k] for k in _ASRL_ONLY})
    changed = [k for k in _ASRL_ONLY if params[k] != LOSS_PARAM_DEFAULTS[k]]
    if changed:
        verb = "is an ASRL parameter" if len(changed) == 1 else "are ASRL parameters"
        raise ValueError(
            f"{', '.join(changed)} {verb} but loss={name!r}; "
            "give that loss's parameters in loss_params."
        )
    return get_loss(name, **(params.get("loss_params") or {}))


class BoostingObjective:
    """Gradients and curvatures for one training set, round after round.

    Parameters
    ----------
    loss : BaseLoss
        The loss; an :class:`asrl.ASRL` keeps the thresholds of the last round in
        ``deltas_``.
    y : array_like of shape (n,)
        Training labels; validated (finite, non-empty) and cached once.
    sample_weight : array_like of shape (n,), optional
        Validated and cached once.
    dtype : numpy dtype, default float32
        The dtype of the gradients handed to the booster.

    Attributes
    ----------
    n_calls : int
        How many rounds asked for gradients (tests use it to prove the hook runs).
    deltas_history : list of tuple
        ASRL's thresholds at each round.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl import ASRL
    >>> objective = BoostingObjective(ASRL(), np.array([0.0, 1.0, 2.0, 10.0]))
    >>> objective.start()
    1.5
    >>> g, h = objective(np.full(4, 1.5, dtype=np.float32))
    >>> [round(float(v), 4) for v in g], objective.n_calls
    ([1.0, 0.5, -0.5, -0.7529], 1)
    """

    def __init__(
        self,
        loss: BaseLoss,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        dtype: Any = np.float32,
    ) -> None:
        labels = check_target("y", np.asarray(y).reshape(-1))
        self.loss = loss
        self.dtype = np.dtype(dtype)
        self.y = np.ascontiguousarray(labels, dtype=self.dtype)
        weight = check_sample_weight(
            None if sample_weight is None else np.asarray(sample_weight).reshape(-1),
            self.y.shape,
            self.dtype,
        )
        self.w = None if weight is None else np.ascontiguousarray(weight)
        self.n_calls = 0
        self.deltas_history: list[tuple[float, float]] = []
        self._fast = (
            isinstance(loss, ASRL) and loss.weights == "continuous" and loss.hessian == "irls"
        )
        self._work: tuple[Array, Array, Array, Array] | None = None

    def start(self) -> float:
        """The robust first prediction: the loss's best constant (weighted median)."""
        return self.loss.best_constant(self.y, sample_weight=self.w)

    def __call__(self, y_pred: ArrayLike) -> tuple[Array, Array]:
        """Gradient and curvature at the current predictions, weights applied."""
        pred = np.asarray(y_pred).reshape(-1)
        if pred.shape != self.y.shape:
            raise ValueError(
                f"the booster passed {pred.shape[0]} predictions for {self.y.shape[0]} labels."
            )
        self.n_calls += 1
        if not self._fast:
            g, h = self.loss.gradient_hessian(self.y, pred, sample_weight=self.w)
            self._record()
            return g.astype(self.dtype, copy=False), h.astype(self.dtype, copy=False)
        if self._work is None:
            self._work = tuple(np.empty_like(self.y) for _ in range(4))  # type: ignore[assignment]
        u, abs_u, g, h = self._work  # type: ignore[misc]
        np.subtract(pred, self.y, out=u, casting="same_kind")
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduce(u)
        if not np.isfinite(total) and not np.isfinite(u).all():
            bad = int(np.count_nonzero(~np.isfinite(u)))
            raise FloatingPointError(
                f"the booster's predictions became non-finite for {bad} rows at round "
                f"{self.n_calls}; training diverged."
            )
        np.abs(u, out=abs_u)
        loss = cast(ASRL, self.loss)  # self._fast implies ASRL
        with np.errstate(over="ignore", under="ignore"):
            d1, d2 = loss._deltas(u, abs_u, self.w)
            loss.deltas_ = (float(d1), float(d2))
            core.continuous_psi_irls(u, abs_u, d1, d2, out=(g, h))
        if self.w is not None:
            np.multiply(g, self.w, out=g)
            np.multiply(h, self.w, out=h)
        self._record()
        return g, h

    def _record(self) -> None:
        deltas = getattr(self.loss, "deltas_", None)
        if deltas is not None:
            self.deltas_history.append(deltas)

    def release(self) -> None:
        """Free the cached labels and work arrays (call at the end of ``fit``)."""
        self._work = None
        self.y = self.y[:0]
        self.w = None


def check_labels(estimator: Any, y: Any) -> NDArray[Any]:
    """Our checks of numeric ``y`` (non-finite values: how many, where), then
    scikit-learn's (None, complex, strings, 2-d) with its usual messages."""
    from sklearn.utils.validation import _check_y

    if y is not None:
        array = np.asarray(y)
        if array.dtype.kind in "biuf":
            check_target("y", array.reshape(-1))
    labels: NDArray[Any] = _check_y(y, y_numeric=True, estimator=estimator)
    return labels


def loss_params_of(estimator: Any) -> dict[str, Any]:
    """The loss parameters of an estimator, read from its attributes."""
    return {name: getattr(estimator, name) for name in LOSS_PARAM_DEFAULTS}
