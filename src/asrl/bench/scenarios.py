"""What the benchmark does to the data: which training labels it corrupts, with what
noise, and how it splits training from test rows.

Four scenarios (``--scenario``), each seeded by the seed, the fold, the contamination
level, the noise kind and the scenario:

- ``random``: the corrupted rows are drawn uniformly (the paper's protocol);
- ``leverage``: the rows with the most extreme features, those of largest leverage
  :math:`h_{ii}` of a linear fit on the standardised numeric features, where a wrong
  label moves a fit the most for its size;
- ``adversarial``: the rows whose labels are already farthest from the median
  (largest :math:`|y - \\mathrm{median}(y)|`), pushed further out by the noise;
- ``shift``: random rows as in ``random``, but a covariate-shift split instead of
  K-fold: train on the rows at or below a feature's 75th percentile, test on those
  above it. Split ``i`` shifts along the ``i``-th numeric feature ranked by its
  absolute Spearman correlation with the target (features with too few rows above
  the percentile are passed over).

The noise (``--kind``), on the scale of the standard deviation ``sd`` of the training
labels: ``symmetric``, ``y + s * U(3, 6) * sd`` with a random sign ``s``;
``asymmetric``, ``y + U(3, 6) * sd``; ``student-t``, ``y + t_1 * sd``. Under
``adversarial`` the same magnitudes point away from the median.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import KINDS, SCENARIOS

__all__ = [
    "KINDS",
    "SCENARIOS",
    "SHIFT_MIN_TEST",
    "contaminate",
    "leverage",
    "numeric_features",
    "shift_features",
    "splits",
]

#: Least share of rows strictly above its 75th percentile for a feature to shift along.
SHIFT_MIN_TEST = 0.1


def _top(score: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of the ``count`` rows of largest ``score``, ties broken at random."""
    order = rng.permutation(len(score))
    top = order[np.argsort(-score[order], kind="stable")[:count]]
    mask = np.zeros(len(score), dtype=bool)
    mask[top] = True
    return mask


def leverage(features: np.ndarray) -> np.ndarray:
    """Leverage :math:`h_{ii}` of each row in a linear fit on ``features`` with intercept.

    Missing values take their column's median; constant columns are left out; the
    columns are standardised. With no usable column every row has leverage ``1/n``.

    Examples
    --------
    >>> import numpy as np
    >>> h = leverage(np.array([[0.0], [1.0], [2.0], [10.0]]))
    >>> int(np.argmax(h)), round(float(h.sum()), 6)  # the extreme row; trace = p + 1
    (3, 2.0)
    """
    X = np.array(features, dtype=float, copy=True).reshape(len(features), -1)
    n = len(X)
    if X.shape[1]:
        medians = np.nanmedian(np.where(np.isnan(X).all(axis=0), 0.0, X), axis=0)
        X = np.where(np.isnan(X), medians, X)
        sd = X.std(axis=0)
        X = (X[:, sd > 0] - X[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    design = np.column_stack([np.ones(n), X])
    u, s, _ = np.linalg.svd(design, full_matrices=False)
    rank = s > s[0] * max(design.shape) * np.finfo(float).eps
    return np.asarray(np.sum(u[:, rank] ** 2, axis=1))


def contaminate(
    y: np.ndarray,
    fraction: float,
    kind: str,
    rng: np.random.Generator,
    *,
    scenario: str = "random",
    features: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a ``fraction`` of the training labels; return them and the mask.

    ``features`` (numeric, rows as in ``y``) are needed by ``scenario="leverage"``.
    The module docstring describes the scenarios and the noise kinds.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.arange(100.0)
    >>> noisy, bad = contaminate(y, 0.1, "asymmetric", np.random.default_rng(0))
    >>> int(bad.sum()), bool((noisy[bad] > y[bad]).all()), bool((noisy[~bad] == y[~bad]).all())
    (10, True, True)
    >>> noisy, bad = contaminate(y, 0.1, "symmetric", np.random.default_rng(0),
    ...                          scenario="adversarial")
    >>> sorted(np.flatnonzero(bad).tolist())  # the labels farthest from the median
    [0, 1, 2, 3, 4, 95, 96, 97, 98, 99]
    >>> bool((np.abs(noisy - 49.5)[bad] > np.abs(y - 49.5)[bad]).all())  # pushed further out
    True
    """
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if scenario not in SCENARIOS:
        raise ValueError(f"--scenario must be one of {', '.join(SCENARIOS)}; got {scenario!r}.")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"contamination must be in [0, 1); got {fraction!r}.")
    n = len(y)
    count = round(fraction * n)
    if scenario == "leverage":
        if features is None:
            raise ValueError("scenario='leverage' needs the features.")
        bad = _top(leverage(features), count, rng)
    elif scenario == "adversarial":
        bad = _top(np.abs(y - np.median(y)), count, rng)
    else:
        bad = np.zeros(n, dtype=bool)
        bad[rng.choice(n, count, replace=False)] = True
    scale = float(np.std(y))
    noisy = y.copy()
    count = int(bad.sum())
    if kind == "student-t":
        magnitude = rng.standard_t(1, count)
    elif kind == "symmetric" and scenario != "adversarial":
        magnitude = rng.choice([-1.0, 1.0], count) * rng.uniform(3, 6, count)
    else:
        magnitude = rng.uniform(3, 6, count)
    if scenario == "adversarial":
        outward = np.where(y[bad] >= np.median(y), 1.0, -1.0)
        magnitude = outward * np.abs(magnitude)
    noisy[bad] += magnitude * scale
    return noisy, bad


def numeric_features(X: pd.DataFrame) -> pd.DataFrame:
    """The numeric (not categorical) feature columns, as floats."""
    columns = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
    return X[columns].astype(float)


def shift_features(X: pd.DataFrame, y: np.ndarray) -> list[str]:
    """The features a ``shift`` split can use, most correlated with ``y`` first.

    A feature qualifies when at least :data:`SHIFT_MIN_TEST` of all rows lie strictly
    above its 75th percentile (a binary or mostly constant feature does not).
    """
    numeric = numeric_features(X)
    usable = []
    for column in numeric.columns:
        values = numeric[column].to_numpy()
        known = ~np.isnan(values)
        if known.sum() < 2:
            continue
        above = values[known] > np.quantile(values[known], 0.75)
        if above.sum() >= SHIFT_MIN_TEST * len(values) and (~above).sum() >= len(values) / 2:
            usable.append(column)
    if not usable:
        return []
    corr = numeric[usable].corrwith(pd.Series(y, index=numeric.index), method="spearman")
    strength = corr.abs().fillna(0.0)
    return sorted(usable, key=lambda column: (-strength[column], usable.index(column)))


def splits(
    scenario: str, X: pd.DataFrame, y: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) row indices of every split of one seed.

    K-fold (shuffled by ``seed``) for every scenario but ``shift``, which has one split
    per usable feature, at most ``folds`` (:func:`shift_features`); rows missing that
    feature are in neither part.
    """
    if scenario != "shift":
        from sklearn.model_selection import KFold

        return list(KFold(folds, shuffle=True, random_state=seed).split(y))
    result = []
    numeric = numeric_features(X)
    for column in shift_features(X, y)[:folds]:
        values = numeric[column].to_numpy()
        known = ~np.isnan(values)
        cut = np.quantile(values[known], 0.75)
        train = np.flatnonzero(known & (values <= cut))
        test = np.flatnonzero(known & (values > cut))
        result.append((train, test))
    return result
