"""Another process reading the store while a kernel writes into it (``nbrepro log``, the live
MLflow sink, a reviewer's pull) never costs the writer its later records.

Closing any descriptor of a file drops every POSIX lock the process holds on it. The store
once opened the database file afresh before each batch to check its header, which dropped
SQLite's own lock: a reader closing its connection then took itself for the last one and
deleted the WAL the writer still wrote into, and every later record was lost.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbrepro.store import SQLiteStore

READER = "import sys; from nbrepro.store import SQLiteStore; s = SQLiteStore(sys.argv[1], create=False); print(len(s.records())); s.close()"


def record(n: int) -> dict[str, object]:
    return {"schema": "nbrepro.run/1", "run_id": f"{n:032x}", "session_id": "a" * 32, "cell": {"source": str(n)}}


def read_elsewhere(folder: Path) -> int:
    return int(subprocess.run([sys.executable, "-c", READER, str(folder)], capture_output=True, text=True, check=True).stdout)


def test_a_reader_closing_its_connection_leaves_the_writers_wal_alone(tmp_path: Path) -> None:
    writer = SQLiteStore(tmp_path / "store")
    try:
        writer.append([record(1), record(2)])
        assert read_elsewhere(tmp_path / "store") == 2
        writer.append([record(3), record(4)])
        assert read_elsewhere(tmp_path / "store") == 4
        writer.append([record(5)])
    finally:
        writer.close()
    assert read_elsewhere(tmp_path / "store") == 5
    again = SQLiteStore(tmp_path / "store", create=False)
    try:
        assert again.check() == [] and [r["seq"] for r in again.records()] == [1, 2, 3, 4, 5]
    finally:
        again.close()
