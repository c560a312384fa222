"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asrl import ASRL


@st.composite
def residual_arrays(draw, min_size=1, max_size=60, dtype=np.float64):
    """Residual vectors with a mix of scales, ties and exact zeros."""
    n = draw(st.integers(min_size, max_size))
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(-1e6, 1e6, allow_nan=False, width=width) | st.sampled_from([0.0, 1.0])
    return draw(arrays(dtype, n, elements=elements))


@st.composite
def asrl_losses(draw, weights=("continuous",), hessians=("irls", "exact", "unit")):
    """Valid ASRL configurations."""
    q_low = draw(st.floats(0.05, 0.9))
    q_high = draw(st.floats(q_low + 0.01, 0.99))
    c1 = draw(st.floats(0.5, 3.0))
    c2 = draw(st.floats(c1 * 1.05, 10.0))
    return ASRL(
        q_low=q_low,
        q_high=q_high,
        c1=c1,
        c2=c2,
        thresholds=draw(st.sampled_from(["quantile", "scale"])),
        weights=draw(st.sampled_from(list(weights))),
        hessian=draw(st.sampled_from(list(hessians))),
    )


@st.composite
def deltas(draw):
    """A valid pair 0 < d1 <= d2."""
    d1 = draw(st.floats(1e-3, 1e3))
    return d1, d1 * draw(st.floats(1.0, 50.0))
