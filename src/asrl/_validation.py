"""Input checks shared by every loss: parameters in constructors, arrays in methods.

Messages name the parameter, the allowed range and the value received, in the
manner of scikit-learn's ``check_scalar``. Nothing here ever uses ``assert``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "check_choice",
    "check_interval",
    "check_pair",
    "check_residuals",
    "check_sample_weight",
    "check_target",
    "format_index",
]


def check_interval(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = True,
    high_open: bool = True,
) -> float:
    """Return ``value`` as a float if it is a real number inside the interval.

    Raises ``TypeError`` for non-numbers (bool included) and ``ValueError`` for NaN
    or values outside the interval, naming the parameter, the interval and the value.
    """
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number in {interval}; got {value!r} "
            f"of type {type(value).__name__}."
        )
    x = float(value)
    below = x <= low if low_open else x < low
    above = x >= high if high_open else x > high
    if math.isnan(x) or below or above:
        raise ValueError(f"{name} must be in {interval}; got {value!r}.")
    return x


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise ``ValueError``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
    return value


def format_index(flat_index: int, shape: tuple[int, ...]) -> str:
    """Format a flat index as the index a user would type for an array of ``shape``."""
    if len(shape) <= 1:
        return str(flat_index)
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape)))


def _float_dtype(*arrays: NDArray[Any]) -> np.dtype[Any]:
    dtype = np.result_type(*arrays)
    if dtype.kind == "c":
        raise TypeError(f"targets and predictions must be real; got dtype {dtype}.")
    if dtype.kind == "f":
        # float16 has too few bits for quantiles and logs: compute in float32.
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"targets and predictions must be numeric; got dtype {dtype}.")


def _as_array(name: str, value: ArrayLike) -> NDArray[Any]:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if array.dtype == object:
        raise TypeError(f"{name} must be numeric; got an array of Python objects.")
    return array


def _non_finite_message(name: str, array: NDArray[Any]) -> str | None:
    bad = ~np.isfinite(array)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None
    first = int(np.flatnonzero(bad)[0])
    return (
        f"{name} contains {count} non-finite value{'s' if count > 1 else ''} "
        f"(NaN or inf); the first is at index {format_index(first, array.shape)}."
    )


def check_target(name: str, value: ArrayLike) -> NDArray[np.floating[Any]]:
    """Check a single array of targets: numeric, non-empty, finite."""
    array = _as_array(name, value)
    dtype = _float_dtype(array)
    array = array.astype(dtype, copy=False)
    if array.size == 0:
        raise ValueError(f"{name} is empty; at least one sample is needed.")
    message = _non_finite_message(name, array)
    if message is not None:
        raise ValueError(message)
    return array


def check_pair(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]:
    """Targets and predictions as arrays of one float dtype and one non-empty shape.

    The checks of :func:`check_residuals` but finiteness, which that function proves
    from the residuals (a caller that forms them block by block checks each block's
    sum, and calls :func:`check_residuals` for the diagnosis when one is not finite).
    """
    true = _as_array("y_true", y_true)
    pred = _as_array("y_pred", y_pred)
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got {true.shape} and {pred.shape}."
        )
    if true.size == 0:
        raise ValueError("y_true and y_pred are empty; at least one sample is needed.")
    dtype = _float_dtype(true, pred)
    true = true.astype(dtype, copy=False)
    pred = pred.astype(dtype, copy=False)
    return true, pred


def check_residuals(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]:
    """Return ``(u, y_pred)`` with ``u = y_pred - y_true``, after checking both arrays.

    The dtype is float32 when both inputs are float32 (or float16), float64 when
    either is float64 or an integer type. Arrays already of that dtype are not copied.
    Shapes must be equal: broadcasting ``(n,)`` against ``(n, 1)`` would silently
    build an ``n x n`` array, so it is refused.
    """
    true, pred = check_pair(y_true, y_pred)
    dtype = true.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        u = np.subtract(pred, true)
        # One reduction instead of two elementwise isfinite passes. A finite sum
        # proves every term finite; a non-finite one (NaN, inf, or an overflowing
        # sum of finite values) sends us to the exact, slower diagnosis below.
        total = np.add.reduce(u, axis=None)
    if not np.isfinite(total):
        for name, array in (("y_true", true), ("y_pred", pred)):
            message = _non_finite_message(name, array)
            if message is not None:
                raise ValueError(message)
        message = _non_finite_message("y_pred - y_true", u)
        if message is not None:
            raise ValueError(
                message.replace("non-finite value", "overflowing residual", 1)
                + f" The residual overflows {dtype}; rescale the targets."
            )
    return u, pred


def check_sample_weight(
    sample_weight: ArrayLike | None, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> NDArray[np.floating[Any]] | None:
    """Check sample weights against the shape of the residuals; cast them to ``dtype``.

    Weights must be finite, non-negative and not all zero.
    """
    if sample_weight is None:
        return None
    weight = _as_array("sample_weight", sample_weight)
    if weight.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric; got dtype {weight.dtype}.")
    if weight.shape != shape:
        raise ValueError(
            f"sample_weight must have the same shape as y_true; got {weight.shape} and {shape}."
        )
    weight = weight.astype(dtype, copy=False)
    message = _non_finite_message("sample_weight", weight)
    if message is not None:
        raise ValueError(message)
    negative = weight < 0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"sample_weight must be non-negative; {int(negative.sum())} value(s) are "
            f"negative, the first at index {format_index(first, shape)} "
            f"({weight.flat[first]!r})."
        )
    if not weight.any():
        raise ValueError("sample_weight sums to zero; at least one weight must be positive.")
    return weight
