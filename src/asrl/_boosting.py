"""What the XGBoost, LightGBM, CatBoost and Dask adapters share: the round and the estimator.

A :class:`BoostingRound` is made once per ``fit``: it validates and caches the labels
and weights, allocates its work arrays once, and on every boosting round turns the
current predictions into gradients and hessians: one subtraction, a finiteness check,
the residual statistics (locally, or across workers for Dask), the loss's fused
``residual_gradient_hessian`` into the round's own buffers, and the weights. The
statistics of every round are kept in ``history``.

:class:`BoostingEstimator` is the scaffolding of every boosting estimator: the loss
parameters (declared once, from :class:`asrl.params.ASRLParams`), the loss they
describe, the check that the user did not set the library's own objective, and the
fitted attributes.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import check_sample_weight, check_target
from .core.rules import as_floats
from .losses import ASRL, BaseLoss, get_loss
from .params import ASRLParams, record_fields

__all__ = [
    "ASRL_DEFAULTS",
    "LOSS_PARAMS",
    "LOSS_PARAMS_DOC",
    "BoostingEstimator",
    "BoostingRound",
    "check_labels",
    "make_loss",
    "refit_leaves",
    "refits_leaves",
    "swapped",
]

Array = NDArray[np.floating[Any]]

#: ASRL's parameters with their defaults, read from the one record.
ASRL_DEFAULTS: dict[str, Any] = record_fields(ASRLParams)
#: Every loss parameter a boosting estimator takes, with its default.
LOSS_PARAMS: dict[str, Any] = {"loss": "asrl", **ASRL_DEFAULTS, "loss_params": None}

LOSS_PARAMS_DOC = """
    loss : str, default "asrl"
        A name from :data:`asrl.LOSSES`: ``"asrl"`` or a baseline (``"huber"``,
        ``"huber-adaptive"``, ``"pseudo-huber-auto"``, ...).
    q_low, q_high, thresholds, c1, c2, weights, hessian, min_hessian, threshold_sample
        ASRL's parameters, with the defaults of :class:`asrl.params.ASRLParams`;
        only with ``loss="asrl"``.
    loss_params : dict or None
        Parameters of a baseline loss, e.g. ``{"delta": 2.0}`` for ``"huber"``.
"""


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
        return ASRL(**{k: params[k] for k in ASRL_DEFAULTS})
    changed = [k for k, default in ASRL_DEFAULTS.items() if params[k] != default]
    if changed:
        verb = "is an ASRL parameter" if len(changed) == 1 else "are ASRL parameters"
        raise ValueError(
            f"{', '.join(changed)} {verb} but loss={name!r}; "
            "give that loss's parameters in loss_params."
        )
    return get_loss(name, **(params.get("loss_params") or {}))


Statistician = Callable[[Array, "Array | None", Array], Any]


class BoostingRound:
    """Gradients and hessians for one training set, round after round.

    Parameters
    ----------
    loss : BaseLoss
        The loss.
    y : array_like of shape (n,)
        Training labels; validated (finite, non-empty) and cached once.
    sample_weight : array_like of shape (n,), optional
        Validated and cached once.
    dtype : numpy dtype, default float32
        The dtype of the residuals, statistics and gradients.
    output_dtype : numpy dtype, optional
        The dtype of the gradients handed to the booster, if narrower than
        ``dtype`` (LightGBM computes in float64 and takes float32): they are rounded
        once into buffers of this dtype, as the booster's own cast would round them,
        without the booster allocating two arrays every round.
    statistics : callable, optional
        ``statistics(u, w, scratch)`` returns the statistics of this round's
        residuals ``u``; by default ``loss.residual_statistics`` (exact, or from a
        fixed subsample for large n). The Dask adapter passes one that reduces over
        all workers.

    Attributes
    ----------
    n_calls : int
        How many rounds asked for gradients (tests use it to prove the hook runs).
    history : list
        The loss's statistics at each round (as Python floats), for losses that
        have statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl import ASRL
    >>> round_ = BoostingRound(ASRL(), np.array([0.0, 1.0, 2.0, 10.0]))
    >>> round_.start()
    1.5
    >>> g, h = round_(np.full(4, 1.5, dtype=np.float32))
    >>> [round(float(v), 4) for v in g], round_.n_calls
    ([1.0, 0.5, -0.5, -0.4361], 1)
    """

    def __init__(
        self,
        loss: BaseLoss,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        dtype: Any = np.float32,
        output_dtype: Any = None,
        statistics: Statistician | None = None,
    ) -> None:
        labels = check_target("y", np.asarray(y).reshape(-1))
        self.loss = loss
        self.dtype = np.dtype(dtype)
        self.output_dtype = self.dtype if output_dtype is None else np.dtype(output_dtype)
        self.y = np.ascontiguousarray(labels, dtype=self.dtype)
        weight = check_sample_weight(
            None if sample_weight is None else np.asarray(sample_weight).reshape(-1),
            self.y.shape,
            self.dtype,
        )
        self.w = None if weight is None else np.ascontiguousarray(weight)
        self.statistics = statistics or self._local_statistics
        self.n_calls = 0
        self.history: list[Any] = []
        self._work: tuple[Array, ...] | None = None

    def _local_statistics(self, u: Array, w: Array | None, scratch: Array) -> Any:
        return self.loss.residual_statistics(u, w, scratch=scratch)

    def start(self) -> float:
        """The robust first prediction: the loss's best constant (weighted median)."""
        return self.loss.best_constant(self.y, sample_weight=self.w)

    def __call__(self, y_pred: ArrayLike) -> tuple[Array, Array]:
        """Gradient and hessian at the current predictions, weights applied."""
        pred = np.asarray(y_pred).reshape(-1)
        if pred.shape != self.y.shape:
            raise ValueError(
                f"the booster passed {pred.shape[0]} predictions for {self.y.shape[0]} labels."
            )
        self.n_calls += 1
        if self._work is None:
            narrow = self.output_dtype != self.dtype
            work = [np.empty_like(self.y) for _ in range(4)]
            work += [np.empty_like(self.y, dtype=self.output_dtype) for _ in range(2 * narrow)]
            self._work = tuple(work)
        u, scratch, g, h, *outputs = self._work
        np.subtract(pred, self.y, out=u, casting="same_kind")
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduce(u)
        if not np.isfinite(total) and not np.isfinite(u).all():
            bad = int(np.count_nonzero(~np.isfinite(u)))
            raise FloatingPointError(
                f"the booster's predictions became non-finite for {bad} rows at round "
                f"{self.n_calls}; training diverged."
            )
        with np.errstate(over="ignore", under="ignore"):
            statistics = self.statistics(u, self.w, scratch)
            g, h = self.loss.residual_gradient_hessian(u, statistics, gradient_out=g, hessian_out=h)
        g_out, h_out = outputs or (g, h)
        if self.w is not None:
            np.multiply(g, self.w, out=g_out, casting="same_kind")
            np.multiply(h, self.w, out=h_out, casting="same_kind")
        elif outputs:
            np.copyto(g_out, g, casting="same_kind")
            np.copyto(h_out, h, casting="same_kind")
        if statistics is not None:
            self.history.append(as_floats(statistics))
        return g_out, h_out

    def release(self) -> None:
        """Free the cached labels and work arrays (call at the end of ``fit``)."""
        self._work = None
        self.y = self.y[:0]
        self.w = None


def check_labels(estimator: Any, y: Any) -> NDArray[Any]:
    """Our checks of numeric ``y`` (non-finite values: how many, where), then
    scikit-learn's (None, complex, strings, 2-d) with its usual messages."""
    from sklearn.utils.validation import column_or_1d

    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    array = np.asarray(y)
    if array.dtype.kind in "biuf":
        check_target("y", array.reshape(-1))
    elif array.dtype.kind in "c":
        raise ValueError("Complex data not supported")
    else:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"y must be numeric; got dtype {array.dtype} (convert the target to numbers)."
            ) from None
        check_target("y", array.reshape(-1))
    labels: NDArray[Any] = column_or_1d(array, warn=True)
    return labels


@contextlib.contextmanager
def swapped(target: Any, **values: Any) -> Iterator[None]:
    """Set attributes of ``target`` for the duration of a block, then restore them.

    The estimators hand the library's ``fit`` their own objective and start this
    way, so that ``fit`` leaves the parameters as the user set them.
    """
    saved = {name: getattr(target, name) for name in values}
    for name, value in values.items():
        setattr(target, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(target, name, value)


class BoostingEstimator:
    """The loss parameters and fitted attributes every boosting estimator shares.

    scikit-learn reads an estimator's parameters from its ``__init__`` signature; the
    estimators inherit this one (put it first among the bases), whose signature names
    the loss parameters of :data:`LOSS_PARAMS` and hands every other keyword to the
    library's regressor.

    Fitted attributes (set by :meth:`_finish_fit`): ``start_`` (the first
    prediction), ``statistics_`` (the loss statistics of the last round, e.g.
    ``model.statistics_.deltas``, None for losses without), ``statistics_history_``
    (those of every round) and ``n_objective_calls_``.
    """

    #: The library's parameter that holds the objective, and the values it may have.
    _objective_parameter = "objective"
    _objective_defaults: tuple[Any, ...] = (None, "reg:squarederror")
    #: Parameters of this estimator beyond the loss's, with their defaults; a subclass
    #: that sets them gets them in its signature too.
    _own_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        names = {**LOSS_PARAMS, **self._own_params}
        ours = {name: kwargs.pop(name, default) for name, default in names.items()}
        super().__init__(**kwargs)
        for name, value in ours.items():
            setattr(self, name, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_own_params" in cls.__dict__:

            def __init__(self: Any, **kwargs: Any) -> None:
                BoostingEstimator.__init__(self, **kwargs)

            __init__.__signature__ = _signature(cls._own_params)  # type: ignore[attr-defined]
            cls.__init__ = __init__  # type: ignore[method-assign]

    def _loss_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LOSS_PARAMS}

    def _make_loss(self, objective: Any) -> BaseLoss:
        """Check that the library's objective is unset; the loss the parameters describe."""
        if objective not in self._objective_defaults:
            name = self._objective_parameter
            raise ValueError(
                f"{type(self).__name__} supplies its own {name}; got {name}={objective!r}. "
                "Choose the loss with loss=... instead."
            )
        return make_loss(self._loss_params())

    def _finish_fit(self, start: float, n_calls: int, history: list[Any]) -> None:
        self.start_ = float(start)
        self.statistics_history_ = history
        self.statistics_ = history[-1] if history else None
        self.n_objective_calls_ = n_calls


def _signature(own: dict[str, Any] | None = None) -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    names = {**LOSS_PARAMS, **(own or {})}
    parameters += [inspect.Parameter(n, keyword, default=d) for n, d in names.items()]
    parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(parameters)


# What scikit-learn, help() and IDEs read: the loss parameters, then the library's.
BoostingEstimator.__init__.__signature__ = _signature()  # type: ignore[attr-defined]


def refits_leaves(loss: BaseLoss) -> bool:
    """Whether :func:`refit_leaves` applies to ``loss``: its curvature is the IRLS
    weight ``psi(u) / u`` of a continuous loss (ASRL's default, Huber's, pseudo-Huber's),
    so each refit step is an IRLS step, which cannot increase the leaf's loss."""
    params = loss.params
    if getattr(params, "hessian", None) != "irls":
        return False
    return getattr(params, "weights", "continuous") == "continuous"


def refit_leaves(
    loss: BaseLoss,
    statistics: Any,
    u: Array,
    leaves: NDArray[np.integer[Any]],
    values: Array,
    *,
    sample_weight: Array | None = None,
    l2: float = 0.0,
    iterations: int = 8,
) -> Array:
    r"""Each leaf's value moved to (or near) the minimiser of its rows' loss, by IRLS.

    For leaf :math:`\ell` with rows :math:`i` (residuals :math:`u_i = F_i - y_i` before
    the tree, weights :math:`w_i`), the target is the :math:`c_\ell` minimising
    :math:`\sum_i w_i \rho(u_i + c_\ell) + \tfrac{\lambda}{2} c_\ell^2` under the
    round's fixed ``statistics``. The booster's own value (one Newton step from 0) is
    the starting point; each iteration is the Newton step with the IRLS curvature, a
    majorizer, so the leaf's loss never increases. This is what gradient boosting
    with L1 or Huber loss does after growing a tree (Friedman's TreeBoost; LightGBM's
    L1 renews its leaves to the median): the tree's structure comes from the
    gradients, its values from the loss itself.

    Parameters
    ----------
    loss : BaseLoss
        A loss for which :func:`refits_leaves` holds.
    statistics
        The round's statistics (thresholds), as the round computed them.
    u : ndarray of shape (n,)
        Residuals before the tree.
    leaves : ndarray of int, shape (n,)
        The leaf of every row, ``0 .. len(values) - 1``.
    values : ndarray of shape (n_leaves,)
        The starting values (the booster's, before shrinkage).
    sample_weight : ndarray of shape (n,), optional
    l2 : float, default 0
        The booster's L2 penalty on leaf values (LightGBM's ``lambda_l2``).
    iterations : int, default 8
        Most IRLS steps; they stop early once no value moves by more than
        ``1e-9`` of the largest residual. IRLS converges linearly, slowly where many
        rows are in the logarithmic region: after 8 steps a leaf can still be
        ``1e-3`` of the residual scale from the minimiser (``tests/test_leaf_refit.py``
        measures it). More steps cost a pass over the rows each, every round.

    Returns
    -------
    ndarray of shape (n_leaves,)

    Examples
    --------
    >>> import numpy as np
    >>> from asrl import Huber
    >>> u = np.array([-1.0, 0.0, 1.0, 30.0, 5.0, 6.0])  # leaf 0: four rows, one far out
    >>> leaves = np.array([0, 0, 0, 0, 1, 1])
    >>> c = refit_leaves(Huber(delta=1.0), None, u, leaves, np.zeros(2), iterations=50)
    >>> [round(float(v), 6) for v in c]  # Huber's location of -u per leaf
    [-0.5, -5.5]
    """
    n_leaves = len(values)
    c = np.array(values, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    g = np.empty_like(u)
    h = np.empty_like(u)
    tolerance = 1e-9 * (float(np.max(np.abs(u))) if len(u) else 0.0)
    for _ in range(iterations):
        v = u + c[leaves]
        g, h = loss.residual_gradient_hessian(v, statistics, gradient_out=g, hessian_out=h)
        if sample_weight is not None:
            np.multiply(g, sample_weight, out=g)
            np.multiply(h, sample_weight, out=h)
        total_g = np.bincount(leaves, g, n_leaves) + l2 * c
        total_h = np.bincount(leaves, h, n_leaves) + l2
        step = np.divide(total_g, total_h, out=np.zeros(n_leaves), where=total_h > 0)
        c -= step
        if not np.max(np.abs(step), initial=0.0) > tolerance:
            break
    return c
