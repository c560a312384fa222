"""The benchmark's loss names: baselines, ASRL's variants and ``name[key=value,...]``.

A benchmark loss is a loss of :data:`asrl.LOSSES` with some of its parameters set. Its
parameters are parsed into the loss's own typed record (``LOSSES[name].Params``, see
:mod:`asrl.params`), which converts each value by its field's type and names the valid
keys when a key is wrong: ``asrl[q_low=1e-1,threshold_sample=65536]``,
``huber[delta=2]``, ``huber-adaptive[alpha=0.8]``.

``huber`` and ``pseudo-huber`` without a ``delta`` get one on the scale of the
training labels (1.4826 MAD), as a fair comparison needs; with ``delta=`` it is used
as given, in the units of the target.

The learners' own robust objectives are baselines too (:data:`NATIVE`):
``huber-native`` (LightGBM ``huber``, CatBoost ``Huber``), ``fair-native`` (LightGBM
``fair``) and ``lq-native`` (CatBoost ``Lq:q=1.5``). They start from the median of
the training labels, and their scale (``alpha``, ``fair_c``, ``delta``) is 1.4826 MAD
of the training labels, as our own Huber's is; a learner without the objective skips
it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ASRL_VARIANTS",
    "BASELINES",
    "DEFAULT_LOSSES",
    "NATIVE",
    "LossSpec",
    "asrl_params",
    "default_losses",
    "linear_skip_reason",
    "parse_loss",
    "parse_losses",
    "skip_reason",
]

#: ASRL configurations by benchmark name: ``asrl`` is the package default, each
#: ``asrl-<what differs>`` changes one thing.
#: The variants spell out every threshold parameter, so they keep their meaning
#: whatever the defaults become: ``asrl-paper`` is the paper's rule (quantile
#: thresholds at 0.5 and 0.9, region weights from residual statistics, our reading),
#: ``asrl-quantile`` asrl 0.1's default (the same thresholds, continuous weights),
#: ``asrl-scale`` the MAD-scale rule at Huber's 1.345 and 3.
ASRL_VARIANTS: dict[str, dict[str, Any]] = {
    "asrl": {},
    "asrl-quantile": {
        "thresholds": "quantile",
        "q_low": 0.5,
        "q_high": 0.9,
        "c1": 1.345,
        "c2": 3.0,
        "weights": "continuous",
    },
    "asrl-paper": {
        "thresholds": "quantile",
        "q_low": 0.5,
        "q_high": 0.9,
        "c1": 1.345,
        "c2": 3.0,
        "weights": "stats",
    },
    "asrl-scale": {"thresholds": "scale", "c1": 1.345, "c2": 3.0},
    "asrl-stats": {"weights": "stats"},
    "asrl-unit": {"hessian": "unit"},
}

BASELINES = ("mse", "mae", "pseudo-huber", "huber-adaptive", "pseudo-huber-auto")

#: The default comparison: baselines, then ASRL and its variants.
DEFAULT_LOSSES = (*BASELINES, "asrl", "asrl-quantile", "asrl-paper")

#: Losses whose ``delta`` the benchmark sets from the training labels unless given.
SCALED_DELTA = ("huber", "pseudo-huber")

#: The learners' own robust objectives: benchmark name -> learner -> the objective
#: (its scale is 1.4826 MAD of the training labels; it starts from their median).
NATIVE: dict[str, dict[str, str]] = {
    "huber-native": {"lightgbm": "huber", "catboost": "Huber"},
    "fair-native": {"lightgbm": "fair"},
    "lq-native": {"catboost": "Lq:q=1.5"},
}


def default_losses(learner: str) -> tuple[str, ...]:
    """The default comparison for ``learner``: :data:`DEFAULT_LOSSES` and the learner's
    own robust objectives.

    Examples
    --------
    >>> default_losses("lightgbm")[-2:], default_losses("xgboost") == DEFAULT_LOSSES
    (('huber-native', 'fair-native'), True)
    """
    return (*DEFAULT_LOSSES, *(name for name, by in NATIVE.items() if learner in by))


@dataclass(frozen=True)
class LossSpec:
    """One benchmark loss: its label in results, its registry name, its parameters.

    ``params`` holds only the parameters that differ from the record's defaults (what
    an estimator must be told); ``record`` is the complete, validated record.
    """

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def native(self) -> bool:
        """Whether this is a learner's own objective (:data:`NATIVE`)."""
        return self.name in NATIVE

    @property
    def record(self) -> Any:
        from .. import LOSSES
        from ..params import NoParams

        return NoParams() if self.native else LOSSES[self.name].Params(**self.params)

    @property
    def scaled_delta(self) -> bool:
        """Whether the benchmark sets ``delta`` from the training labels."""
        return self.name in SCALED_DELTA and "delta" not in self.params

    def build(self) -> Any:
        """The library's loss object (a scaled ``delta`` left at the record's default)."""
        from .. import get_loss

        return get_loss(self.name, **self.params)

    def params_json(self) -> str:
        """Every parameter of the loss as canonical JSON (what a results row records)."""
        values = dataclasses.asdict(self.record)
        if self.native:
            values = {
                "objective": NATIVE[self.name],
                "scale": "1.4826 MAD of the training labels",
                "start": "median of the training labels",
            }
        if self.scaled_delta:
            values["delta"] = "1.4826 MAD of the training labels"
        return json.dumps(values, sort_keys=True)


def _known() -> str:
    from .. import LOSSES

    names = dict.fromkeys((*BASELINES, *ASRL_VARIANTS, *LOSSES, *NATIVE))
    return ", ".join(names)


def parse_loss(text: str) -> LossSpec:
    """A benchmark loss from its name, raising a one-line ``ValueError`` if it is wrong.

    Examples
    --------
    >>> parse_loss("asrl[q_low=1e-1,threshold_sample=65536]").params
    {'q_low': 0.1}
    >>> parse_loss("asrl-scale").params, parse_loss("huber[delta=2]").params
    ({'thresholds': 'scale', 'c2': 3.0}, {'delta': 2.0})
    >>> parse_loss("asrl[qlow=0.3]")
    Traceback (most recent call last):
    ...
    ValueError: --losses asrl[qlow=0.3]: unknown parameter 'qlow'; valid keys: q_low, \
q_high, thresholds, c1, c2, weights, hessian, min_hessian, threshold_sample.
    """
    from .. import LOSSES
    from ..params import parse_params

    label = text.strip()
    name, bracket, rest = label.partition("[")
    name = name.strip()
    if bracket and not rest.endswith("]"):
        raise ValueError(f"--losses {label}: close the parameters with ']', e.g. asrl[q_low=0.4].")
    if name in NATIVE:
        if bracket:
            raise ValueError(
                f"--losses {label}: {name} takes no parameters (its scale is set from the "
                "training labels)."
            )
        return LossSpec(label, name)
    if name in ASRL_VARIANTS:
        if bracket and name != "asrl":
            given = {item.split("=", 1)[0].strip() for item in rest[:-1].split(",")}
            items = ",".join(f"{k}={v}" for k, v in ASRL_VARIANTS[name].items() if k not in given)
            raise ValueError(
                f"--losses {label}: parameters go on asrl, not on the variant {name}; "
                f"write asrl[{items},{rest[:-1]}]."
            )
        preset = ASRL_VARIANTS[name]
        registry = "asrl"
    elif name in LOSSES:
        preset, registry = {}, name
    else:
        raise ValueError(
            f"--losses: unknown loss {name!r}; choose from {_known()}, or NAME[key=value,...]."
        )
    Params = LOSSES[registry].Params
    try:
        record = Params(**preset) if not bracket else parse_params(Params, rest[:-1])
    except (TypeError, ValueError) as error:
        raise ValueError(f"--losses {label}: {error}") from None
    defaults = Params()
    changed = {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)
        if getattr(record, f.name) != getattr(defaults, f.name)
    }
    return LossSpec(label, registry, changed)


def parse_losses(names: tuple[str, ...]) -> tuple[LossSpec, ...]:
    """Every loss of ``--losses``, refusing an empty list and a loss given twice."""
    if not names:
        raise ValueError(f"--losses: give at least one loss, e.g. --losses mse,asrl ({_known()}).")
    specs = tuple(parse_loss(name) for name in names)
    labels = [spec.label for spec in specs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"--losses lists {', '.join(twice)} twice; give each loss once.")
    return specs


def asrl_params(name: str) -> dict[str, Any] | None:
    """ASRL's parameters of a benchmark loss name (those differing from the defaults),
    or None for a baseline.

    Examples
    --------
    >>> asrl_params("asrl[q_low=0.7,q_high=0.95]"), asrl_params("asrl-scale")
    ({'q_low': 0.7, 'q_high': 0.95}, {'thresholds': 'scale', 'c2': 3.0})
    >>> asrl_params("mse") is None
    True
    """
    spec = parse_loss(name)
    return dict(spec.params) if spec.name == "asrl" else None


def skip_reason(learner: str, spec: LossSpec) -> str | None:
    """Why ``learner`` cannot fit this loss, or None if it can.

    Examples
    --------
    >>> skip_reason("xgboost", parse_loss("fair-native"))
    'it is an objective of LightGBM only'
    >>> skip_reason("lightgbm", parse_loss("fair-native")) is None
    True
    """
    if spec.native:
        owners = NATIVE[spec.name]
        if learner not in owners:
            names = " and ".join(
                {"lightgbm": "LightGBM", "catboost": "CatBoost"}[o] for o in owners
            )
            return f"it is an objective of {names} only"
        return None
    return linear_skip_reason(spec) if learner == "linear" else None


def linear_skip_reason(spec: LossSpec) -> str | None:
    """Why ``--learner linear`` (IRLS) cannot fit this loss, or None if it can."""
    if spec.name in ("mse", "mae"):
        return None  # scikit-learn's least squares and least absolute deviations
    if spec.name not in ("asrl", "huber", "huber-adaptive"):
        return "its curvature is not an IRLS weight"
    if spec.params.get("weights", "continuous") != "continuous":
        return "IRLS does not converge on the 'stats' weights"
    if spec.params.get("hessian", "irls") != "irls":
        return "IRLS uses its own curvature, psi(u)/u"
    if spec.name == "asrl":
        import inspect

        from ..linear import ASRLLinearRegressor

        accepted = inspect.signature(ASRLLinearRegressor).parameters
        other = [key for key in spec.params if key not in accepted]
        if other:
            return f"the linear model takes no {', '.join(other)}"
    return None
