r"""An MLP trained on contaminated labels with six losses, scored on clean labels.

scikit-learn's diabetes data (442 patients, 10 features; it ships with scikit-learn,
so nothing is downloaded) is split into training and test rows. A share of the
training labels is replaced by gross outliers, ``y + s * U(3, 6) * sd(y)`` with a
random sign ``s`` (the benchmark's "symmetric" contamination); the test labels stay
clean. For each seed, the same network, from the same initial weights and with the
same mini-batches, is trained with each loss:

- ``mse``: :class:`torch.nn.MSELoss`;
- ``huber``: :class:`torch.nn.HuberLoss` with ``delta=1``;
- ``l1``: :class:`torch.nn.L1Loss`;
- ``barron``: Barron's general robust loss at a fixed shape ``alpha`` (default 0,
  the Cauchy loss, whose tail grows logarithmically like ASRL's) and scale 1
  (:func:`barron_loss`, its closed form, written here);
- ``asrl``: :class:`asrl.torch.ASRLLoss` with its defaults (quantile thresholds at
  0.5 and 0.9);
- ``asrl-scale``: :class:`asrl.torch.ASRLLoss` with ``thresholds="scale"``.

Labels are centred on the median of the training labels and divided by their scaled
MAD (robust statistics, so the outliers do not set the unit; ``delta=1`` and the
scale 1 of Barron's loss are in this unit); features are standardised on the
training rows. The network is small and trained briefly (10-32-32-1, 30 epochs of
Adam): the budget at which it does best on clean labels. Trained much longer, it
memorises the outliers whatever the loss. Test R^2 and MAE are reported in the
original label units, as means over seeds.

Run ``python -m asrl.examples.mlp`` (about 15 seconds on one CPU thread); it prints a
table and, if matplotlib is installed, saves a plot of the test MAE per epoch.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..core.rules import mad_sigma, run_local
from ..torch import ASRLLoss
from .barron import general_loss
from .common import Split, fit, single_thread

__all__ = [
    "LOSS_NAMES",
    "MLPResult",
    "barron_loss",
    "format_table",
    "main",
    "run_mlp_example",
    "save_plot",
]

#: The losses of the MLP example.
LOSS_NAMES = ("mse", "huber", "l1", "barron", "asrl", "asrl-scale")


def barron_loss(input: Tensor, target: Tensor, *, alpha: float, c: float = 1.0) -> Tensor:
    r"""Mean of Barron's general robust loss at a fixed shape ``alpha`` and scale ``c``.

    .. math::

        \rho(x, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
        \left( \left( \frac{(x / c)^2}{|\alpha - 2|} + 1 \right)^{\alpha / 2} - 1 \right)

    with its limits :math:`\frac12 (x/c)^2` at :math:`\alpha = 2` and
    :math:`\log(\frac12 (x/c)^2 + 1)` at :math:`\alpha = 0` (Cauchy). ``alpha = 1``
    is the pseudo-Huber (Charbonnier) loss, ``alpha = -2`` Geman-McClure. The formula is
    :func:`asrl.examples.barron.general_loss`'s; the adaptive version, which learns the
    shape, is :class:`asrl.examples.barron.AdaptiveBarronLoss`.

    References
    ----------
    .. [1] J. T. Barron, "A General and Adaptive Robust Loss Function", CVPR 2019,
       arXiv:1701.03077.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [3.0]])
    >>> [round(barron_loss(v, torch.zeros(1), alpha=1.0).item(), 4) for v in x]
    [0.0, 0.4142, 2.1623]
    """
    return general_loss(input - target, alpha, c).mean()


@dataclass(frozen=True)
class MLPResult:
    """Test-set quality of one loss on one seed, and its test MAE after each epoch."""

    loss: str
    seed: int
    r2: float
    mae: float
    seconds: float
    mae_per_epoch: list[float] = field(repr=False)


def _split(contamination: float, seed: int, test_size: float) -> Split:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed
    )
    rng = np.random.default_rng(seed)
    bad = rng.random(len(y_train)) < contamination
    count = int(bad.sum())
    y_train = y_train.copy()
    y_train[bad] += rng.choice([-1.0, 1.0], count) * rng.uniform(3, 6, count) * y_train.std()
    mean, sd = X_train.mean(axis=0), X_train.std(axis=0)
    sigma = run_local(lambda ops: mad_sigma(), y_train)  # 1.4826 MAD, the numpy driver
    centre, unit = float(np.median(y_train)), float(sigma)

    def features(a: np.ndarray) -> Tensor:
        return torch.tensor((a - mean) / sd, dtype=torch.float32)

    labels = torch.tensor((y_train - centre) / unit, dtype=torch.float32)
    return Split(features(X_train), labels, features(X_test), y_test, centre, unit)


def _criterion(name: str, alpha: float) -> Callable[[Tensor, Tensor], Tensor]:
    if name == "mse":
        return nn.MSELoss()
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "l1":
        return nn.L1Loss()
    if name == "barron":
        return lambda input, target: barron_loss(input, target, alpha=alpha)
    if name == "asrl":
        return ASRLLoss()
    if name == "asrl-scale":
        return ASRLLoss(thresholds="scale")
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSS_NAMES)}.")


def run_mlp_example(
    *,
    losses: Sequence[str] = LOSS_NAMES,
    contamination: float = 0.3,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    epochs: int = 30,
    batch_size: int = 32,
    hidden: int = 32,
    lr: float = 1e-3,
    alpha: float = 0.0,
    test_size: float = 0.25,
) -> list[MLPResult]:
    """Train the same MLP with each loss on contaminated labels; score on clean ones.

    Deterministic: for each seed, the split, the contamination, the initial weights
    and the mini-batch order depend on the seed alone, and training runs on one CPU
    thread (the previous thread count is restored afterwards).

    Parameters
    ----------
    losses : sequence of str
        Names from :data:`LOSS_NAMES`.
    contamination : float
        Share of training labels replaced by gross outliers, in [0, 1).
    seeds : sequence of int
        One split, contamination and initialisation per seed.
    epochs, batch_size, hidden, lr
        Training: Adam with learning rate ``lr`` on a 10-``hidden``-``hidden``-1 ReLU
        network.
    alpha : float
        Shape of Barron's loss.
    test_size : float
        Share of rows held out, with clean labels.

    Returns
    -------
    list of MLPResult
        One per seed and loss, seed by seed, losses in the order given.

    Examples
    --------
    >>> results = run_mlp_example(losses=("mse", "asrl"), seeds=(0,), epochs=2)
    >>> [r.loss for r in results], len(results[0].mae_per_epoch)
    (['mse', 'asrl'], 2)
    """
    for name in losses:
        _criterion(name, alpha)  # unknown names fail before any training
    if not 0.0 <= contamination < 1.0:
        raise ValueError(f"contamination must be in [0, 1); got {contamination!r}.")
    with single_thread():
        results = []
        for seed in seeds:
            split = _split(contamination, seed, test_size)
            torch.manual_seed(seed)
            initial = nn.Sequential(
                nn.Linear(split.X_train.shape[1], hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, 1),
            )
            for name in losses:
                model = copy.deepcopy(initial)
                criterion = _criterion(name, alpha)
                results.append(_train(name, criterion, model, split, seed, epochs, batch_size, lr))
        return results


def _train(
    name: str,
    criterion: Callable[[Tensor, Tensor], Tensor],
    model: nn.Module,
    split: Split,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
) -> MLPResult:
    history: list[float] = []
    seconds = fit(
        model,
        criterion,
        split,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        on_epoch=lambda m: history.append(split.scores(m)[1]),
    )
    r2, mae = split.scores(model)
    return MLPResult(name, seed, r2, mae, seconds, history)


def _by_loss(results: Sequence[MLPResult]) -> dict[str, list[MLPResult]]:
    grouped: dict[str, list[MLPResult]] = {}
    for r in results:
        grouped.setdefault(r.loss, []).append(r)
    return grouped


def format_table(results: Sequence[MLPResult]) -> str:
    """Mean (and standard deviation over seeds) of test R^2 and MAE, best R^2 first."""
    rows = []
    for name, runs in _by_loss(results).items():
        r2 = np.array([r.r2 for r in runs])
        mae = np.array([r.mae for r in runs])
        rows.append((name, r2.mean(), r2.std(), mae.mean(), mae.std(), len(runs)))
    lines = [f"{'loss':<12}{'test R^2':>16}{'test MAE':>18}{'seeds':>7}"]
    for name, r2, r2_sd, mae, mae_sd, count in sorted(rows, key=lambda row: -row[1]):
        lines.append(f"{name:<12}{r2:>9.3f} ± {r2_sd:.3f}{mae:>11.2f} ± {mae_sd:4.2f}{count:>7}")
    return "\n".join(lines)


def save_plot(results: Sequence[MLPResult], path: Path) -> bool:
    """Plot every loss's test MAE per epoch (mean over seeds); False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for name, runs in _by_loss(results).items():
        curve = np.mean([r.mae_per_epoch for r in runs], axis=0)
        axes.plot(np.arange(1, len(curve) + 1), curve, label=name)
    axes.set_xlabel("epoch")
    axes.set_ylabel("test MAE (clean labels)")
    axes.set_title("MLP on diabetes with contaminated training labels")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m asrl.examples.mlp [--contamination 0.3] [--seeds 5] [--plot FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contamination", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0, 1, ..., N-1")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=0.0, help="shape of Barron's loss")
    parser.add_argument("--plot", type=Path, default=Path("mlp_example.png"))
    args = parser.parse_args(argv)
    results = run_mlp_example(
        contamination=args.contamination,
        seeds=range(args.seeds),
        epochs=args.epochs,
        alpha=args.alpha,
    )
    print(
        f"MLP on scikit-learn's diabetes data: {args.contamination:.0%} of training labels "
        f"replaced by gross outliers, clean test labels; mean ± sd over {args.seeds} seeds."
    )
    print(format_table(results))
    if save_plot(results, args.plot):
        print(f"Test MAE per epoch plotted in {args.plot}.")
    else:
        print("matplotlib is not installed, so no plot (pip install matplotlib).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
