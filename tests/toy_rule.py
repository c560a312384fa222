"""A threshold rule that the package does not know, for the tests that register it."""

from __future__ import annotations

from asrl.core.rules import Quantiles, ordered_thresholds


def toy_rule(params, ops):
    """Thresholds at the 0.3 and 0.8 quantiles of |u|, whatever q_low and q_high say."""
    d1, d2, largest = yield Quantiles((0.3, 0.8))
    return ordered_thresholds(d1, d2, largest, ops)
