"""Where results live, keyed by everything that defines them.

``out/all-results.csv`` and ``out/all-curves.csv`` hold every fit ever run into
``out``, appended, flushed and synced as each fit ends; a torn last line (a run killed
mid-write) is dropped on reading. A row's key is its identity: the dataset's name and
content hash, target and dropped columns, learner and its settings, scenario, noise
kind, contamination, loss and its parameters, seed and fold (:data:`KEY`). A run
reuses exactly the rows whose key it would compute.

``out/results.csv`` and ``out/curves.csv`` hold the current configuration's rows only:
each run rewrites them from the store when it starts, then appends each new fit.
They are what the report reads, and what a user opens.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["CURVE_COLUMNS", "KEY", "RESULT_COLUMNS", "ResultStore", "row_key"]

SETTINGS = ("folds", "n_rounds", "max_depth", "learning_rate", "max_rows")
#: What defines a fit (the columns of a row's key).
KEY = (
    "learner",
    "dataset",
    "scenario",
    "kind",
    "contamination",
    "loss",
    "seed",
    "fold",
    *SETTINGS,
    "target",
    "dropped",
    "data_hash",
    "loss_params",
    "extra",
)
#: What a fit measured (test-set metrics, cost, sizes).
METRICS = ("mse", "mae", "r2", "medae", "fit_seconds", "rounds", "n_train", "n_test")
#: The columns of results.csv: a fit's key, then its metrics.
RESULT_COLUMNS = (*KEY, *METRICS)
#: The columns of curves.csv: a fit's key, then the test error after each round.
CURVE_COLUMNS = (*KEY, "round", "test_mse", "test_r2")


def _canon(value: Any) -> str:
    if isinstance(value, float):
        return repr(float(value))
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if "." in text or "e" in text.lower() else text


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """The key of a result row (values as written or as read back from CSV)."""
    return tuple(_canon(row[column]) for column in KEY)


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Complete rows of a results file; a torn last line (killed mid-write) is dropped."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
        path.write_text("".join(lines))
    rows = list(csv.DictReader(lines))
    return [r for r in rows if None not in r and all(r.get(c) is not None for c in columns)]


def _append(path: Path, columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())


def _replace(path: Path, columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> None:
    """Write ``path`` anew, atomically (a kill leaves the old file or the new one)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    _append(partial, columns, rows)
    os.replace(partial, path)


def _header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle), [])


class ResultStore:
    """The results of one output folder (see the module docstring).

    ``notes`` says what opening it did to files of an older version of asrl (moved
    aside, since their rows lack the columns a key needs).
    """

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.all_results = out / "all-results.csv"
        self.all_curves = out / "all-curves.csv"
        self.results = out / "results.csv"
        self.curves = out / "curves.csv"
        self.notes: list[str] = []
        if not self.all_results.exists():
            for path, store, columns in (
                (self.curves, self.all_curves, CURVE_COLUMNS),
                (self.results, self.all_results, RESULT_COLUMNS),
            ):
                if not path.exists():
                    continue
                if "data_hash" in _header(path):  # the store was deleted: keep these rows
                    _replace(store, columns, _read_rows(path, columns))
                    continue
                old = path.with_name(path.stem + ".old.csv")
                os.replace(path, old)
                self.notes.append(
                    f"moved {path.name} of an older asrl to {old.name}; its rows are not reused"
                )
        self._rows: dict[tuple[str, ...], dict[str, str]] = {}
        for row in _read_rows(self.all_results, RESULT_COLUMNS):
            self._rows.setdefault(row_key(row), row)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def begin(self, keys: Iterable[tuple[str, ...]]) -> int:
        """Make results.csv and curves.csv hold the stored rows of ``keys``; return
        how many of them are stored (in the order they were first written)."""
        wanted = set(keys)
        rows = [row for key, row in self._rows.items() if key in wanted]
        # A fit killed after its curve but before its row was refitted: its last curve
        # is the one that belongs to the stored row.
        curves: dict[tuple[tuple[str, ...], str], dict[str, str]] = {}
        for curve in _read_rows(self.all_curves, CURVE_COLUMNS):
            key = row_key(curve)
            if key in wanted:
                curves.pop((key, curve["round"]), None)
                curves[key, curve["round"]] = curve
        _replace(self.curves, CURVE_COLUMNS, curves.values())
        _replace(self.results, RESULT_COLUMNS, rows)
        return len(rows)

    def write(self, row: dict[str, Any], curve: list[dict[str, Any]]) -> None:
        """Record one finished fit; its result row is written last (it marks it done)."""
        _append(self.all_curves, CURVE_COLUMNS, curve)
        _append(self.curves, CURVE_COLUMNS, curve)
        _append(self.all_results, RESULT_COLUMNS, [row])
        _append(self.results, RESULT_COLUMNS, [row])
        self._rows.setdefault(row_key(row), {k: str(v) for k, v in row.items()})
