"""ASRL, the Adaptive Segmented Robust Loss, and the baselines it is measured against.

``import asrl`` loads numpy only; the integrations (XGBoost, LightGBM, CatBoost,
scikit-learn, PyTorch, JAX, Dask) live in submodules named after each framework and
import it on first use.
"""

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

__version__ = "0.1.0"

__all__ = [
    "ASRL",
    "LOSSES",
    "AbsoluteError",
    "AdaptiveHuber",
    "AutoPseudoHuber",
    "BaseLoss",
    "Huber",
    "PseudoHuber",
    "SquaredError",
    "__version__",
    "get_loss",
]
