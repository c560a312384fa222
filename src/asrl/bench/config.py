"""Benchmark settings, kept free of heavy imports so ``asrl --help`` stays fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ASRL_VARIANTS",
    "BASELINES",
    "DEFAULT_DATASETS",
    "DEFAULT_LOSSES",
    "KINDS",
    "LEARNERS",
    "LINEAR_LOSSES",
    "PRESETS",
    "BenchConfig",
]

DEFAULT_DATASETS = ("diabetes", "boston", "concrete", "ames", "diamonds")

LEARNERS = ("xgboost", "lightgbm", "catboost", "linear")

#: Contamination kinds; see :func:`asrl.bench.data.contaminate`.
KINDS = ("symmetric", "asymmetric", "student-t")

#: ASRL configurations by benchmark name: ``asrl`` is the package default, each
#: ``asrl-<what differs>`` changes one thing.
ASRL_VARIANTS: dict[str, dict[str, Any]] = {
    "asrl": {},
    "asrl-scale": {"thresholds": "scale"},
    "asrl-stats": {"weights": "stats"},
    "asrl-unit": {"hessian": "unit"},
}

BASELINES = ("mse", "mae", "pseudo-huber", "huber-adaptive", "pseudo-huber-auto")

#: The default comparison: baselines, then ASRL and its variants.
DEFAULT_LOSSES = (*BASELINES, "asrl", "asrl-scale", "asrl-stats")

#: The losses a linear model fitted by IRLS can use (no pseudo-Huber: its curvature is
#: not an IRLS weight; no "stats" weights: IRLS does not converge on them).
LINEAR_LOSSES = ("mse", "mae", "huber-adaptive", "asrl", "asrl-scale")


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark run. See ``asrl bench --help``."""

    data: tuple[str, ...] = DEFAULT_DATASETS
    target: str | None = None
    contamination: tuple[float, ...] = (0.0, 0.1, 0.2)
    kind: str = "symmetric"
    losses: tuple[str, ...] = DEFAULT_LOSSES
    learner: str = "xgboost"
    seeds: int = 1
    folds: int = 4
    rounds: int = 200
    max_depth: int = 4
    learning_rate: float = 0.1
    max_rows: int | None = 3000
    jobs: int = 2
    out: Path = Path("asrl-results")
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> BenchConfig:
        """Check every setting; raise ``ValueError`` naming the option."""
        from .models import check_losses

        if self.kind not in KINDS:
            raise ValueError(f"--kind must be one of {', '.join(KINDS)}; got {self.kind!r}.")
        if self.learner not in LEARNERS:
            raise ValueError(
                f"--learner must be one of {', '.join(LEARNERS)}; got {self.learner!r}."
            )
        check_losses(self.losses)
        if self.learner == "linear":
            from .models import asrl_params

            def linear_ok(name: str) -> bool:
                params = asrl_params(name)
                if name in LINEAR_LOSSES or params is not None:
                    return params is None or params.get("weights") != "stats"
                return False

            bad = [name for name in self.losses if not linear_ok(name)]
            if bad:
                raise ValueError(
                    f"--learner linear cannot fit {', '.join(bad)}; it takes "
                    f"{', '.join(LINEAR_LOSSES)} and asrl[...] with continuous weights."
                )
        for name, value, low in (
            ("seeds", self.seeds, 1),
            ("folds", self.folds, 2),
            ("rounds", self.rounds, 1),
            ("jobs", self.jobs, 1),
            ("max-depth", self.max_depth, 1),
        ):
            if value < low:
                raise ValueError(f"--{name} must be at least {low}; got {value}.")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"--learning-rate must be in (0, 1]; got {self.learning_rate}.")
        if self.max_rows is not None and self.max_rows < 10:
            raise ValueError(f"--max-rows must be at least 10 (or 0 for all); got {self.max_rows}.")
        for c in self.contamination:
            if not 0 <= c < 1:
                raise ValueError(f"--contamination values must be in [0, 1); got {c}.")
        if not self.contamination:
            raise ValueError("--contamination: give at least one level.")
        if not self.data:
            raise ValueError("--data: give at least one dataset.")
        return self

    def settings(self) -> dict[str, Any]:
        """The settings that every result row records."""
        return {
            "folds": self.folds,
            "n_rounds": self.rounds,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "max_rows": self.max_rows if self.max_rows is not None else "",
        }


#: ``--quick`` (CI smoke test, under a minute) and ``--full`` (the complete protocol).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "data": ("diabetes", "concrete"),
        "contamination": (0.0, 0.2),
        "losses": ("mse", "huber-adaptive", "pseudo-huber-auto", "asrl"),
        "folds": 2,
        "rounds": 50,
        "max_rows": 1000,
    },
    "full": {"seeds": 3, "folds": 5, "rounds": 300, "max_rows": 20000},
}
