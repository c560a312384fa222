r"""Barron's general and adaptive robust loss, written here for the examples.

The general loss of Barron [1]_ (eq. 1 there), for residual ``x``, shape ``alpha`` and
scale ``c > 0``:

.. math::

    \rho(x, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
    \left( \left( \frac{(x / c)^2}{|\alpha - 2|} + 1 \right)^{\alpha / 2} - 1 \right)

with its limits :math:`\frac12 (x/c)^2` at :math:`\alpha = 2`,
:math:`\log(\frac12 (x/c)^2 + 1)` at :math:`\alpha = 0` (Cauchy),
:math:`1 - \exp(-\frac12 (x/c)^2)` at :math:`\alpha = -\infty` (Welsch) and
:math:`\exp(\frac12 (x/c)^2) - 1` at :math:`\alpha = +\infty`. ``alpha = 1`` is the
pseudo-Huber (Charbonnier) loss and ``alpha = -2`` Geman-McClure. :func:`general_loss`
evaluates the formula as ``|alpha - 2| / alpha * expm1(alpha / 2 * log1p(z^2 / |alpha - 2|))``
(accurate for ``alpha`` near 0 and small ``z``) and the four limits exactly.

The *adaptive* loss (section 3 of [1]_) learns the shape and the scale by minimising
the negative log-likelihood of the density :math:`p(x \mid \alpha, c) =
\exp(-\rho(x, \alpha, c)) / (c Z(\alpha))`:

.. math::

    -\log p(x \mid \alpha, c) = \rho(x, \alpha, c) + \log c + \log Z(\alpha),
    \qquad Z(\alpha) = \int_{-\infty}^{\infty} \exp(-\rho(x, \alpha, 1))\, dx .

:math:`Z` is finite for :math:`\alpha \ge 0` only (for negative shapes :math:`\rho` is
bounded), so, as in Barron's code, the shape is kept in ``[alpha_lo, alpha_hi]``
(default ``[0.001, 1.999]``) by a sigmoid, and the scale above ``scale_lo`` by a softplus.
:math:`\log Z` has no closed form except at a few shapes (:math:`Z(0) = \pi\sqrt2`,
:math:`Z(1) = 2 e K_1(1)`, :math:`Z(2) = \sqrt{2\pi}`), so it is computed numerically:

1. :func:`log_partition_quadrature` integrates :math:`2 \int_0^\infty e^{-\rho}` by
   composite Gauss-Legendre rules (32 nodes a panel, float64, numpy only): 16 panels on
   :math:`[0, 1]`, and 64 on :math:`[1, \infty)` after :math:`x = e^t`,
   :math:`t \in [0, 64]`, where the integrand is smooth and decays at least like
   :math:`2 e^{-t}` (the Cauchy tail) for every :math:`\alpha \in [0, 2]`;
2. :func:`log_partition` interpolates a table of those values at :data:`GRID_POINTS`
   shapes :math:`\alpha = 1 - \cos(\pi\theta)`, :math:`\theta` equally spaced in
   :math:`[0, 1]` (dense near 2, where the slope of :math:`\log Z` diverges
   logarithmically), with a cubic Hermite spline in :math:`\theta` whose slopes are the
   table's central differences, in torch, so it is differentiable in ``alpha``.

The tests check the quadrature against :func:`scipy.integrate.quad` over the whole real
line and the three closed forms (to 1e-12), and the spline against the quadrature at
off-grid shapes (within 1e-7 on ``[0.001, 1.999]``, 1e-9 typically; its slope in
``alpha`` within 5e-4 relative of the quadrature's finite differences, 3e-6
typically). Barron's code instead fits a spline to precomputed values over a warped
shape axis; the method here is our own.

References
----------
.. [1] J. T. Barron, "A General and Adaptive Robust Loss Function", CVPR 2019,
   arXiv:1701.03077.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "GRID_POINTS",
    "AdaptiveBarronLoss",
    "general_loss",
    "log_partition",
    "log_partition_quadrature",
    "rho_numpy",
]

#: Shapes in the interpolation table of :func:`log_partition` (equally spaced on [0, 2]).
GRID_POINTS = 257
_PANELS, _NODES, _TAIL = 64, 32, 64.0


def general_loss(x: Tensor, alpha: float | Tensor, scale: float | Tensor = 1.0) -> Tensor:
    r"""Barron's general loss :math:`\rho(x, \alpha, c)`, elementwise.

    Parameters
    ----------
    x : Tensor
        Residuals, any shape.
    alpha : float or Tensor
        Shape, any real or ``±inf`` (a 0-d tensor may require a gradient).
    scale : float or Tensor
        Scale ``c > 0``.

    Returns
    -------
    Tensor
        :math:`\rho` in ``x``'s shape. Differentiable in ``x``, ``alpha`` and ``scale``
        away from the four limits (where the derivative in ``alpha`` is not defined by
        this formula).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    >>> [round(v, 4) for v in general_loss(x, 1.0).tolist()]  # sqrt(x^2 + 1) - 1
    [0.0, 0.4142, 2.1623]
    >>> [round(v, 4) for v in general_loss(x, 0.0).tolist()]  # log(x^2 / 2 + 1)
    [0.0, 0.4055, 1.7047]
    """
    alpha_t = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    z2 = (x / scale) ** 2
    zero, two = alpha_t == 0, alpha_t == 2
    minus_inf, plus_inf = alpha_t == -math.inf, alpha_t == math.inf
    special = zero | two | minus_inf | plus_inf
    # Every branch is evaluated, so each gets inputs where it is finite: the formula a
    # safe shape where a limit applies, and exp(z^2 / 2) only the z of its own shape.
    # (A branch that overflows would give 0 * inf = NaN gradients through torch.where.)
    safe = torch.where(special, torch.ones_like(alpha_t), alpha_t)
    b = (safe - 2).abs()
    generic = (b / safe) * torch.expm1(0.5 * safe * torch.log1p(z2 / b))
    growing = torch.expm1(0.5 * torch.where(plus_inf, z2, torch.zeros_like(z2)))
    return torch.where(
        zero,
        torch.log1p(0.5 * z2),
        torch.where(
            two,
            0.5 * z2,
            torch.where(
                minus_inf,
                -torch.expm1(-0.5 * z2),
                torch.where(plus_inf, growing, generic),
            ),
        ),
    )


def rho_numpy(x: np.ndarray, alpha: float) -> np.ndarray:
    r""":math:`\rho(x, \alpha, 1)` in float64 numpy, for ``alpha`` in ``[0, 2]`` (quadrature).

    Examples
    --------
    >>> import numpy as np
    >>> rho_numpy(np.array([0.0, 2.0]), 2.0).tolist()
    [0.0, 2.0]
    """
    z2 = np.asarray(x, dtype=float) ** 2
    if alpha == 0.0:
        return np.log1p(0.5 * z2)
    if alpha == 2.0:
        return 0.5 * z2
    b = abs(alpha - 2.0)
    return (b / alpha) * np.expm1(0.5 * alpha * np.log1p(z2 / b))


@functools.cache
def _rule() -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` and weights ``w`` with ``sum(w f(x))`` ~ ``int_0^inf f``: Gauss-Legendre
    panels on [0, 1], and on [1, inf) after ``x = e^t`` for ``t`` in [0, 64]."""
    nodes, weights = np.polynomial.legendre.leggauss(_NODES)

    def panels(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = np.diff(edges)[:, None] / 2
        return (edges[:-1, None] + half * (nodes + 1)).ravel(), (half * weights).ravel()

    s, ws = panels(np.linspace(0.0, 1.0, _PANELS // 4 + 1))
    t, wt = panels(np.linspace(0.0, _TAIL, _PANELS + 1))
    return np.concatenate([s, np.exp(t)]), np.concatenate([ws, wt * np.exp(t)])


def log_partition_quadrature(alpha: float) -> float:
    r""":math:`\log Z(\alpha)` by quadrature, for ``alpha`` in ``[0, 2]`` (float64).

    Examples
    --------
    >>> import math
    >>> abs(log_partition_quadrature(2.0) - 0.5 * math.log(2 * math.pi)) < 1e-14  # Gaussian
    True
    >>> abs(log_partition_quadrature(0.0) - math.log(math.pi * math.sqrt(2))) < 1e-14  # Cauchy
    True
    """
    if not 0.0 <= alpha <= 2.0:
        raise ValueError(f"alpha must be in [0, 2] (Z is infinite below 0); got {alpha!r}.")
    x, w = _rule()
    with np.errstate(over="ignore"):  # rho overflows far out, where exp(-rho) is 0
        integrand = np.exp(-rho_numpy(x, alpha))
    return float(np.log(2.0 * np.sum(w * integrand)))


def _shapes(theta: np.ndarray) -> np.ndarray:
    """The table's shapes: ``alpha = 1 - cos(pi theta)``, dense near 0 and 2."""
    return 1.0 - np.cos(np.pi * theta)


@functools.cache
def _table() -> tuple[np.ndarray, np.ndarray]:
    """:math:`\\log Z` at the table's shapes and its slopes in ``theta`` there (float64)."""
    theta = np.linspace(0.0, 1.0, GRID_POINTS)
    values = np.array([log_partition_quadrature(float(a)) for a in _shapes(theta)])
    return values, np.gradient(values, theta, edge_order=2)


def log_partition(alpha: Tensor) -> Tensor:
    r""":math:`\log Z(\alpha)` by a cubic Hermite spline through the quadrature table.

    The table holds :func:`log_partition_quadrature` at :data:`GRID_POINTS` shapes
    ``alpha = 1 - cos(pi theta)``, ``theta`` equally spaced in [0, 1]: :math:`\log Z`
    has a term like :math:`b \log b` in :math:`b = 2 - \alpha` (and its slope diverges
    at 2), which this spacing resolves. ``alpha`` is clamped to ``[0, 2]``;
    differentiable in ``alpha`` inside ``(0, 2)``.

    Examples
    --------
    >>> import math, torch
    >>> value = log_partition(torch.tensor(1.0, dtype=torch.float64)).item()
    >>> round(value, 6)  # log(2 e K_1(1))
    1.185495
    """
    values, slopes = _table()
    h = 1.0 / (GRID_POINTS - 1)
    a = alpha.clamp(0.0, 2.0)
    t = torch.acos((1.0 - a).clamp(-1.0, 1.0)) / (math.pi * h)
    k = t.detach().floor().clamp(0, GRID_POINTS - 2).long()
    s = t - k
    table = torch.as_tensor(values, dtype=a.dtype, device=a.device)
    slope = torch.as_tensor(slopes, dtype=a.dtype, device=a.device) * h
    y0, y1, m0, m1 = table[k], table[k + 1], slope[k], slope[k + 1]
    s2, s3 = s * s, s * s * s
    return (
        (2 * s3 - 3 * s2 + 1) * y0
        + (s3 - 2 * s2 + s) * m0
        + (-2 * s3 + 3 * s2) * y1
        + (s3 - s2) * m1
    )


class AdaptiveBarronLoss(nn.Module):
    r"""Barron's adaptive loss: the mean negative log-likelihood with a learned shape and scale.

    ``loss(input, target)`` is the mean over elements of
    :math:`\rho(u, \alpha, c) + \log c + \log Z(\alpha)` with ``u = input - target``.
    Its two parameters (``latent_alpha``, ``latent_scale``) must be given to the
    optimiser with the model's.

    Parameters
    ----------
    alpha_lo, alpha_hi : float
        Range of the shape, within ``[0, 2]``: ``alpha = lo + (hi - lo) sigmoid(latent)``.
    alpha_init : float or None
        Initial shape; None is the middle of the range (1 by default, pseudo-Huber).
    scale_lo : float
        Least scale: ``scale = scale_lo + softplus(latent)``.
    scale_init : float
        Initial scale, above ``scale_lo``.

    Examples
    --------
    >>> import torch
    >>> loss = AdaptiveBarronLoss()
    >>> round(loss.alpha.item(), 6), round(loss.scale.item(), 6)
    (1.0, 1.0)
    >>> value = loss(torch.zeros(4), torch.zeros(4))  # rho(0) + log 1 + log Z(1)
    >>> round(value.item(), 4)
    1.1855
    """

    def __init__(
        self,
        *,
        alpha_lo: float = 0.001,
        alpha_hi: float = 1.999,
        alpha_init: float | None = None,
        scale_lo: float = 1e-5,
        scale_init: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha_lo < alpha_hi <= 2.0:
            raise ValueError(
                f"need 0 <= alpha_lo < alpha_hi <= 2; got alpha_lo={alpha_lo!r}, "
                f"alpha_hi={alpha_hi!r}."
            )
        alpha_init = (alpha_lo + alpha_hi) / 2 if alpha_init is None else alpha_init
        if not alpha_lo < alpha_init < alpha_hi:
            raise ValueError(f"alpha_init must be in ({alpha_lo}, {alpha_hi}); got {alpha_init!r}.")
        if not 0.0 < scale_lo < scale_init:
            raise ValueError(
                f"need 0 < scale_lo < scale_init; got scale_lo={scale_lo!r}, "
                f"scale_init={scale_init!r}."
            )
        self.alpha_lo, self.alpha_hi, self.scale_lo = alpha_lo, alpha_hi, scale_lo
        share = (alpha_init - alpha_lo) / (alpha_hi - alpha_lo)
        self.latent_alpha = nn.Parameter(torch.tensor(math.log(share / (1 - share))))
        self.latent_scale = nn.Parameter(torch.tensor(math.log(math.expm1(scale_init - scale_lo))))

    @property
    def alpha(self) -> Tensor:
        """The current shape (0-d tensor)."""
        share = torch.sigmoid(self.latent_alpha)
        return self.alpha_lo + (self.alpha_hi - self.alpha_lo) * share

    @property
    def scale(self) -> Tensor:
        """The current scale (0-d tensor)."""
        return self.scale_lo + nn.functional.softplus(self.latent_scale)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Mean negative log-likelihood of ``input - target`` (see the class docstring)."""
        alpha, scale = self.alpha.to(input.dtype), self.scale.to(input.dtype)
        rho = general_loss(input - target, alpha, scale)
        return rho.mean() + torch.log(scale) + log_partition(alpha)
