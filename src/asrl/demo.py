"""A one-minute demonstration: robust linear regression with every registered loss.

Each loss fits a linear model by Newton steps on its own gradient and curvature
(IRLS for ASRL and the Huber losses), on synthetic training data whose labels are
partly replaced by gross outliers; the test data stay clean. Only numpy is needed.
This is a smoke demonstration of the core, not the benchmark (``asrl bench``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import LOSSES, BaseLoss, get_loss

__all__ = ["DemoResult", "fit_linear", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """Test-set quality of one loss on the demonstration data."""

    loss: str
    r2: float
    mae: float
    coef_error: float
    iterations: int


def fit_linear(
    loss: BaseLoss, X: np.ndarray, y: np.ndarray, *, max_iter: int = 100, tol: float = 1e-8
) -> tuple[np.ndarray, int]:
    """Fit ``y ~ [1, X] @ beta`` by damped Newton steps with ``loss.gradient_hessian``.

    Starts from the loss's best constant. With an exact curvature (pseudo-Huber) a
    step is halved until the mean loss does not increase, since undamped Newton steps
    on it diverge; an approximate curvature (the IRLS weights of ASRL and Huber, which
    majorize the loss for fixed thresholds) takes full steps, as a booster does.
    Returns the coefficients (intercept first) and the number of iterations run.

    Examples
    --------
    >>> import numpy as np
    >>> from asrl import ASRL
    >>> X = np.linspace(0, 1, 50)[:, None]
    >>> beta, _ = fit_linear(ASRL(), X, 2 + 3 * X[:, 0])
    >>> np.round(beta, 6).tolist()
    [2.0, 3.0]
    """
    design = np.column_stack([np.ones(len(y)), X])
    beta = np.zeros(design.shape[1])
    beta[0] = loss.best_constant(y)
    ridge = 1e-10 * np.eye(design.shape[1])
    iteration = 0
    while iteration < max_iter:
        iteration += 1
        g, h = loss.gradient_hessian(y, design @ beta)
        step = np.linalg.solve(design.T @ (h[:, None] * design) + ridge, design.T @ g)
        if not loss.approx_hessian:
            current = loss(y, design @ beta)
            for _ in range(30):
                if loss(y, design @ (beta - step)) <= current:
                    break
                step = step / 2
        beta -= step
        if np.abs(step).max() <= tol * (1 + np.abs(beta).max()):
            break
    return beta, iteration


def run_demo(
    *, n: int = 400, features: int = 5, contamination: float = 0.2, seed: int = 0
) -> list[DemoResult]:
    """Fit every loss in :data:`asrl.LOSSES` on contaminated data; score on clean data.

    A ``contamination`` share of training labels gets a gross outlier: plus or minus
    20 to 40 noise standard deviations, always on the same rows for every loss.

    Examples
    --------
    >>> results = run_demo(n=200, seed=1)
    >>> sorted(r.loss for r in results) == sorted(LOSSES)
    True
    """
    rng = np.random.default_rng(seed)
    beta = rng.normal(0, 2, features)
    X_train, X_test = rng.normal(size=(n, features)), rng.normal(size=(n, features))
    y_train = 1.0 + X_train @ beta + rng.normal(size=n)
    y_test = 1.0 + X_test @ beta + rng.normal(size=n)
    bad = rng.random(n) < contamination
    y_train[bad] += rng.choice([-1.0, 1.0], bad.sum()) * rng.uniform(20, 40, bad.sum())
    results = []
    for name in LOSSES:
        coef, iterations = fit_linear(get_loss(name), X_train, y_train)
        pred = coef[0] + X_test @ coef[1:]
        residual = y_test - pred
        r2 = 1 - np.sum(residual**2) / np.sum((y_test - y_test.mean()) ** 2)
        results.append(
            DemoResult(
                loss=name,
                r2=float(r2),
                mae=float(np.abs(residual).mean()),
                coef_error=float(np.linalg.norm(coef[1:] - beta)),
                iterations=iterations,
            )
        )
    return results


def format_table(results: list[DemoResult]) -> str:
    """The results as a plain-text table, best R^2 first."""
    lines = [f"{'loss':<20}{'test R^2':>10}{'test MAE':>10}{'|coef err|':>12}{'iters':>7}"]
    for r in sorted(results, key=lambda r: -r.r2):
        lines.append(
            f"{r.loss:<20}{r.r2:>10.4f}{r.mae:>10.4f}{r.coef_error:>12.4f}{r.iterations:>7}"
        )
    return "\n".join(lines)
