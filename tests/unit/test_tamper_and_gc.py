"""Tampering with a store from outside (plain SQL on the file), and pruning it with gc.

What the store can catch on its own, and what it cannot, is in docs/record.md ("What
`log --check` can and cannot find").
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from nbrepro.record import CellRun
from nbrepro.record.hashing import hash_json
from nbrepro.store import SQLiteStore
from nbrepro.store import gc as store_gc

A, B, C = "a" * 32, "b" * 32, "c" * 32


def record(session: str, source: str, notebook: str = "a.ipynb", started: str = "2026-01-01T00:00:00.000Z") -> dict:
    out = {"hash": hash_json({"text": source}), "items": [{"kind": "stream", "mime": "text/plain", "blob": _blob_id(source)}]}
    return CellRun(
        run_id=uuid.uuid4().hex, session_id=session,
        notebook={"path": notebook, "found_by": "JPY_SESSION_NAME"},
        cell={"id": None, "index": 0, "execution_count": 1, "source": source, "source_hash": hash_json(source)},
        started_at=started, duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1,
        status="ok", error=None, git={"unavailable": "test"}, env={"id": ENV_ID, "python": "3"},
        hardware={"unavailable": "test"}, extra={"outputs": out},
    ).to_dict()


ENV = {"python": "3", "installed": {}}
ENV_ID = hash_json(ENV)


def _blob(source: str) -> dict:
    return {"kind": "stream", "mime": "text/plain", "data": f"out of {source}"}


def _blob_id(source: str) -> str:
    return hash_json(_blob(source))


def append(store: SQLiteStore, session: str, sources: list[str], **kw: str) -> None:
    store.append(
        [record(session, s, **kw) for s in sources],
        {ENV_ID: ("env", ENV), **{_blob_id(s): ("output", _blob(s)) for s in sources}},
    )


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "s")
    append(s, A, ["a1", "a2"], started="2026-01-01T00:00:00.000Z")
    append(s, B, ["b1"], notebook="b.ipynb", started="2026-01-02T00:00:00.000Z")
    append(s, A, ["a3"], started="2026-01-03T00:00:00.000Z")
    append(s, C, ["c1", "c2"], started="2026-01-04T00:00:00.000Z")
    assert s.check() == []
    return s


def edit(store: SQLiteStore, *statements: str) -> None:
    """What an attacker with the sqlite3 shell does: plain SQL on the file."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def test_deleting_the_last_records_and_fixing_the_head_row_fails_the_check(store: SQLiteStore) -> None:
    edit(
        store,
        "DELETE FROM runs WHERE seq > 4",
        "UPDATE meta SET value = (SELECT json_array(seq, hash) FROM runs WHERE seq = 4) WHERE key = 'head'",
    )
    problems = store.check()
    assert problems == [
        "the database header says the chain reached seq 6 but the last record is seq 4 (records were removed)"
    ]
    # the next kernel's records keep the gap, so writing on does not hide it
    append(store, C, ["c3"])
    assert [r["seq"] for r in store.records()][-1] == 7
    assert any("expected seq 5" in p for p in store.check())


def test_the_head_row_alone_is_not_trusted_by_the_writer(store: SQLiteStore) -> None:
    edit(store, "UPDATE meta SET value = '[1, null]' WHERE key = 'head'")  # set back: nothing was removed
    assert any("head is seq 1" in p for p in store.check())
    append(store, C, ["c3"])  # continues after the real last record, no clash with seq 2
    assert [r["seq"] for r in store.records()] == [1, 2, 3, 4, 5, 6, 7]
    assert store.check() == []


@pytest.mark.parametrize(
    ("column", "value"),
    [("notebook", "'b.ipynb'"), ("session_id", f"'{B}'"), ("run_id", "'0123456789abcdef0123456789abcdef'"),
     ("source_hash", "'blake3:00'"), ("hash", "'blake3:00'")],
)
def test_every_column_a_reader_uses_is_checked_against_the_record(store: SQLiteStore, column: str, value: str) -> None:
    edit(store, f"UPDATE runs SET {column} = {value} WHERE seq = 1")
    problems = store.check()
    assert any(p.startswith("seq 1:") for p in problems), problems


def test_readers_never_take_a_row_by_an_edited_column(store: SQLiteStore) -> None:
    edit(store, "UPDATE runs SET notebook = 'b.ipynb', session_id = '" + B + "' WHERE session_id = '" + A + "'")
    assert [r["cell"]["source"] for r in store.records("b.ipynb")] == ["b1"]
    assert [r["cell"]["source"] for r in store.session_records(B)] == ["b1"]
    summaries = store.sessions_with([hash_json("a1")], "b.ipynb")
    assert [(s.session_id, s.hashes) for s in summaries] == [(B, set())]


def test_gc_keeps_the_newest_sessions_and_leaves_a_sealed_marker_per_range(store: SQLiteStore) -> None:
    before = {r["run_id"]: r["hash"] for r in store.records()}
    plan = store_gc.prune(store, store_gc.select(keep=1), "nbrepro gc --keep 1", "2026-02-01T00:00:00.000Z")
    assert sorted(s.session_id for s in plan.pruned) == [A, B] and plan.records == 4
    assert [(m["first_seq"], m["seq"], m["records"], m["sessions"]) for m in store.marks()] == [(1, 4, 4, [A, B])]
    kept = store.records()
    assert [r["cell"]["source"] for r in kept] == ["c1", "c2"]
    assert all(before[r["run_id"]] == r["hash"] for r in kept)  # no remaining record changed
    assert store.check() == []
    # blobs only the pruned records used are gone; the shared env blob stays
    assert sorted(store.blob_ids()) == sorted([ENV_ID, _blob_id("c1"), _blob_id("c2")])
    assert plan.blobs == 4
    # the chain goes on after it
    append(store, A, ["a4"])
    assert store.check() == []


def test_gc_of_interleaved_sessions_leaves_one_marker_per_gap(store: SQLiteStore) -> None:
    store_gc.prune(store, store_gc.select(older_than="2026-01-03T12:00:00.000Z"), "nbrepro gc --older-than 30", "now")
    # A (seq 1-2, 4) and B (seq 3) are older; C is not
    assert [(m["first_seq"], m["seq"]) for m in store.marks()] == [(1, 4)]
    store_gc.prune(store, store_gc.select(keep=0), "nbrepro gc --keep 0", "now")  # the tail too
    assert [(m["first_seq"], m["seq"]) for m in store.marks()] == [(1, 4), (5, 6)]
    assert store.records() == [] and store.check() == []
    append(store, A, ["again"])
    assert store.records()[0]["seq"] == 7 and store.check() == []


def test_gc_spares_running_sessions_and_a_dry_run_changes_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    raw = store.path.read_bytes()
    plan = store_gc.prune(store, store_gc.select(keep=0, protect={A}), "gc", "now", dry_run=True)
    assert sorted(s.session_id for s in plan.pruned) == [B, C]
    assert [(m["first_seq"], m["seq"]) for m in plan.markers] == [(3, 3), (5, 6)]
    assert store.marks() == [] and len(store.records()) == 6 and store.path.read_bytes() == raw


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE marks SET record = json_set(record, '$.records', 1)",  # the marker edited
        "DELETE FROM marks",  # the marker removed: a gap
        "UPDATE marks SET seq = 3",  # its place moved
        "UPDATE marks SET record = json_set(record, '$.last_hash', 'blake3:00')",
    ],
)
def test_an_edited_or_removed_marker_fails_the_check(store: SQLiteStore, statement: str) -> None:
    store_gc.prune(store, store_gc.select(keep=1), "gc", "now")
    assert store.check() == []
    edit(store, statement)
    assert store.check()


def test_markers_are_canonical_and_hashed_like_records(store: SQLiteStore) -> None:
    fourth = store.records()[3]["hash"]
    store_gc.prune(store, store_gc.select(keep=1), "nbrepro gc --keep 1", "2026-02-01T00:00:00.000Z")
    conn = sqlite3.connect(store.path)
    body, digest = conn.execute("SELECT record, hash FROM marks").fetchone()
    conn.close()
    marker = json.loads(body)
    assert hash_json(marker) == digest
    assert marker["schema"] == "nbrepro.pruned/1" and marker["by"] == "nbrepro gc --keep 1"
    assert marker["last_hash"] == fourth and marker["prev_hash"] is None
