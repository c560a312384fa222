r"""A scikit-learn linear regressor fitted with ASRL by iteratively reweighted least squares.

:class:`ASRLLinearRegressor` minimises

.. math::

    J(\beta, b) = \sum_i w_i\, \rho(x_i^\top \beta + b - y_i;\ \delta_1, \delta_2)
        + \frac{\alpha}{2} \lVert \beta \rVert^2

where :math:`\rho` is the ASRL loss of :class:`asrl.ASRL` (or another loss of
:data:`asrl.LOSSES` that has an IRLS weight), :math:`w_i` are the sample weights and
the thresholds :math:`\delta_1, \delta_2` are recomputed from the residuals at every
iteration. Each iteration holds the thresholds fixed, computes the IRLS weights
:math:`h_i = \psi(u_i) / u_i` of the current residuals and solves the weighted
ridge problem :math:`\min \sum_i w_i h_i u_i^2 / 2 + \alpha \lVert \beta \rVert^2 / 2`.
For the continuous ASRL (and Huber) that quadratic majorizes the loss, so the step
cannot increase :math:`J` while the thresholds are held fixed. See ``docs/linear.md``.

The mathematics lives in :mod:`asrl.core`; this module only solves least squares.
It imports scikit-learn, so it is not imported by ``import asrl``.
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import check_interval, check_sample_weight
from .losses import ASRL, BaseLoss, get_loss
from .params import ASRLParams, record_fields

__all__ = ["IRLS_LOSSES", "ASRLLinearRegressor"]

Array = NDArray[np.float64]

#: The losses of :data:`asrl.LOSSES` whose curvature can be the IRLS weight
#: ``psi(u) / u``. The absolute error (unbounded weight at 0) and the pseudo-Huber
#: losses (their objects give the exact second derivative) are not among them.
IRLS_LOSSES = ("asrl", "huber", "huber-adaptive", "mse")

#: The ASRL parameters this estimator takes, with the record's defaults: the IRLS
#: weight needs the continuous form, and thresholds are exact.
_ASRL_DEFAULTS: dict[str, Any] = {
    name: default
    for name, default in record_fields(ASRLParams).items()
    if name in ("q_low", "q_high", "thresholds", "c1", "c2")
}
#: Every parameter of the estimator, with its default.
_PARAMS: dict[str, Any] = {
    "loss": "asrl",
    **_ASRL_DEFAULTS,
    "loss_params": None,
    "alpha": 0.0,
    "fit_intercept": True,
    "max_iter": 300,
    "tol": 1e-6,
    "warm_start": False,
}


#: Largest condition number of the (Jacobi-scaled) normal equations solved by
#: Cholesky: about ``1 / sqrt(eps)``, so the solution keeps at least half the digits
#: (relative error below ``cond * eps``, 1.5e-8). Worse systems go to the SVD.
_COND_LIMIT = 1.0 / np.sqrt(np.finfo(np.float64).eps)


def _solve_normal(X: Array, y: Array, weight: Array, alpha: float) -> Array | None:
    """Weighted ridge by Cholesky on the normal equations; None if ill-conditioned.

    The normal equations are scaled to a unit diagonal first (Jacobi), so columns in
    different units cost no accuracy; only genuine collinearity sends the problem to
    :func:`_solve_svd`. Forming ``X^T V X`` costs one matrix product, several times
    less than an SVD of the tall matrix.
    """
    weighted = X * weight[:, None]
    gram = X.T @ weighted
    diag = np.diag(gram).copy()
    if not (np.isfinite(diag).all() and (diag > 0).all()):
        return None  # an all-zero weighted column or an overflow: the SVD copes
    scale = 1.0 / np.sqrt(diag)
    scaled = gram * scale[:, None] * scale[None, :]
    scaled[np.diag_indices_from(scaled)] += alpha * scale * scale
    eigenvalues = np.linalg.eigvalsh(scaled)
    if not eigenvalues[0] * _COND_LIMIT > eigenvalues[-1]:
        return None
    factor = scipy.linalg.cho_factor(scaled, lower=True, check_finite=False)
    solution = scipy.linalg.cho_solve(factor, (weighted.T @ y) * scale, check_finite=False)
    coef: Array = solution * scale
    return coef


def _solve_svd(X: Array, y: Array, weight: Array, alpha: float) -> Array:
    """Weighted ridge by a thin SVD of ``sqrt(v) X``: minimum norm when rank-deficient.

    Singular values below ``max(n, p) * eps * s_max`` (``numpy.linalg.lstsq``'s
    cutoff) are dropped. The filter ``s / (s^2 + alpha)`` is computed as
    ``1 / (s + alpha / s)``, which cannot overflow. LAPACK's divide and conquer is
    tried first, then the slower, sturdier QR iteration.
    """
    root = np.sqrt(weight)
    A = X * root[:, None]
    try:
        U, s, Vt = scipy.linalg.svd(A, full_matrices=False, check_finite=False)
    except np.linalg.LinAlgError:
        U, s, Vt = scipy.linalg.svd(
            A, full_matrices=False, check_finite=False, lapack_driver="gesvd"
        )
    keep = s > max(A.shape) * np.finfo(np.float64).eps * s.max(initial=0.0)
    s = s[keep]
    coef: Array = Vt[keep].T @ ((U[:, keep].T @ (y * root)) / (s + alpha / s))
    return coef


def _weighted_ridge(
    X: Array, y: Array, weight: Array, alpha: float, fit_intercept: bool
) -> tuple[Array, float]:
    r"""Minimise :math:`\sum_i v_i (y_i - x_i^\top \beta - b)^2 + \alpha \lVert\beta\rVert^2`.

    The intercept is not penalised: with ``fit_intercept`` the columns and ``y`` are
    centred by their ``v``-weighted means, which eliminates it exactly. The centred
    problem is solved by Cholesky on the scaled normal equations when they are well
    conditioned (:func:`_solve_normal`), otherwise by an SVD (:func:`_solve_svd`),
    which gives the minimum-norm coefficients of a rank-deficient ``X``. Tiny or zero
    weights never divide anything; rows with ``v = 0`` drop out. ``weight`` must
    have a positive sum.
    """
    x_mean, y_mean = np.zeros(X.shape[1]), 0.0
    if fit_intercept:
        # The weighted means, taken relative to the first row so that a constant
        # column or target centres to exact zeros, whatever its magnitude.
        total = weight.sum()
        x_mean = X[0] + (weight @ (X - X[0])) / total
        y_mean = float(y[0] + (weight @ (y - y[0])) / total)
        X = X - x_mean
        y = y - y_mean
    coef = _solve_normal(X, y, weight, alpha) if X.shape[0] > X.shape[1] else None
    if coef is None:
        coef = _solve_svd(X, y, weight, alpha)
    return coef, y_mean - float(x_mean @ coef)


@dataclass(frozen=True)
class _Problem:
    """The penalised problem of one ``fit``: the loss, the data and the penalty."""

    loss: BaseLoss
    X: Array
    y: Array
    sample_weight: Array | None
    alpha: float
    fit_intercept: bool

    def objective(self, coef: Array, intercept: float, statistics: Any) -> float:
        """``sum(w * rho) + alpha / 2 * |coef|^2`` with these loss statistics."""
        rho = self.loss.loss(
            self.y,
            self.X @ coef + intercept,
            sample_weight=self.sample_weight,
            statistics=statistics,
        )
        return float(rho.sum()) + 0.5 * self.alpha * float(coef @ coef)

    def step(self, coef: Array, intercept: float) -> tuple[Array, float, Any]:
        """One IRLS (majorize-minimize) step; also returns the statistics it held fixed.

        The loss statistics (ASRL's thresholds) are computed from the current residuals
        and then held fixed; the hessian ``w * psi(u) / u`` of the loss object is the
        weight of the least-squares problem. Since ``psi(u) = h(u) u``, the Newton step
        with this hessian and the weighted least-squares solution are the same point,
        and solving for it directly avoids forming the working response.
        """
        prediction = self.X @ coef + intercept
        w = self.sample_weight
        statistics = self.loss.statistics(self.y, prediction, sample_weight=w)
        _, h = self.loss.gradient_hessian(
            self.y, prediction, sample_weight=w, statistics=statistics
        )
        new_coef, new_intercept = _weighted_ridge(
            self.X, self.y, h.astype(np.float64, copy=False), self.alpha, self.fit_intercept
        )
        return new_coef, new_intercept, statistics

    def fit(
        self, coef: Array, intercept: float, max_iter: int, tol: float
    ) -> tuple[Array, float, int]:
        """IRLS steps from ``(coef, intercept)`` until the relative change is at most
        ``tol``.

        Returns the coefficients, the intercept and the number of steps; warns with a
        ``ConvergenceWarning`` if ``max_iter`` steps did not reach ``tol``.
        """
        n_iter = 0
        change = size = 0.0
        while n_iter < max_iter:
            n_iter += 1
            new_coef, new_intercept, _ = self.step(coef, intercept)
            change = max(
                float(np.abs(new_coef - coef).max(initial=0.0)), abs(new_intercept - intercept)
            )
            size = max(float(np.abs(new_coef).max(initial=0.0)), abs(new_intercept))
            coef, intercept = new_coef, new_intercept
            if change <= tol * size:
                return coef, intercept, n_iter
        relative = change / size if size > 0 else np.inf
        warnings.warn(
            f"ASRLLinearRegressor did not converge in max_iter={max_iter} iterations: the "
            f"last step changed the coefficients by {relative:.3g} relative to their size, "
            f"above tol={tol:g}. Increase max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )
        return coef, intercept, n_iter


class ASRLLinearRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    r"""Linear regression with the ASRL loss, fitted by iteratively reweighted least squares.

    Minimises :math:`\sum_i w_i \rho(u_i) + \alpha \lVert\beta\rVert^2 / 2` over the
    coefficients :math:`\beta` and the unpenalised intercept, where
    :math:`u_i = x_i^\top\beta + b - y_i` and :math:`\rho` is ASRL: squared for
    :math:`|u| \le \delta_1`, absolute up to :math:`\delta_2`, logarithmic beyond, with
    thresholds recomputed from the residuals at every iteration (quantiles of
    :math:`|u|` by default, or multiples of a robust scale; either way the fit is
    equivariant to the scale of ``y``).

    Each iteration computes the thresholds from the current residuals, holds them
    fixed, and solves the weighted ridge problem with weights
    :math:`w_i \psi(u_i)/u_i`, which majorizes the loss: for fixed thresholds the step
    never increases the objective. The iteration starts from the weighted median of
    ``y`` with zero coefficients (or, with ``warm_start``, from the previous fit) and
    stops when the largest change of a coefficient (intercept included) is at most
    ``tol`` times the largest coefficient.

    Parameters
    ----------
    loss : {"asrl", "huber", "huber-adaptive", "mse"}, default "asrl"
        The loss, from :data:`asrl.LOSSES`; only losses with an IRLS weight
        (:data:`IRLS_LOSSES`). ``"mse"`` gives ordinary least squares (ridge with
        ``alpha``), ``"huber-adaptive"`` Huber's loss with the threshold at a quantile
        of the residuals at each iteration.
    q_low, q_high : float, default 0.5 and 0.9
        Quantile levels of :math:`|u|` for the thresholds, ``0 < q_low < q_high < 1``.
    thresholds : {"quantile", "scale"}, default "quantile"
        ``"quantile"``: :math:`\delta_j = Q(|u|, q_j)` (the paper's rule);
        ``"scale"``: :math:`\delta_j = c_j \cdot 1.4826\, \mathrm{MAD}(u)`.
    c1, c2 : float, default 1.345 and 3.0
        Multipliers of the robust scale for ``thresholds="scale"``, ``0 < c1 < c2``.
    loss_params : dict or None, default None
        Parameters of a loss other than ASRL, e.g. ``{"delta": 2.0}`` for
        ``"huber"`` or ``{"alpha": 0.8}`` for ``"huber-adaptive"``. ASRL's parameters
        above may only differ from their defaults when ``loss="asrl"``, and this only
        when it is not: nothing given is silently ignored.
    alpha : float, default 0.0
        Strength of the L2 penalty :math:`\alpha \lVert\beta\rVert^2 / 2` on the
        coefficients (not the intercept), ``>= 0``. With ``loss="mse"`` this is
        :class:`sklearn.linear_model.Ridge`'s ``alpha``.
    fit_intercept : bool, default True
        Whether to fit an intercept. If False the data are assumed centred.
    max_iter : int, default 300
        Maximum number of IRLS iterations, ``>= 1``. A ``ConvergenceWarning`` is
        issued when it is reached before convergence.
    tol : float, default 1e-6
        Stop when :math:`\max_j |\Delta\theta_j| \le \mathrm{tol} \cdot \max_j
        |\theta_j|`, with :math:`\theta` the coefficients and the intercept. ``>= 0``.
    warm_start : bool, default False
        Start from the previous fit's ``coef_`` and ``intercept_`` instead of the
        weighted median of ``y``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients.
    intercept_ : float
        Intercept (0.0 when ``fit_intercept=False``).
    n_iter_ : int
        Number of IRLS iterations run.
    statistics_ : ASRLStatistics, DeltaStatistics or None
        The loss statistics of the fitted model's residuals: ASRL's thresholds
        (``statistics_.deltas``), adaptive Huber's ``delta``; None for losses
        without statistics.
    loss_ : BaseLoss
        The loss object used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape ``(n_features_in_,)``
        Feature names, when ``X`` has string column names (a pandas DataFrame).

    See Also
    --------
    sklearn.linear_model.HuberRegressor : Huber's loss with a jointly estimated scale.
    asrl.ASRL : The loss, its parameters and its thresholds.

    Notes
    -----
    The thresholds move between iterations, so the sequence of objective values
    need not decrease; the fixed point solves the estimating equations
    :math:`\sum_i w_i \psi(u_i; \delta(u)) (1, x_i) = 0` (with the penalty's gradient),
    as an M-estimator with a concurrently estimated scale does. The logarithmic region
    makes the loss non-convex, so a fixed point is a local solution; the robust start
    matters for that reason. Coefficients scale with ``y``: fitting ``k * y`` gives
    ``k * coef_`` (for either threshold rule, and with ``alpha`` too, since the
    objective scales by ``k**2``).

    Only ASRL's continuous region weights are offered: the "stats" form jumps at the
    thresholds, its IRLS weight is no majorizer, and the iteration oscillated (38 of
    40 test fits did not converge in 500 iterations; ``docs/linear.md``).

    References
    ----------
    .. [1] "ASRL: A robust loss function with potential for development",
       arXiv:2504.06935.
    .. [2] J. de Leeuw and K. Lange, "Sharp quadratic majorization in one dimension",
       Computational Statistics & Data Analysis 53 (2009).

    Examples
    --------
    >>> import numpy as np
    >>> from asrl.linear import ASRLLinearRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = 1.0 + X @ [2.0, -3.0] + 0.1 * rng.normal(size=200)
    >>> y[:30] += 100.0  # 15 % gross outliers
    >>> model = ASRLLinearRegressor().fit(X, y)
    >>> model.coef_.round(1).tolist(), round(model.intercept_, 1)
    ([2.0, -3.0], 1.0)
    >>> model.predict([[1.0, 1.0]]).round(1).tolist() == [0.0]  # 1 + 2 - 3
    True
    """

    # Fitted attributes (set by ``fit``; declared here for the type checker only).
    coef_: Array
    intercept_: float
    n_iter_: int
    statistics_: Any
    loss_: BaseLoss

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise TypeError(
                f"ASRLLinearRegressor got unexpected parameter(s) {', '.join(unknown)}; "
                f"its parameters: {', '.join(_PARAMS)}."
            )
        for name, default in _PARAMS.items():
            setattr(self, name, params.get(name, default))

    def _make_loss(self) -> BaseLoss:
        """The loss object the parameters describe, with the IRLS curvature."""
        asrl_params = {name: getattr(self, name) for name in _ASRL_DEFAULTS}
        if self.loss == "asrl":
            if self.loss_params:
                raise ValueError(
                    "loss_params is for losses other than ASRL; give ASRL's parameters "
                    "directly (q_low=..., thresholds=...)."
                )
            return ASRL(**asrl_params, weights="continuous", hessian="irls", threshold_sample=None)
        if not isinstance(self.loss, str) or self.loss not in IRLS_LOSSES:
            allowed = ", ".join(repr(name) for name in IRLS_LOSSES)
            raise ValueError(
                f"loss must be one of {allowed} (a loss with an IRLS weight); got {self.loss!r}."
            )
        changed = [k for k, v in asrl_params.items() if v != _ASRL_DEFAULTS[k]]
        if changed:
            verb = "is an ASRL parameter" if len(changed) == 1 else "are ASRL parameters"
            raise ValueError(
                f"{', '.join(changed)} {verb} but loss={self.loss!r}; give that loss's "
                "parameters in loss_params."
            )
        params = dict(self.loss_params or {})
        if params.get("hessian", "irls") != "irls":
            raise ValueError(
                f"IRLS needs the curvature psi(u)/u; loss_params must not set "
                f"hessian={params['hessian']!r}."
            )
        if self.loss != "mse":
            params["hessian"] = "irls"
        return get_loss(self.loss, **params)

    def _check_params(self) -> tuple[BaseLoss, float, int, float]:
        loss = self._make_loss()
        alpha = check_interval("alpha", self.alpha, 0.0, np.inf, low_open=False)
        tol = check_interval("tol", self.tol, 0.0, np.inf, low_open=False)
        max_iter: Any = self.max_iter
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral):
            raise TypeError(
                f"max_iter must be an int >= 1; got {max_iter!r} of type {type(max_iter).__name__}."
            )
        if max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1; got {max_iter!r}.")
        return loss, alpha, int(max_iter), tol

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> ASRLLinearRegressor:
        """Fit the model by IRLS.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data; a pandas DataFrame's column names are kept in
            ``feature_names_in_``.
        y : array_like of shape (n_samples,)
            Targets.
        sample_weight : array_like of shape (n_samples,), optional
            Non-negative weights, not all zero; they multiply each sample's loss
            and enter the thresholds as weighted quantiles. Zero-weight samples are
            ignored.

        Returns
        -------
        self : ASRLLinearRegressor
            The fitted estimator.
        """
        loss, alpha, max_iter, tol = self._check_params()
        previous: tuple[Array, float] | None = None
        if self.warm_start and hasattr(self, "coef_"):
            previous = (self.coef_, self.intercept_)
        X_checked, y_checked = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        features = np.asarray(X_checked, dtype=np.float64)
        target = np.asarray(y_checked, dtype=np.float64)
        weight: Array | None = check_sample_weight(  # type: ignore[assignment]
            sample_weight, target.shape, np.dtype(np.float64)
        )
        fit_intercept = bool(self.fit_intercept)

        if previous is not None:
            coef, intercept = np.array(previous[0], dtype=np.float64), float(previous[1])
            if coef.shape != (features.shape[1],):
                raise ValueError(
                    f"warm_start: the previous fit had {coef.shape[0]} features, X has "
                    f"{features.shape[1]}; refit with warm_start=False."
                )
            if not fit_intercept:
                intercept = 0.0
        else:
            coef = np.zeros(features.shape[1])
            intercept = 0.0
            if fit_intercept:
                intercept = loss.best_constant(target, sample_weight=weight)

        problem = _Problem(loss, features, target, weight, alpha, fit_intercept)
        coef, intercept, n_iter = problem.fit(coef, intercept, max_iter, tol)
        self.coef_ = coef
        self.intercept_ = float(intercept)
        self.n_iter_ = n_iter
        self.loss_ = loss
        self.statistics_ = loss.statistics(
            target, features @ coef + intercept, sample_weight=weight
        )
        return self

    def predict(self, X: ArrayLike) -> Array:
        """Predict ``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        features = np.asarray(validate_data(self, X, reset=False, dtype=np.float64))
        prediction: Array = features @ self.coef_ + self.intercept_
        return prediction


# What scikit-learn (get_params, clone), help() and IDEs read.
ASRLLinearRegressor.__init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in _PARAMS.items()
    ]
)
