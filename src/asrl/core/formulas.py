r"""The formulas of every loss, elementwise: rho, psi (its derivative) and hessians.

Written once, with numpy as the default array namespace ``xp``: the functions use only
``abs``, ``where``, ``minimum``, ``maximum``, ``copysign``, ``log``, ``log1p``, ``sqrt``
and ``hypot``, so the PyTorch and JAX adapters call the same functions with ``torch``
or ``jax.numpy``. Thresholds and scales are scalars (or 0-d tensors) computed by the
rules of :mod:`asrl.core.rules`.

Notation: ``u = y_pred - y_true`` and ``a = |u|``; every psi is
:math:`\partial \rho / \partial\, y_{pred}`. The ASRL loss with continuous weights is

.. math::

    \rho(u) = \begin{cases}
        u^2 / 2 & |u| \le \delta_1 \\
        \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
        \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
            & |u| > \delta_2
    \end{cases}

with :math:`\psi(u) = u,\ \delta_1 \operatorname{sign}(u),\ \delta_1\delta_2/u`. See
``docs/maths.md`` for the derivation and the "stats" weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BLOCK",
    "absolute_psi",
    "absolute_rho",
    "continuous_exact_hessian",
    "continuous_irls_hessian",
    "continuous_psi",
    "continuous_psi_irls",
    "continuous_rho",
    "huber_irls_hessian",
    "huber_psi",
    "huber_rho",
    "pseudo_huber_hessian",
    "pseudo_huber_irls_hessian",
    "pseudo_huber_psi",
    "pseudo_huber_rho",
    "regions",
    "stats_exact_hessian",
    "stats_irls_hessian",
    "stats_psi",
    "stats_rho",
]

Array = NDArray[np.floating[Any]]

# --------------------------------------------------------------------------------------
# ASRL, continuous weights
# --------------------------------------------------------------------------------------


def regions(abs_u: Any, d1: Any, d2: Any) -> tuple[Any, Any]:
    """Masks ``(small, large)``: ``|u| <= d1`` and ``|u| > d2``; medium is neither."""
    return abs_u <= d1, abs_u > d2


def continuous_rho(abs_u: Any, d1: Any, d2: Any, xp: Any = np) -> Any:
    """ASRL with continuous weights (C^1 in u), elementwise.

    Written without branches as the sum of the three regions' integrals of psi,

    ``rho = s^2 / 2 + d1 (m - d1) + d1 d2 log(b / d2)``,
    ``s = min(|u|, d1)``, ``m = clip(|u|, d1, d2)``, ``b = max(|u|, d2)``,

    which is exactly ``u^2 / 2`` in the quadratic region and adds only non-negative
    terms elsewhere (no cancellation; a few roundings). No element can overflow in a
    region it does not belong to, and ``log`` never sees 0.

    Examples
    --------
    >>> import numpy as np
    >>> continuous_rho(np.array([0.5, 2.0, 8.0]), 1.0, 4.0).round(6).tolist()
    [0.125, 1.5, 6.272589]
    """
    s = xp.minimum(abs_u, d1)
    m = xp.minimum(xp.maximum(abs_u, d1), d2)
    b = xp.maximum(abs_u, d2)
    return 0.5 * s * s + d1 * (m - d1) + d1 * (d2 * xp.log(b / d2))


def continuous_psi(u: Any, abs_u: Any, d1: Any, d2: Any, xp: Any = np) -> Any:
    """Gradient of :func:`continuous_rho`: ``u``, ``d1 sign(u)``, ``d1 d2 / u``.

    Written as ``sign(u) min(|u|, d1) (d2 / max(|u|, d2))``: exact in the first two
    regions, two roundings in the third, no branches and no division by zero.
    """
    return xp.copysign(xp.minimum(abs_u, d1) * (d2 / xp.maximum(abs_u, d2)), u)


def continuous_irls_hessian(abs_u: Any, d1: Any, d2: Any, xp: Any = np) -> Any:
    """IRLS weight ``psi(u) / u``: ``1``, ``d1 / |u|``, ``d1 d2 / u^2``, in (0, 1].

    Computed as ``(d1 / max(|u|, d1)) (d2 / max(|u|, d2))``, which never overflows.
    """
    return (d1 / xp.maximum(abs_u, d1)) * (d2 / xp.maximum(abs_u, d2))


def continuous_exact_hessian(abs_u: Any, d1: Any, min_hessian: float, xp: Any = np) -> Any:
    """``rho''`` (1, 0, ``-d1 d2 / u^2``) floored at ``min_hessian``: 1 or ``min_hessian``.

    Huber's floored second derivative is the same function with ``d1 = delta``.
    """
    return xp.where(abs_u <= d1, xp.ones_like(abs_u), min_hessian)


#: Elements per block of the blocked hot paths (:func:`continuous_psi_irls` on long
#: arrays, ``gradient_hessian`` with given statistics): a block's few arrays stay in
#: a core's L2 cache through all the passes of the formulas, so each element goes
#: to and from memory once (measured at 1e7 float32: 3.3 instead of 4.3 ``np.abs``
#: passes for the kernel; no difference at 1e6).
BLOCK = 1 << 16

#: Below this many elements two ufuncs clip faster than ``np.clip``, whose Python
#: wrapper costs about 2 microseconds a call (CatBoost's chunks have 63-1000 rows).
_SMALL = 4096


def continuous_psi_irls(
    u: Array, d1: Any, d2: Any, out: tuple[Array, Array] | None = None
) -> tuple[Array, Array]:
    """:func:`continuous_psi` and :func:`continuous_irls_hessian` in one numpy pass.

    The hot path of every boosting round: the same values as the two generic
    functions (so the same bits) in eight ufunc passes without temporaries. ``u``
    is used as scratch space and overwritten. ``out=(g, h)`` supplies the output
    arrays (reused across rounds by the boosting adapters); otherwise they are
    allocated. A flat array longer than ``2 * BLOCK`` is processed block by block
    (:data:`BLOCK`), the same operations on every element.

    The gradient is computed as ``clip(u, -d1, d1) (d2 / max(|u|, d2))``, which is
    ``copysign(min(|u|, d1) (d2 / max(|u|, d2)), u)`` exactly: a product with a
    positive factor rounds the same for either sign.

    Examples
    --------
    >>> import numpy as np
    >>> g, h = continuous_psi_irls(np.array([-0.5, 2.0, 8.0]), 1.0, 4.0)
    >>> g.tolist(), h.tolist()
    ([-0.5, 1.0, 0.5], [1.0, 0.5, 0.0625])
    """
    g, h = (np.empty_like(u), np.empty_like(u)) if out is None else out
    if u.ndim == 1 and u.shape[0] > 2 * BLOCK:
        for lo in range(0, u.shape[0], BLOCK):
            block = slice(lo, lo + BLOCK)
            continuous_psi_irls(u[block], d1, d2, out=(g[block], h[block]))
        return g, h
    np.abs(u, out=h)  # |u|, read by both maxima
    np.maximum(h, d2, out=g)
    np.divide(d2, g, out=g)  # d2 / max(|u|, d2)
    np.maximum(h, d1, out=h)
    np.divide(d1, h, out=h)  # d1 / max(|u|, d1)
    np.multiply(h, g, out=h)  # (d1 / max(|u|, d1)) (d2 / max(|u|, d2))
    if u.size < _SMALL:  # clip(u, -d1, d1): the same values either way
        np.maximum(u, -d1, out=u)
        np.minimum(u, d1, out=u)
    else:
        np.clip(u, -d1, d1, out=u)
    np.multiply(u, g, out=g)  # sign(u) min(|u|, d1) d2 / max(|u|, d2)
    return g, h


# --------------------------------------------------------------------------------------
# ASRL, "stats" weights (the paper's statistic-derived region weights)
# --------------------------------------------------------------------------------------


def stats_rho(
    abs_u: Any, d1: Any, d2: Any, s_var: Any, s_iqr: Any, s_mad: Any, xp: Any = np
) -> Any:
    """``(u / s_var)^2 / 2``, ``|u| / s_iqr``, ``log(1 + |u| / s_mad)`` by region.

    Discontinuous at both thresholds, as the paper's region weights are.
    """
    small, large = regions(abs_u, d1, d2)
    z = xp.minimum(abs_u, d1) / s_var
    return xp.where(small, 0.5 * z * z, xp.where(large, xp.log1p(abs_u / s_mad), abs_u / s_iqr))


def stats_psi(
    u: Any, abs_u: Any, d1: Any, d2: Any, s_var: Any, s_iqr: Any, s_mad: Any, xp: Any = np
) -> Any:
    """Gradient of :func:`stats_rho` (where it is differentiable)."""
    small, large = regions(abs_u, d1, d2)
    magnitude = xp.where(
        small,
        (xp.minimum(abs_u, d1) / s_var) / s_var,
        xp.where(large, 1 / (s_mad + abs_u), (1 / s_iqr) * xp.ones_like(abs_u)),
    )
    return xp.copysign(magnitude, u)


def stats_irls_hessian(
    abs_u: Any, d1: Any, d2: Any, s_var: Any, s_iqr: Any, s_mad: Any, xp: Any = np
) -> Any:
    """``psi(u) / u`` of the "stats" form; positive, but not a majorizer there."""
    small, large = regions(abs_u, d1, d2)
    a = xp.maximum(abs_u, d1)  # > 0 outside the small region, where it is used
    return xp.where(
        small,
        ((1 / s_var) / s_var) * xp.ones_like(abs_u),
        xp.where(large, (1 / a) / (s_mad + a), (1 / s_iqr) / a),
    )


def stats_exact_hessian(abs_u: Any, d1: Any, s_var: Any, min_hessian: float, xp: Any = np) -> Any:
    """``rho''`` of the "stats" form floored at ``min_hessian``."""
    top = xp.maximum((1 / s_var) / s_var, min_hessian)
    return xp.where(abs_u <= d1, top * xp.ones_like(abs_u), min_hessian)


# --------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------


def absolute_rho(abs_u: Any) -> Any:
    """``|u|``."""
    return abs_u


def absolute_psi(u: Any, xp: Any = np) -> Any:
    """``sign(u)`` (0 at 0)."""
    return xp.sign(u)


def huber_rho(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Huber: ``u^2 / 2`` for ``|u| <= delta``, ``delta (|u| - delta / 2)`` beyond."""
    s = xp.minimum(abs_u, delta)
    return xp.where(abs_u <= delta, 0.5 * s * s, delta * (abs_u - 0.5 * delta))


def huber_psi(u: Any, abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Huber gradient ``sign(u) min(|u|, delta)``."""
    return xp.copysign(xp.minimum(abs_u, delta), u)


def huber_irls_hessian(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Huber's IRLS weight ``min(1, delta / |u|)``."""
    return delta / xp.maximum(abs_u, delta)


def _hypot1(z: Any, xp: Any) -> Any:
    """``sqrt(1 + z^2)`` without overflow."""
    return xp.hypot(xp.ones_like(z), z)


def pseudo_huber_rho(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber ``delta^2 (sqrt(1 + (u/delta)^2) - 1)`` without cancellation or overflow.

    Rewritten as ``delta |u| z / (1 + sqrt(1 + z^2))`` with ``z = |u| / delta``.
    """
    z = abs_u / delta
    return (delta * abs_u) * (z / (1 + _hypot1(z, xp)))


def pseudo_huber_psi(u: Any, abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber gradient ``u / sqrt(1 + (u/delta)^2)``."""
    z = abs_u / delta
    return u / _hypot1(z, xp)


def pseudo_huber_irls_hessian(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber IRLS weight ``psi(u) / u = (1 + (u/delta)^2)^(-1/2)``, in (0, 1]."""
    return 1 / _hypot1(abs_u / delta, xp)


def pseudo_huber_hessian(abs_u: Any, delta: Any, xp: Any = np) -> Any:
    """Pseudo-Huber second derivative ``(1 + (u/delta)^2)^(-3/2)``, in (0, 1]."""
    z = abs_u / delta
    r = 1 / _hypot1(z, xp)
    return r * r * r
