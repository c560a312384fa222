"""ASRL, the Adaptive Segmented Robust Loss, and the baselines it is measured against.

``import asrl`` loads numpy only; the integrations (XGBoost, LightGBM, CatBoost,
scikit-learn, PyTorch, JAX, Dask) live in submodules named after each framework and
import it on first use.
"""

from .core.rules import THRESHOLD_RULES, ASRLStatistics, DeltaStatistics
from .losses import (
    ASRL,
    LOSSES,
    AbsoluteError,
    AdaptiveHuber,
    AutoPseudoHuber,
    BaseLoss,
    Huber,
    PseudoHuber,
    SquaredError,
    get_loss,
)
from .params import ASRLParams, parse_params

__version__ = "0.1.0"

__all__ = [
    "ASRL",
    "LOSSES",
    "THRESHOLD_RULES",
    "ASRLParams",
    "ASRLStatistics",
    "AbsoluteError",
    "AdaptiveHuber",
    "AutoPseudoHuber",
    "BaseLoss",
    "DeltaStatistics",
    "Huber",
    "PseudoHuber",
    "SquaredError",
    "__version__",
    "get_loss",
    "parse_params",
]
