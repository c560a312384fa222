"""The numerical core, numpy only, in four modules by concern.

- :mod:`asrl.core.formulas`: the elementwise formulas (rho, psi, hessians) of every
  loss, over any array namespace.
- :mod:`asrl.core.quantiles`: order statistics, exact and frequency-weighted
  quantiles, the fixed subsample.
- :mod:`asrl.core.rules`: residual statistics (thresholds, scales, a Huber delta),
  each rule written once against requests for order statistics and moments, and the
  drivers that answer them with numpy or another array namespace.
- :mod:`asrl.core.sharded`: the same requests answered across workers by radix
  selection and summed moments.

The names below are re-exported for convenience.
"""

from .formulas import *  # noqa: F403
from .formulas import __all__ as _formulas
from .quantiles import *  # noqa: F403
from .quantiles import __all__ as _quantiles
from .rules import *  # noqa: F403
from .rules import __all__ as _rules
from .sharded import *  # noqa: F403
from .sharded import __all__ as _sharded

__all__ = [*_formulas, *_quantiles, *_rules, *_sharded]
