"""The hash chain and the two stores, without any shell."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from nbrepro._errors import StoreError
from nbrepro.record.hashing import hash_json, hash_text
from nbrepro.record import CellRun, record_hash
from nbrepro.store import MemoryStore, SQLiteStore, open_store
from nbrepro.store import chain


def make_record(source: str = "x = 1") -> dict:
    return CellRun(
        run_id=uuid.uuid4().hex, session_id="0" * 32,
        notebook={"path": "a.ipynb", "found_by": "JPY_SESSION_NAME"},
        cell={"id": None, "index": 0, "execution_count": 1, "source": source, "source_hash": hash_json(source)},
        started_at="2026-01-01T00:00:00.000Z", duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1,
        status="ok", error=None, git={"unavailable": "test"}, env={"unavailable": "test"},
        hardware={"unavailable": "test"}, extra={"params": {"n": 1}},
    ).to_dict()


def test_cellrun_round_trip_keeps_extra_parts() -> None:
    rec = make_record()
    assert CellRun.from_dict(rec).to_dict() == rec
    assert rec["params"] == {"n": 1}


def test_chain_detects_edit_delete_reorder_and_truncation() -> None:
    records: list[dict] = []
    for i in range(5):
        rec = make_record(str(i))
        chain.seal(rec, i + 1, records[-1]["hash"] if records else None)
        records.append(rec)
    head = (5, records[-1]["hash"])
    assert chain.check(records, head) == []
    edited = [dict(r) for r in records]
    edited[2]["duration_s"] = 99.0
    assert any("edited" in p for p in chain.check(edited, head))
    assert chain.check(records[:2] + records[3:], head)
    assert chain.check([records[0], records[2], records[1], *records[3:]], head)
    assert any("removed" in p for p in chain.check(records[:-1], head))


def test_record_hash_ignores_only_the_hash_field() -> None:
    rec = make_record()
    body = chain.seal(rec, 1, None)
    assert record_hash(rec) == rec["hash"] == hash_text(body)
    rec["seq"] = 2
    assert record_hash(rec) != rec["hash"]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlite-memory"])
def test_store_append_blobs_and_prefix_lookup(kind: str, tmp_path: Path) -> None:
    stores = {"memory": MemoryStore, "sqlite": lambda: SQLiteStore(tmp_path / "s"), "sqlite-memory": lambda: SQLiteStore(":memory:")}
    store = stores[kind]()
    blob = {"python": "3.11", "installed": {"a": "1"}}
    blob_id = hash_json(blob)
    recs = [make_record("a"), make_record("b")]
    store.append(recs, {blob_id: ("env", blob)})
    assert [r["seq"] for r in recs] == [1, 2] and recs[1]["prev_hash"] == recs[0]["hash"]
    assert store.get_blob(blob_id) == blob
    assert store.get(recs[1]["run_id"][:10])["cell"]["source"] == "b"
    with pytest.raises(StoreError, match="too short"):
        store.get("ab")
    with pytest.raises(StoreError, match="no run"):
        store.get("ffffffffff")
    same = make_record("c")
    same["run_id"] = recs[1]["run_id"][:6] + "0" * 26
    store.append([same])
    with pytest.raises(StoreError, match="ambiguous"):
        store.get(recs[1]["run_id"][:6])
    assert store.get(recs[1]["run_id"][:12])["cell"]["source"] == "b"
    assert store.records("a.ipynb") == store.records()
    assert store.records("other.ipynb") == []
    assert store.check() == []


def test_sqlite_store_threads_lose_nothing(tmp_path: Path) -> None:
    def writer() -> None:
        store = SQLiteStore(tmp_path / "s", busy_timeout_s=30)
        for i in range(25):
            store.append([make_record(str(i))])
        store.close()

    SQLiteStore(tmp_path / "s").close()
    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = SQLiteStore(tmp_path / "s", create=False)
    assert len(store.records()) == 100 and store.check() == []


def test_corrupt_database_moved_aside_with_one_warning(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "nbrepro.db").write_bytes(b"garbage" * 1000)
    warnings: list[tuple[str, str]] = []
    store = open_store(folder, lambda kind, msg: warnings.append((kind, msg)))
    store.append([make_record()])
    assert len(warnings) == 1 and warnings[0][0] == "store" and ".bak" in warnings[0][1]
    assert (folder / "nbrepro.db.bak").read_bytes().startswith(b"garbage")
    assert len(store.records()) == 1


def test_store_folder_is_ignored_by_git(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / ".nbrepro").close()
    assert (tmp_path / ".nbrepro" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no nbrepro store"):
        SQLiteStore(tmp_path / ".nbrepro", create=False)
    assert not (tmp_path / ".nbrepro").exists()


def test_memoized_sealing_gives_the_canonical_text() -> None:
    from nbrepro.record.hashing import canonical_json

    shared = {"commit": "a" * 40, "dirty": True, "nested": {"b": [1, 2.5, "é"]}}
    memo: dict = {}
    for i in range(3):
        rec = {**make_record(str(i)), "git": shared}
        plain = dict(rec)
        body = chain.seal(rec, i + 1, None, memo)
        chain.seal(plain, i + 1, None)
        assert body == canonical_json({k: v for k, v in rec.items() if k != "hash"})
        assert rec["hash"] == plain["hash"]
