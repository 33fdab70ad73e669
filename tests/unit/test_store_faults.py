"""Store faults found mid-session: a database replaced, removed, overwritten or full.

Every fault is real: files renamed and overwritten on disk, SQLite's own "database or disk is
full" (``PRAGMA max_page_count`` on the writing connection), the immutable attribute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from nbrepro._errors import StoreError
from nbrepro.record import CellRun
from nbrepro.record.hashing import hash_json
from nbrepro.recorder import Recorder
from nbrepro.store import SQLiteStore, open_store, recovery

SESSION = "5" * 32


def record(source: str, session: str = SESSION, env: bool = False) -> dict:
    """A record; with ``env`` it refers to the ENV blob."""
    return CellRun(
        run_id=uuid.uuid4().hex, session_id=session,
        notebook={"path": "a.ipynb", "found_by": "JPY_SESSION_NAME"},
        cell={"id": None, "index": 0, "execution_count": 1, "source": source, "source_hash": hash_json(source)},
        started_at="2026-01-01T00:00:00.000Z", duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1,
        status="ok", error=None, git={"unavailable": "test"}, env={"id": ENV_ID, "python": "3"} if env else {"unavailable": "test"},
        hardware={"unavailable": "test"}, extra={},
    ).to_dict()


ENV = {"python": "3", "installed": {"a": "1"}}
ENV_ID = hash_json(ENV)


def sources(folder: Path) -> list[str]:
    store = SQLiteStore(folder, create=False)
    try:
        assert store.check() == []
        return [r["cell"]["source"] for r in store.records()]
    finally:
        store.close()


def writer(folder: Path, warnings: list[tuple[str, str]]) -> SQLiteStore:
    store = open_store(folder, lambda kind, msg: warnings.append((kind, msg)))
    assert isinstance(store, SQLiteStore)
    store.append([record("a", env=True), record("b", env=True)], {ENV_ID: ("env", ENV)})
    return store


def test_a_database_overwritten_in_place_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    warnings: list[tuple[str, str]] = []
    store = writer(folder, warnings)
    (folder / "nbrepro.db").write_bytes(b"garbage" * 1000)  # same inode, new content
    store.append([record("c", env=True)])  # the env blob was written with "a": the store writes it again
    store.append([record("d", env=True)])
    store.close()
    assert len(warnings) == 1 and warnings[0][0] == "store"
    assert "was overwritten" in warnings[0][1] and "nbrepro.db.bak" in warnings[0][1]
    assert (folder / "nbrepro.db.bak").read_bytes() == b"garbage" * 1000  # as found: nothing checkpointed into it
    assert sources(folder) == ["c", "d"]  # nothing after the fault is lost; the env blob is there again


def test_a_database_replaced_by_rename_is_followed_and_this_session_copied_in(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    warnings: list[tuple[str, str]] = []
    store = writer(folder, warnings)
    other = SQLiteStore(tmp_path / "other")
    other.append([record("theirs", "7" * 32)])
    other.close()
    os.replace(tmp_path / "other" / "nbrepro.db", folder / "nbrepro.db")
    store.append([record("c")])
    store.close()
    assert len(warnings) == 1 and "was replaced by another file" in warnings[0][1]
    assert "2 earlier record(s) of this session are copied into it" in warnings[0][1]
    assert sources(folder) == ["theirs", "a", "b", "c"]


def test_an_old_copy_put_back_gets_only_what_it_lacks(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    warnings: list[tuple[str, str]] = []
    store = writer(folder, warnings)
    store.close()
    shutil.copy(folder / "nbrepro.db", tmp_path / "backup.db")  # closed: no WAL left beside it
    store = open_store(folder, lambda kind, msg: warnings.append((kind, msg)))
    store.append([record("c")])
    os.replace(tmp_path / "backup.db", folder / "nbrepro.db")
    store.append([record("d")])
    store.close()
    assert sources(folder) == ["a", "b", "c", "d"]
    assert "1 earlier record(s)" in warnings[-1][1]


def test_a_database_removed_mid_session_starts_a_new_one(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    warnings: list[tuple[str, str]] = []
    store = writer(folder, warnings)
    shutil.rmtree(folder)
    store.append([record("c")])
    store.close()
    assert "was removed" in warnings[0][1]
    assert sources(folder) == ["a", "b", "c"]


def test_a_database_replaced_by_garbage_is_moved_aside(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    warnings: list[tuple[str, str]] = []
    store = writer(folder, warnings)
    (tmp_path / "junk").write_bytes(b"junk" * 1000)
    (folder / "nbrepro.db.bak").write_bytes(b"an earlier backup")
    os.replace(tmp_path / "junk", folder / "nbrepro.db")
    store.append([record("c")])
    store.close()
    assert len(warnings) == 1 and "nbrepro.db.1.bak" in warnings[0][1]
    assert (folder / "nbrepro.db.bak").read_bytes() == b"an earlier backup"  # an earlier backup is kept
    assert (folder / "nbrepro.db.1.bak").read_bytes() == b"junk" * 1000
    assert sources(folder) == ["a", "b", "c"]


def fill_up(store: SQLiteStore) -> None:
    """SQLite's own SQLITE_FULL: the writing connection may not grow the file any more."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_a_store_error_naming_the_fault_not_the_rollback(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s")
    store.append([record("a")])
    fill_up(store)
    with pytest.raises(StoreError, match="database or disk is full") as caught:
        store.append([record("x" * 50_000)])
    assert "rollback" not in str(caught.value)
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    store.append([record("b")])
    store.close()
    assert sources(tmp_path / "s") == ["a", "b"]


def test_a_read_only_database_is_written_once_it_can_be_again(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    SQLiteStore(folder).close()
    db = folder / "nbrepro.db"
    if os.geteuid() == 0:  # root ignores permission bits; the immutable attribute binds root too
        subprocess.run(["chattr", "+i", str(db)], check=True)
    else:
        db.chmod(0o444)
    try:
        store = SQLiteStore(folder)
        with pytest.raises(StoreError, match="readonly"):
            store.append([record("a")])
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db)], check=True)
        db.chmod(0o644)
    store.append([record("a")])  # a new connection: the old one stays read-only for good
    store.close()
    assert sources(folder) == ["a"]


def run_cells(rec: Recorder, cells: list[str]) -> None:
    for n, source in enumerate(cells, 1):
        rec.pre_cell()
        rec.post_cell(source, None, n, None)
    assert rec.flush(30)


def test_records_the_store_cannot_take_wait_in_memory_then_go_to_a_recovery_file(tmp_path: Path) -> None:
    folder = tmp_path / ".nbrepro"
    rec = Recorder(tmp_path, folder, environ={})
    run_cells(rec, ["x = 1"])
    assert isinstance(rec.store, SQLiteStore)
    fill_up(rec.store)
    run_cells(rec, [f"big = {'1' * 40_000}", "y = 2"])
    warnings = rec.guard.take_warnings()
    assert len(warnings) == 1 and warnings[0].startswith("nbrepro: warning: store: cannot write")
    assert "database or disk is full" in warnings[0] and "wait in memory and are retried" in warnings[0]
    assert rec.unsaved() == 2
    rec.close()
    files = list(folder.glob("recovery-*.json"))
    assert [f.name for f in files] == [f"recovery-{rec.session_id}.json"]
    kept = json.loads(files[0].read_text())
    assert [r["cell"]["source"][:6] for r in kept["records"]] == ["big = ", "y = 2"]

    # the next kernel that opens the store merges the file, in order, onto the chain's end
    notes: list[tuple[str, str]] = []
    store = open_store(folder, lambda kind, msg: notes.append((kind, msg)))
    store.close()
    assert not list(folder.glob("recovery-*.json"))
    assert len(notes) == 1 and "merged 2 record(s)" in notes[0][1]
    assert [s[:6] for s in sources(folder)] == ["x = 1", "big = ", "y = 2"]


def test_a_recovery_file_merged_twice_writes_each_record_once(tmp_path: Path) -> None:
    folder = tmp_path / ".nbrepro"
    SQLiteStore(folder).close()
    records = [record("a", env=True), record("b", env=True)]
    path = recovery.save(folder, SESSION, records, {ENV_ID: ("env", ENV)})
    copy = path.read_bytes()
    open_store(folder, lambda *_: None).close()
    path.write_bytes(copy)  # a second kernel that read the same file before the first removed it
    open_store(folder, lambda *_: None).close()
    assert sources(folder) == ["a", "b"]
    assert not path.exists()


def test_an_unreadable_recovery_file_is_left_in_place_with_one_warning(tmp_path: Path) -> None:
    folder = tmp_path / ".nbrepro"
    SQLiteStore(folder).close()
    (folder / f"recovery-{SESSION}.json").write_text("{not json")
    notes: list[tuple[str, str]] = []
    open_store(folder, lambda kind, msg: notes.append((kind, msg))).close()
    assert len(notes) == 1 and "left it in place" in notes[0][1]
    assert (folder / f"recovery-{SESSION}.json").exists()


def test_a_disk_io_error_at_open_never_moves_the_database_aside(tmp_path: Path) -> None:
    """Only SQLite's word that the file is damaged or no database moves it aside: a kernel
    that cannot write at all (RLIMIT_FSIZE 0: every write to a file fails) gets a store
    error and the database stays where it is."""
    folder = tmp_path / "s"
    store = SQLiteStore(folder)
    store.append([record("a")])
    store.close()
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))\n"
        "from nbrepro.store import open_store\n"
        "try:\n"
        "    open_store(sys.argv[1], lambda kind, msg: print(kind, msg))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("StoreError cannot open") and "disk I/O error" in out.stdout, out
    assert not list(folder.glob("*.bak"))
    assert sources(folder) == ["a"]
