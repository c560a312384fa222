r"""ASRL for JAX: :func:`~asrl.jax.asrl_loss`, elementwise like optax's losses.

A thin adapter over :mod:`asrl.core`: the loss is ``core.formulas.continuous_rho``
(or ``stats_rho``) on ``jax.numpy`` arrays, its derivative is the closed form
``continuous_psi`` (or ``stats_psi``) through a :func:`jax.custom_jvp`, and the
residual statistics come from the loss's own rule (:meth:`asrl.ASRL.statistics_rule`)
run by :func:`asrl.core.rules.run_xp` on the residuals under
:func:`jax.lax.stop_gradient`, so any rule of :data:`asrl.core.rules.THRESHOLD_RULES`
works here unchanged. This module only answers the rule's requests: the order
statistics come from one :func:`jax.numpy.sort` per request, so the thresholds equal
the numpy core's in the same dtype (float32 unless ``jax_enable_x64`` is set), with
two exceptions: means (the standard deviation of the "stats" weights) sum in XLA's
order (last bits), and without x64 a rule's ``c * sigma`` is rounded in float32
rather than once from float64 (at most one unit in the last place).

Everything is ``jit``-, ``grad``- and ``vmap``-compatible; the shapes, and so the
ranks of the order statistics, are static. ``import asrl`` never imports jax;
importing this module without jax raises an :class:`ImportError` that names the
extra to install (``pip install "asrl[jax]"``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ._optional import missing

try:
    import jax
    import jax.numpy as jnp
except ModuleNotFoundError as error:
    raise missing("JAX", "jax") from error

from .core import formulas
from .core.quantiles import sample_positions
from .core.rules import ASRLStatistics, Scalars, run_xp
from .losses import ASRL
from .params import NEWTON_ONLY, autograd_params, with_autograd_params

__all__ = ["NEWTON_ONLY", "asrl_loss", "asrl_statistics"]

Array = jax.Array
Function = TypeVar("Function", bound=Callable[..., Any])

# Statistics are values: as a pytree they cross jit, vmap and scan boundaries (a jitted
# asrl_statistics, running statistics in an optimiser's state).
jax.tree_util.register_dataclass(ASRLStatistics, data_fields=["deltas", "scales"], meta_fields=[])

# --------------------------------------------------------------------------------------
# Inputs and residual statistics
# --------------------------------------------------------------------------------------


def _compute_dtype(predictions: Array, targets: Array) -> Any:
    """float32 for half-precision and integer inputs, else the promoted float dtype."""
    dtype = jnp.result_type(predictions, targets)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"predictions and targets must be real; got dtype {dtype}.")
    if not jnp.issubdtype(dtype, jnp.floating) or np.dtype(dtype).itemsize < 4:
        return jnp.float32
    return dtype


def _residuals(predictions: Array, targets: Array) -> Array:
    """``predictions - targets`` as arrays of the compute dtype, after the shape checks."""
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError(
            "predictions and targets must have the same shape (no broadcasting); got "
            f"{predictions.shape} and {targets.shape}."
        )
    if predictions.size == 0:
        raise ValueError("predictions and targets are empty; at least one element is needed.")
    dtype = _compute_dtype(predictions, targets)
    return predictions.astype(dtype) - targets.astype(dtype)


def _order_statistics(x: Array, ranks: Sequence[int]) -> dict[int, Array]:
    """Values of the given 0-based ranks in sorted flat ``x``: one sort."""
    ordered = jnp.sort(x)
    return {rank: ordered[rank] for rank in ranks}


def _times(c: float, sigma: Array) -> Array:
    """``c * sigma`` rounded once from float64, as the numpy driver does (needs x64)."""
    return (c * sigma.astype(jnp.float64)).astype(sigma.dtype)


def _statistics(u: Array, loss: ASRL) -> ASRLStatistics:
    """The loss's rule run on the residuals ``u``: statistics of 0-d arrays.

    The rule sees the numpy core's fixed subsample above ``threshold_sample``
    elements, and ``max |u|`` over all elements when it asks for it.
    """
    flat = jax.lax.stop_gradient(u).reshape(-1)
    n, size = flat.shape[0], loss.sample_size
    sampled = size is not None and n > size
    sample = flat[np.asarray(sample_positions(n, size))] if sampled else flat
    x64 = jax.dtypes.canonicalize_dtype(np.float64) == np.float64
    times = _times if x64 and flat.dtype != jnp.float64 else (lambda c, x: c * x)
    ops = Scalars(jnp, np.finfo(flat.dtype), times)
    largest = (lambda: jnp.max(jnp.abs(flat))) if sampled else None
    statistics: ASRLStatistics = run_xp(
        loss.statistics_rule, sample, ops, _order_statistics, largest
    )
    return statistics


def _values(u: Array, loss: ASRL, statistics: ASRLStatistics | None) -> tuple[Array, ...]:
    """The given ``statistics`` (numbers or 0-d arrays) or these residuals', flat."""
    if statistics is None:
        statistics = _statistics(u, loss)
    else:
        loss.check_statistics(statistics)
    values = statistics.flat()
    return tuple(jax.lax.stop_gradient(jnp.asarray(v, dtype=u.dtype)) for v in values)


# --------------------------------------------------------------------------------------
# The loss with its closed-form derivative
# --------------------------------------------------------------------------------------


def _full(stats: tuple[Array, ...], shape: tuple[int, ...]) -> tuple[Array, ...]:
    """The statistics as arrays of ``shape``, materialised behind an optimisation barrier.

    XLA rewrites a division by a broadcast scalar into a multiplication by its
    reciprocal, which is not correctly rounded (about 4 float32 quotients in 10
    differ): ``log(max(|u|, d2) / d2)`` would then be ``-6e-8`` rather than 0 inside
    the thresholds, and the loss slightly negative at ``u = 0``. With full arrays
    every division is an elementwise, correctly rounded one, as in numpy.
    """
    full: tuple[Array, ...] = jax.lax.optimization_barrier(  # type: ignore[no-untyped-call]
        tuple(jnp.broadcast_to(s, shape) for s in stats)
    )
    return full


def _psi(u: Array, stats: tuple[Array, ...], weights: str) -> Array:
    if weights == "continuous":
        d1, d2 = stats
        psi: Array = formulas.continuous_psi(u, jnp.abs(u), d1, d2, xp=jnp)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        psi = formulas.stats_psi(u, jnp.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=jnp)
    return psi


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _rho(u: Array, stats: tuple[Array, ...], weights: str) -> Array:
    """The elementwise loss; its derivative in ``u`` is the closed-form ``psi``."""
    if weights == "continuous":
        d1, d2 = stats
        rho: Array = formulas.continuous_rho(jnp.abs(u), d1, d2, xp=jnp)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        rho = formulas.stats_rho(jnp.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=jnp)
    return rho


@_rho.defjvp
def _rho_jvp(
    weights: str, primals: tuple[Array, tuple[Array, ...]], tangents: tuple[Array, Any]
) -> tuple[Array, Array]:
    # The statistics are constants (computed under stop_gradient): their tangents drop.
    u, stats = primals
    du = tangents[0]
    return _rho(u, stats, weights), _psi(u, stats, weights) * du


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@with_autograd_params
def asrl_loss(
    predictions: Array,
    targets: Array,
    *,
    statistics: ASRLStatistics | None = None,
    **params: Any,
) -> Array:
    r"""Elementwise ASRL of ``predictions - targets`` (no reduction, as in optax).

    With ``u = predictions - targets`` and thresholds :math:`\delta_1 \le \delta_2`
    computed from the residuals under :func:`jax.lax.stop_gradient`, the loss for the
    default ``weights="continuous"`` is

    .. math::

        \rho(u) = \begin{cases}
            u^2 / 2 & |u| \le \delta_1 \\
            \delta_1 |u| - \delta_1^2 / 2 & \delta_1 < |u| \le \delta_2 \\
            \delta_1 \delta_2 \ln(|u| / \delta_2) + \delta_1 \delta_2 - \delta_1^2 / 2
                & |u| > \delta_2
        \end{cases}

    with derivative :math:`u`, :math:`\delta_1 \operatorname{sign}(u)`,
    :math:`\delta_1 \delta_2 / u` (``docs/maths.md``). The thresholds are computed
    from all elements together, whatever the shape.

    Parameters
    ----------
    predictions, targets : array of the same shape
        Any shape (no broadcasting). float16 and bfloat16 are computed in float32.
    statistics : asrl.core.rules.ASRLStatistics, optional
        Thresholds (and, for ``weights="stats"``, scales) to use instead of computing
        them; fields may be Python numbers (validated when the value is made) or 0-d
        arrays (traced values included; the value is a pytree).
    q_low, q_high, thresholds, c1, c2, weights, threshold_sample
        ASRL's parameters: see :class:`asrl.params.ASRLParams`, which defines,
        defaults and checks them for every adapter. Above ``threshold_sample``
        elements the statistics come from the numpy core's fixed subsample of that
        size; None: always exact (one sort of all elements). ``hessian`` and
        ``min_hessian`` are for Newton learners and raise :class:`TypeError` here.

    Returns
    -------
    Array of the inputs' shape, in their promoted dtype (float32 for half-precision
    and integer inputs).

    Examples
    --------
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from asrl.jax import asrl_loss
    >>> pred = jnp.array([0.1, -0.2, 0.4, 1.0, 50.0])
    >>> loss = lambda p: asrl_loss(p, jnp.zeros(5), q_low=0.5, q_high=0.75).sum()
    >>> np.asarray(jax.jit(jax.grad(loss))(pred), dtype=float).round(6).tolist()
    [0.1, -0.2, 0.4, 0.4, 0.008]
    """
    loss = ASRL(**autograd_params(params, "asrl.jax"))
    u = _residuals(predictions, targets)
    return _rho(u, _full(_values(u, loss, statistics), u.shape), loss.params.weights)


@with_autograd_params
def asrl_statistics(predictions: Array, targets: Array, **params: Any) -> ASRLStatistics:
    """The statistics :func:`asrl_loss` computes for these arrays, as 0-d arrays.

    Pass them back as ``asrl_loss(..., statistics=...)``.
    :class:`~asrl.core.rules.ASRLStatistics` is
    registered as a pytree, so the value may be returned from and passed to jitted
    functions.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from asrl.jax import asrl_statistics
    >>> d1, d2 = asrl_statistics(jnp.arange(-5.0, 6.0), jnp.zeros(11)).deltas
    >>> float(d1), float(d2)
    (3.0, 5.0)
    """
    loss = ASRL(**autograd_params(params, "asrl.jax"))
    return _statistics(_residuals(predictions, targets), loss)
