"""The error an adapter raises when its framework is not installed.

Each adapter imports its framework as ::

    try:
        import xgboost as xgb
    except ModuleNotFoundError as error:
        raise missing("XGBoost", "xgboost") from error

so that the message names the extra to install (``pip install "asrl[xgboost]"``).
"""

from __future__ import annotations

__all__ = ["missing"]


def missing(framework: str, extra: str) -> ImportError:
    """An ImportError saying that ``framework`` is needed and which extra installs it.

    Examples
    --------
    >>> print(missing("LightGBM", "lightgbm"))
    this part of asrl needs LightGBM, which is not installed: pip install "asrl[lightgbm]"
    """
    return ImportError(
        f'this part of asrl needs {framework}, which is not installed: pip install "asrl[{extra}]"'
    )
