"""The recorder's pure logic, driven by hand with no IPython shell."""

from __future__ import annotations

from pathlib import Path

from nbrepro.recorder import Recorder
from nbrepro.store import MemoryStore


def test_records_in_order_with_timing_and_errors(tmp_path: Path) -> None:
    store = MemoryStore()
    rec = Recorder(tmp_path, tmp_path / ".nbrepro", namespace={"__session__": "nb.ipynb"}, environ={}, store=store)
    for count, (source, error) in enumerate([("x = 1", None), ("1/0", ZeroDivisionError("division by zero"))], 1):
        rec.pre_cell()
        rec.post_cell(source, f"cell-{count}", count, error)
    assert rec.flush(30)
    rec.close()
    records = store.records()
    assert [r["cell"]["source"] for r in records] == ["x = 1", "1/0"]
    assert [r["cell"]["id"] for r in records] == ["cell-1", "cell-2"]
    assert records[1]["status"] == "error"
    assert records[1]["error"] == {"ename": "ZeroDivisionError", "evalue": "division by zero"}
    assert records[0]["notebook"] == {"path": "nb.ipynb", "found_by": "__session__"}
    assert records[0]["git"] == {"unavailable": "not inside a git repository"}
    assert rec.records_written == 2 and rec.last_record["seq"] == 2


def test_paused_recorder_records_nothing(tmp_path: Path) -> None:
    store = MemoryStore()
    rec = Recorder(tmp_path, tmp_path / ".nbrepro", environ={}, store=store)
    rec.paused = True
    rec.pre_cell()
    rec.post_cell("x = 1", None, 1, None)
    rec.paused = False
    rec.pre_cell()
    rec.post_cell("y = 2", None, 2, None)
    rec.flush(30)
    rec.close()
    assert [r["cell"]["source"] for r in store.records()] == ["y = 2"]


def test_a_failing_collector_is_one_warning_and_an_unavailable_part(tmp_path: Path) -> None:
    store = MemoryStore()
    rec = Recorder(tmp_path, tmp_path / ".nbrepro", environ={}, store=store)

    def broken(*_args: object) -> dict:
        raise RuntimeError("hardware probe exploded")

    rec._hardware.capture = broken  # type: ignore[method-assign]
    for i in range(3):
        rec.pre_cell()
        rec.post_cell(f"x = {i}", None, i + 1, None)
        rec.flush(30)
    rec.close()
    assert all(r["hardware"] == {"unavailable": "RuntimeError: hardware probe exploded"} for r in store.records())
    warnings = rec.guard.take_warnings()
    assert warnings == ["nbrepro: warning: hardware: unavailable (RuntimeError: hardware probe exploded)"]
