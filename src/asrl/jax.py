r"""ASRL for JAX: :func:`asrl_loss`, elementwise like optax's losses.

A thin adapter over :mod:`asrl.core`: the loss is ``core.continuous_rho`` (or
``core.stats_rho``) on ``jax.numpy`` arrays, its derivative is the closed form
``core.continuous_psi`` (or ``core.stats_psi``) through a :func:`jax.custom_jvp`,
and the thresholds follow the core's rules (``core.quantile_thresholds_xp`` and
friends) on the residuals under :func:`jax.lax.stop_gradient`. The order statistics
come from one :func:`jax.numpy.sort`, so the thresholds equal the numpy core's in
the same dtype (float32 unless ``jax_enable_x64`` is set), with two exceptions:
the standard deviation of the "stats" weights sums in XLA's order (last bits), and
without x64 the scale rule rounds ``c * sigma`` in float32 rather than once from
float64 (at most one unit in the last place).

Everything is ``jit``-, ``grad``- and ``vmap``-compatible; the shapes, and so the
ranks of the order statistics, are static. Import this module only when jax is
installed (``pip install 'asrl[jax]'``); ``import asrl`` never imports jax.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import core
from .losses import ASRL, _check_deltas, _check_scales

__all__ = ["asrl_loss", "asrl_thresholds"]

Array = jax.Array


def _order_statistics(x: Array, ranks: Sequence[int]) -> dict[int, Array]:
    """Values of the given 0-based ranks in sorted flat ``x``: one sort."""
    ordered = jnp.sort(x)
    return {rank: ordered[rank] for rank in ranks}


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


def _times(c: float, sigma: Array) -> Array:
    """``c * sigma`` rounded once from float64, as the numpy core does (needs x64)."""
    return (c * sigma.astype(jnp.float64)).astype(sigma.dtype)


def _fixed(name: str, values: Any, check: Any, dtype: Any) -> list[Array]:
    """Statistics given by the caller as 0-d arrays; Python numbers are validated."""
    given = values
    values = list(values)
    if all(isinstance(v, numbers.Real) for v in values):
        values = list(check(given))
    count = 2 if name == "deltas" else 3
    if len(values) != count:
        raise TypeError(f"{name} must have {count} values; got {len(values)}.")
    return [jax.lax.stop_gradient(jnp.asarray(v, dtype=dtype)) for v in values]


def _statistics(u: Array, spec: ASRL, deltas: Any = None, scales: Any = None) -> tuple[Array, ...]:
    """``(d1, d2)``, plus the three scales for the "stats" weights, as 0-d arrays."""
    flat = jax.lax.stop_gradient(u).reshape(-1)
    finfo = np.finfo(flat.dtype)
    size = spec.threshold_sample
    sample = flat
    if size is not None and flat.shape[0] > size:
        sample = flat[np.asarray(core._sample_positions(flat.shape[0], size))]
    if deltas is not None:
        d1, d2 = _fixed("deltas", deltas, _check_deltas, flat.dtype)
    elif spec.threshold_rule == "quantile":
        d1, d2 = core.quantile_thresholds_xp(
            jnp.abs(sample), spec.q_low, spec.q_high, finfo, _order_statistics, jnp
        )
    else:
        x64 = jax.dtypes.canonicalize_dtype(np.float64) == np.float64
        times = _times if x64 and flat.dtype != jnp.float64 else None
        largest = jnp.max(jnp.abs(flat))
        d1, d2 = core.scale_thresholds_xp(
            sample, largest, spec.c1, spec.c2, finfo, _order_statistics, jnp, times
        )
    if spec.weights == "continuous":
        return d1, d2
    d1, d2 = core.stats_deltas_xp(d1, d2, finfo, jnp)
    if scales is None:
        s_var, s_iqr, s_mad = core.stats_scales_xp(sample, finfo, _order_statistics, jnp)
    else:
        s_var, s_iqr, s_mad = _fixed("scales", scales, _check_scales, flat.dtype)
    return d1, d2, s_var, s_iqr, s_mad


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
        psi: Array = core.continuous_psi(u, jnp.abs(u), d1, d2, xp=jnp)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        psi = core.stats_psi(u, jnp.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=jnp)
    return psi


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _rho(u: Array, stats: tuple[Array, ...], weights: str) -> Array:
    """The elementwise loss; its derivative in ``u`` is the closed-form ``psi``."""
    if weights == "continuous":
        d1, d2 = stats
        rho: Array = core.continuous_rho(jnp.abs(u), d1, d2, xp=jnp)
    else:
        d1, d2, s_var, s_iqr, s_mad = stats
        rho = core.stats_rho(jnp.abs(u), d1, d2, s_var, s_iqr, s_mad, xp=jnp)
    return rho


@_rho.defjvp
def _rho_jvp(
    weights: str, primals: tuple[Array, tuple[Array, ...]], tangents: tuple[Array, Any]
) -> tuple[Array, Array]:
    # The statistics are constants (computed under stop_gradient): their tangents drop.
    u, stats = primals
    du = tangents[0]
    return _rho(u, stats, weights), _psi(u, stats, weights) * du


def asrl_loss(
    predictions: Array,
    targets: Array,
    *,
    q_low: float = 0.5,
    q_high: float = 0.9,
    thresholds: str = "quantile",
    c1: float = 1.345,
    c2: float = 3.0,
    weights: str = "continuous",
    threshold_sample: int | None = 65536,
    deltas: Sequence[float | Array] | None = None,
    scales: Sequence[float | Array] | None = None,
) -> Array:
    r"""Elementwise ASRL of ``predictions - targets`` (no reduction, as in optax).

    With ``u = predictions - targets`` and thresholds :math:`\delta_1 \le \delta_2`
    computed from :math:`|u|` under :func:`jax.lax.stop_gradient`, the loss for the
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
    q_low, q_high, thresholds, c1, c2, weights
        As for :class:`asrl.ASRL`, validated the same way.
    threshold_sample : int or None, default 65536
        Above this many elements the thresholds come from the numpy core's fixed
        subsample of this size (``asrl.core.subsample`` states the accuracy); exact
        below. None: always exact (one sort of all elements).
    deltas : pair of float or 0-d array, optional
        Thresholds to use instead of computing them; Python numbers are validated.
    scales : triple of float or 0-d array, optional
        ``(s_var, s_iqr, s_mad)`` for ``weights="stats"``, likewise.

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
    spec = ASRL.autograd_spec(q_low, q_high, thresholds, c1, c2, weights, threshold_sample)
    u = _residuals(predictions, targets)
    return _rho(u, _full(_statistics(u, spec, deltas, scales), u.shape), spec.weights)


def asrl_thresholds(
    predictions: Array,
    targets: Array,
    *,
    q_low: float = 0.5,
    q_high: float = 0.9,
    thresholds: str = "quantile",
    c1: float = 1.345,
    c2: float = 3.0,
    threshold_sample: int | None = 65536,
) -> tuple[Array, Array]:
    """The thresholds ``(delta1, delta2)`` of :func:`asrl_loss`, as 0-d arrays.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from asrl.jax import asrl_thresholds
    >>> d1, d2 = asrl_thresholds(jnp.arange(-5.0, 6.0), jnp.zeros(11))
    >>> float(d1), float(d2)
    (3.0, 5.0)
    """
    spec = ASRL.autograd_spec(q_low, q_high, thresholds, c1, c2, "continuous", threshold_sample)
    d1, d2 = _statistics(_residuals(predictions, targets), spec)
    return d1, d2
