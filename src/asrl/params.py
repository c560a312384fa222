"""Typed parameter records: every loss's parameters, defaults and checks, written once.

Each loss in :data:`asrl.LOSSES` has one frozen dataclass of parameters (its
``Params``): the loss object holds one, every estimator and the PyTorch, JAX and Dask
adapters build one from their keywords, and the benchmark's ``asrl[key=value,...]``
spelling is parsed into one by :func:`parse_params`, which converts each value by its
field's type. The checks run in ``__post_init__``, so a record that exists is valid.

Examples
--------
>>> from asrl.params import ASRLParams, parse_params
>>> ASRLParams(q_low=0.3).q_high
0.9
>>> parse_params(ASRLParams, "q_low=1e-1,threshold_sample=none")
ASRLParams(q_low=0.1, q_high=0.9, thresholds='capped', c1=1.345, c2=2.5, \
weights='continuous', hessian='irls', min_hessian=1e-06, threshold_sample=None)
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from ._validation import check_choice, check_interval
from .core.rules import THRESHOLD_RULES

__all__ = [
    "HESSIANS",
    "NEWTON_ONLY",
    "WEIGHTS",
    "ASRLParams",
    "AdaptiveHuberParams",
    "AutoPseudoHuberParams",
    "HuberParams",
    "NoParams",
    "PseudoHuberParams",
    "autograd_params",
    "parse_params",
    "record_fields",
    "with_autograd_params",
]

#: Curvatures a Newton learner can be given (``hessian=``).
HESSIANS = ("irls", "exact", "unit")
#: ASRL's region weights (``weights=``).
WEIGHTS = ("continuous", "stats")

Record = TypeVar("Record")
Function = TypeVar("Function", bound=Callable[..., Any])

#: Parameters of :class:`ASRLParams` that autograd has no use for: the curvature given
#: to Newton learners (boosting). Autograd differentiates the loss itself.
NEWTON_ONLY = ("hessian", "min_hessian")


def _set(record: Any, name: str, value: Any) -> None:
    object.__setattr__(record, name, value)  # frozen: the checks store normalised values


def _check_hessian(record: Any) -> None:
    _set(record, "hessian", check_choice("hessian", record.hessian, HESSIANS))
    _set(
        record,
        "min_hessian",
        check_interval("min_hessian", record.min_hessian, 0.0, 1.0, high_open=False),
    )


@dataclass(frozen=True)
class NoParams:
    """The record of a loss without parameters (squared and absolute error)."""


@dataclass(frozen=True)
class ASRLParams:
    r"""ASRL's parameters, with their defaults and checks.

    Parameters
    ----------
    q_low, q_high : float, default 0.5 and 0.9
        Quantile levels of :math:`|u|` for ``thresholds="quantile"`` and
        ``"capped"``; ``0 < q_low < q_high < 1``.
    thresholds : str, default "capped"
        A rule of :data:`asrl.core.rules.THRESHOLD_RULES`: ``"capped"``,
        :math:`\delta_j = \min(Q(|u|, q_j),\ c_j \cdot 1.4826\, Q(|u|, 0.5))`
        (the quantile rule, kept on the inliers' scale when more than
        ``1 - q_high`` of the residuals are outliers; docs/defaults.md);
        ``"quantile"``, :math:`\delta_j = Q(|u|, q_j)` (the paper's, asrl 0.1's
        default); ``"scale"``, :math:`\delta_j = c_j \cdot 1.4826\, \mathrm{MAD}(u)`.
    c1, c2 : float, default 1.345 and 2.5
        Multipliers of the robust scale for ``thresholds="capped"`` and ``"scale"``;
        ``0 < c1 < c2``.
    weights : {"continuous", "stats"}, default "continuous"
        ``"continuous"``: the region weights that make the loss and its gradient
        continuous; ``"stats"``: each region normalised by a residual scale (std, IQR,
        MAD), our reading of the paper, discontinuous at the thresholds.
    hessian : {"irls", "exact", "unit"}, default "irls"
        The curvature given to Newton learners: ``psi(u) / u`` (a majorizer), the
        second derivative floored at ``min_hessian``, or 1.
    min_hessian : float, default 1e-6
        Floor of the ``"exact"`` hessian, in (0, 1].
    threshold_sample : int or None, default 65536
        Above this many residuals the statistics (thresholds, scales) come from a
        fixed pseudo-random subsample of this size (:func:`asrl.core.quantiles.subsample`:
        quantile levels within 0.0105 with probability 1 - 1e-6); exact below. None:
        always exact. At least 100.
    """

    q_low: float = 0.5
    q_high: float = 0.9
    thresholds: str = "capped"
    c1: float = 1.345
    c2: float = 2.5
    weights: str = "continuous"
    hessian: str = "irls"
    min_hessian: float = 1e-6
    threshold_sample: int | None = 65536

    def __post_init__(self) -> None:
        _set(self, "q_low", check_interval("q_low", self.q_low, 0.0, 1.0))
        _set(self, "q_high", check_interval("q_high", self.q_high, 0.0, 1.0))
        if not self.q_low < self.q_high:
            raise ValueError(
                f"q_low must be < q_high; got q_low={self.q_low!r}, q_high={self.q_high!r}."
            )
        _set(self, "thresholds", check_choice("thresholds", self.thresholds, THRESHOLD_RULES))
        _set(self, "c1", check_interval("c1", self.c1, 0.0, math.inf))
        _set(self, "c2", check_interval("c2", self.c2, 0.0, math.inf))
        if not self.c1 < self.c2:
            raise ValueError(f"c1 must be < c2; got c1={self.c1!r}, c2={self.c2!r}.")
        _set(self, "weights", check_choice("weights", self.weights, WEIGHTS))
        _check_hessian(self)
        size = self.threshold_sample
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int):
                raise TypeError(f"threshold_sample must be an int >= 100 or None; got {size!r}.")
            if size < 100:
                raise ValueError(f"threshold_sample must be an int >= 100 or None; got {size!r}.")


@dataclass(frozen=True)
class HuberParams:
    """Huber's parameters: ``delta`` (> 0, in the units of ``y``) and the hessian."""

    delta: float = 1.0
    hessian: str = "irls"
    min_hessian: float = 1e-6

    def __post_init__(self) -> None:
        _set(self, "delta", check_interval("delta", self.delta, 0.0, math.inf))
        _check_hessian(self)


@dataclass(frozen=True)
class AdaptiveHuberParams:
    """Adaptive Huber's parameters: the level ``alpha`` in (0, 1) and the hessian."""

    alpha: float = 0.9
    hessian: str = "irls"
    min_hessian: float = 1e-6

    def __post_init__(self) -> None:
        _set(self, "alpha", check_interval("alpha", self.alpha, 0.0, 1.0))
        _check_hessian(self)


#: Curvatures of pseudo-Huber (``hessian=``): its IRLS weight or its second derivative.
PSEUDO_HUBER_HESSIANS = ("irls", "exact")


@dataclass(frozen=True)
class PseudoHuberParams:
    """Pseudo-Huber's slope ``delta`` (> 0, in the units of ``y``) and curvature.

    ``hessian="irls"`` (default) gives Newton learners the IRLS weight
    ``psi(u) / u = (1 + (u/delta)^2)^(-1/2)``, a majorizer, so a Newton step cannot
    overshoot; ``"exact"`` the second derivative ``(1 + (u/delta)^2)^(-3/2)``, as
    XGBoost's ``reg:pseudohubererror``, which is so small for large residuals that
    LightGBM's unregularised leaves (``lambda_l2 = 0``) blow up (measured: R² -12.9).
    """

    delta: float = 1.0
    hessian: str = "irls"

    def __post_init__(self) -> None:
        _set(self, "delta", check_interval("delta", self.delta, 0.0, math.inf))
        _set(self, "hessian", check_choice("hessian", self.hessian, PSEUDO_HUBER_HESSIANS))


@dataclass(frozen=True)
class AutoPseudoHuberParams:
    """Automatic pseudo-Huber's curvature: ``hessian`` as for :class:`PseudoHuberParams`."""

    hessian: str = "irls"

    def __post_init__(self) -> None:
        _set(self, "hessian", check_choice("hessian", self.hessian, PSEUDO_HUBER_HESSIANS))


def record_fields(record: type[Any]) -> dict[str, Any]:
    """The fields of a record class with their defaults, in declaration order.

    Examples
    --------
    >>> record_fields(HuberParams)
    {'delta': 1.0, 'hessian': 'irls', 'min_hessian': 1e-06}
    """
    return {f.name: f.default for f in dataclasses.fields(record)}


def _convert(name: str, text: str, kind: Any) -> Any:
    """``text`` as a value of the field type ``kind`` (float, int, str, or X | None)."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (Union, types.UnionType) else ()
    if options:
        if text.lower() == "none" and type(None) in options:
            return None
        (kind,) = [option for option in options if option is not type(None)]
    if kind is str:
        return text
    try:
        if kind is float:
            return float(text)
        if kind is int:
            return int(text)
    except ValueError:
        noun = "a number" if kind is float else "an integer"
        suffix = " or none" if options else ""
        raise ValueError(f"{name} must be {noun}{suffix}; got {text!r}.") from None
    raise TypeError(f"cannot parse a parameter of type {kind!r}")  # pragma: no cover


def parse_params(record: type[Record], text: str) -> Record:
    """A record from ``"key=value,key=value"``, each value converted by its field's type.

    Floats accept any Python float spelling (``1e-3``), integers decimal digits,
    optional fields ``none``. An unknown key raises ``ValueError`` naming the valid
    keys; a value of the wrong type names the field and the type.

    Examples
    --------
    >>> parse_params(HuberParams, "delta=2")
    HuberParams(delta=2.0, hessian='irls', min_hessian=1e-06)
    >>> parse_params(ASRLParams, "qlow=0.3")
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter 'qlow'; valid keys: q_low, q_high, thresholds, c1, c2, \
weights, hessian, min_hessian, threshold_sample.
    """
    types_ = typing.get_type_hints(record)
    fields = record_fields(record)
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = (s.strip() for s in item.partition("="))
        if key not in fields:
            valid = ", ".join(fields) or "none (this loss has no parameters)"
            raise ValueError(f"unknown parameter {key!r}; valid keys: {valid}.")
        if not equals or not value:
            raise ValueError(f"parameter {key!r} needs a value: write {key}=VALUE.")
        if key in values:
            raise ValueError(f"parameter {key!r} is given twice.")
        values[key] = _convert(key, value, types_[key])
    return record(**values)


def _autograd_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(ASRLParams) if f.name not in NEWTON_ONLY]


def autograd_params(params: dict[str, Any], adapter: str) -> dict[str, Any]:
    """``params`` if they are ASRL parameters an autograd adapter takes; else a TypeError
    that names the adapter and the valid keys (``hessian``: why it does not apply).

    Examples
    --------
    >>> autograd_params({"q_low": 0.3}, "asrl.torch")
    {'q_low': 0.3}
    >>> autograd_params({"hessian": "exact"}, "asrl.jax")
    Traceback (most recent call last):
    ...
    TypeError: hessian is for Newton learners (boosting); autograd differentiates the \
loss itself, so asrl.jax does not take it.
    """
    fields = {f.name for f in _autograd_fields()}
    unknown = sorted(set(params) - fields)
    for name in unknown:
        if name in NEWTON_ONLY:
            raise TypeError(
                f"{name} is for Newton learners (boosting); autograd differentiates the "
                f"loss itself, so {adapter} does not take it."
            )
    if unknown:
        valid = ", ".join(f.name for f in _autograd_fields())
        raise TypeError(f"unexpected parameter(s) {', '.join(unknown)}; valid: {valid}.")
    return params


def with_autograd_params(function: Function) -> Function:
    """Show ASRL's autograd parameters (the record's fields and defaults, less
    :data:`NEWTON_ONLY`) in place of ``function``'s final ``**params``."""
    signature = inspect.signature(function)
    *head, _ = signature.parameters.values()
    fields = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type
        )
        for f in _autograd_fields()
    ]
    function.__signature__ = signature.replace(parameters=[*head, *fields])  # type: ignore[attr-defined]
    return function
