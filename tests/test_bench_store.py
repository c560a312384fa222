"""The results store: keys, resuming, torn lines and files of an older asrl."""

from __future__ import annotations

import csv

from asrl.bench.store import CURVE_COLUMNS, KEY, RESULT_COLUMNS, ResultStore, row_key


def _row(**changes):
    row = dict.fromkeys(RESULT_COLUMNS, "")
    row.update(learner="xgboost", dataset="d", loss="mse", seed=0, fold=0, contamination=0.1)
    row.update(loss_params="{}", extra="{}", data_hash="abc", r2=0.5)
    row.update(changes)
    return row


def _curve(row, k):
    return {**{c: row[c] for c in KEY}, "round": k, "test_mse": 1.0, "test_r2": 0.5}


def _read(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_keys_read_back_equal_and_differ_by_every_identity_column(tmp_path):
    store = ResultStore(tmp_path)
    row = _row()
    store.write(row, [_curve(row, 1)])
    again = ResultStore(tmp_path)
    assert row_key(row) in again
    assert row_key({**row, "contamination": "0.10"}) in again  # same number, other spelling
    for column in ("data_hash", "target", "dropped", "scenario", "loss_params", "extra"):
        assert row_key({**row, column: "other"}) not in again


def test_begin_keeps_only_the_current_rows_and_their_last_curves(tmp_path):
    store = ResultStore(tmp_path)
    first, second = _row(), _row(loss="mae")
    store.write(first, [_curve(first, 1)])
    store.write(second, [_curve(second, 1)])
    # A fit killed after its curve but before its row, then refitted: two curves stored.
    with store.all_curves.open("a") as handle:
        csv.DictWriter(handle, CURVE_COLUMNS, lineterminator="\n").writerow(
            {**_curve(first, 1), "test_mse": 9.0}
        )
    with store.all_results.open("a") as handle:
        handle.write("xgboost,d,torn")  # killed mid-write: no newline
    again = ResultStore(tmp_path)
    assert again.begin([row_key(first)]) == 1
    assert [r["loss"] for r in _read(tmp_path / "results.csv")] == ["mse"]
    curves = _read(tmp_path / "curves.csv")
    assert [c["test_mse"] for c in curves] == ["9.0"]
    assert not (tmp_path / "all-results.csv").read_text().endswith("torn")


def test_files_of_an_older_asrl_are_moved_aside_and_a_deleted_store_is_rebuilt(tmp_path):
    (tmp_path / "results.csv").write_text("learner,dataset,r2\nxgboost,d,0.5\n")
    store = ResultStore(tmp_path)
    assert store.notes == [
        "moved results.csv of an older asrl to results.old.csv; its rows are not reused"
    ]
    assert (tmp_path / "results.old.csv").exists()
    row = _row()
    store.write(row, [])
    store.begin([row_key(row)])
    (tmp_path / "all-results.csv").unlink()
    assert row_key(row) in ResultStore(tmp_path)  # rebuilt from results.csv
