"""From a notebook to its recorded sessions (nbrepro.notebook.sessions), with real records in
both stores; and the SQLite index behind it, including a store from before it existed."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbrepro._errors import UsageError
from nbrepro.record.hashing import hash_text
from nbrepro.notebook.sessions import SessionMatch, choose_session, find_sessions, no_session_message, resolve_session_id
from nbrepro.record import CellRun
from nbrepro.store import DB_NAME, MemoryStore, SQLiteStore, Store
from nbrepro.store import chain

LOAD = "%load_ext nbrepro"
SOURCES = [LOAD, "import math", "x = math.sqrt(2)", "print(x)"]


def make_record(source: str, session: str, path: str | None = None, index: int | None = None) -> dict:
    return CellRun(
        run_id=uuid.uuid4().hex, session_id=session,
        notebook={"path": path, "found_by": "JPY_SESSION_NAME" if path else None},
        cell={"id": None, "index": index, "execution_count": 1, "source": source, "source_hash": hash_text(source)},
        started_at="2026-01-01T00:00:00.000Z", duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1,
        status="ok", error=None, git={"unavailable": "test"}, env={"unavailable": "test"},
        hardware={"unavailable": "test"}, extra={},
    ).to_dict()


def run(store: Store, sources: list[str], path: str | None = None, session: str | None = None) -> str:
    """Record one session running ``sources`` in order; returns its id."""
    session = session or uuid.uuid4().hex
    store.append([make_record(s, session, path, i) for i, s in enumerate(sources)])
    return session


def code(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}


def notebook(sources: list[str]) -> list[dict[str, Any]]:
    """Cells: a title, the code cells, and an empty code cell at the end (counted nowhere)."""
    return [{"cell_type": "markdown", "source": "# t", "metadata": {}}, *map(code, sources), code("")]


def write_nb(path: Path, sources: list[str]) -> None:
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": notebook(sources)}))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / ".nbrepro")
    yield s
    s.close()


# --- found by content, ranked ----------------------------------------------------------


def test_a_session_without_a_path_is_found_by_content(store: Store, tmp_path: Path) -> None:
    cells = notebook(["import math", "x = math.sqrt(2)", "print(x)"])
    session = run(store, ["import math", "x = math.sqrt(2)", "print(x)"], path=None)
    found = find_sessions(store, cells, "nb.ipynb", tmp_path)
    assert [m.session_id for m in found] == [session]
    match = found[0]
    assert match.matched_by == "content" and (match.cells, match.total) == (3, 3)
    assert match.describe() == "by content: 3 of 3 cells"
    assert match.paths == ()
    assert match.to_dict() == {
        "id": session, "matched_by": "content", "cells": 3, "of": 3, "description": "by content: 3 of 3 cells",
    }
    assert choose_session(store, cells, "nb.ipynb", tmp_path) == match


def test_a_session_recorded_under_an_old_name_is_found_by_content(store: Store, tmp_path: Path) -> None:
    """A rename: the old file is gone, so its sessions are this notebook's own."""
    write_nb(tmp_path / "new.ipynb", SOURCES)
    session = run(store, SOURCES, path="old.ipynb")
    found = find_sessions(store, notebook(SOURCES), "new.ipynb", tmp_path)
    assert [(m.session_id, m.describe(), m.paths) for m in found] == [(session, "by content: 4 of 4 cells", ("old.ipynb",))]


def test_sharing_only_load_ext_is_not_this_notebook(store: Store, tmp_path: Path) -> None:
    run(store, [LOAD, "import pandas", "df = pandas.DataFrame()"])
    assert find_sessions(store, notebook(SOURCES), "nb.ipynb", tmp_path) == []
    assert choose_session(store, notebook(SOURCES), "nb.ipynb", tmp_path) is None
    # half of a two-cell notebook is not a strict majority either
    assert find_sessions(store, notebook([LOAD, "y = 2"]), "nb.ipynb", tmp_path) == []


def test_a_strict_majority_is_enough(store: Store, tmp_path: Path) -> None:
    session = run(store, SOURCES[:3] + ["print(x + 1)"])  # 3 of the 4
    found = find_sessions(store, notebook(SOURCES), "nb.ipynb", tmp_path)
    assert [(m.session_id, m.describe()) for m in found] == [(session, "by content: 3 of 4 cells")]


def test_the_session_covering_most_cells_beats_a_more_recent_partial_one(store: Store, tmp_path: Path) -> None:
    full = run(store, SOURCES)
    partial = run(store, SOURCES[:3])  # later, 3 of 4
    found = find_sessions(store, notebook(SOURCES), "nb.ipynb", tmp_path)
    assert [(m.session_id, m.cells) for m in found] == [(full, 4), (partial, 3)]


def test_among_equal_coverage_the_most_recent_wins(store: Store, tmp_path: Path) -> None:
    first = run(store, SOURCES)
    second = run(store, SOURCES)
    found = find_sessions(store, notebook(SOURCES), "nb.ipynb", tmp_path)
    assert [m.session_id for m in found] == [second, first]
    # the first session runs a cell again: now it is the more recent one
    store.append([make_record("print(x)", first)])
    assert [m.session_id for m in find_sessions(store, notebook(SOURCES), "nb.ipynb", tmp_path)] == [first, second]


def test_duplicated_cells_count_for_coverage(store: Store, tmp_path: Path) -> None:
    sources = ["load()", "plot()", "load()", "plot()", "save()"]
    session = run(store, ["load()", "plot()"])  # one distinct source each: covers 4 of 5 cells
    found = find_sessions(store, notebook(sources), "nb.ipynb", tmp_path)
    assert [(m.session_id, m.describe()) for m in found] == [(session, "by content: 4 of 5 cells")]


def test_a_path_match_is_found_without_any_content_match(store: Store, tmp_path: Path) -> None:
    session = run(store, ["completely = 'different'"], path="sub/nb.ipynb")
    found = find_sessions(store, notebook(SOURCES), "sub/nb.ipynb", tmp_path)
    assert [(m.session_id, m.matched_by, m.describe(), m.cells, m.total, m.paths) for m in found] == [
        (session, "path", "by path", 0, 4, ("sub/nb.ipynb",))
    ]
    assert find_sessions(store, notebook(SOURCES), "other.ipynb", tmp_path) == []
    assert find_sessions(store, notebook(SOURCES), None, tmp_path) == []


def test_path_match_and_content_are_ranked_together(store: Store, tmp_path: Path) -> None:
    by_path = run(store, SOURCES[:2], path="nb.ipynb")  # 2 of 4 cells, but its path
    by_content = run(store, SOURCES)
    found = find_sessions(store, notebook(SOURCES), "nb.ipynb", tmp_path)
    assert [(m.session_id, m.describe()) for m in found] == [
        (by_content, "by content: 4 of 4 cells"), (by_path, "by path")
    ]


def test_a_copy_uses_the_originals_sessions_only_while_it_has_none(store: Store, tmp_path: Path) -> None:
    write_nb(tmp_path / "a.ipynb", SOURCES)
    write_nb(tmp_path / "b.ipynb", SOURCES)
    cells = notebook(SOURCES)
    of_a = run(store, SOURCES, path="a.ipynb")
    # b.ipynb, a copy never run: a's session is the best there is
    assert [(m.session_id, m.describe()) for m in find_sessions(store, cells, "b.ipynb", tmp_path)] == [
        (of_a, "by content: 4 of 4 cells")
    ]
    # b is run on its own, fewer cells than a's session ran: only its own counts now
    of_b = run(store, SOURCES[:3], path="b.ipynb")
    assert [m.session_id for m in find_sessions(store, cells, "b.ipynb", tmp_path)] == [of_b]
    assert [m.session_id for m in find_sessions(store, cells, "a.ipynb", tmp_path)] == [of_a]
    # a session with no path at all is nobody's copy: it counts for both
    unnamed = run(store, SOURCES)
    assert [m.session_id for m in find_sessions(store, cells, "b.ipynb", tmp_path)] == [unnamed, of_b]
    assert [m.session_id for m in find_sessions(store, cells, "a.ipynb", tmp_path)] == [unnamed, of_a]


def test_a_copy_whose_original_is_gone_takes_its_sessions(store: Store, tmp_path: Path) -> None:
    write_nb(tmp_path / "b.ipynb", SOURCES)
    of_a = run(store, SOURCES, path="a.ipynb")
    of_b = run(store, SOURCES[:3], path="b.ipynb")
    # a.ipynb does not exist: a's session is b's own (a rename), ranked by coverage
    assert [m.session_id for m in find_sessions(store, notebook(SOURCES), "b.ipynb", tmp_path)] == [of_a, of_b]


def test_whitespace_only_cells_do_not_keep_a_full_session_from_matching(store: Store, tmp_path: Path) -> None:
    session = run(store, ["a = 1", "b = 2"])
    cells = notebook(["a = 1", "b = 2", "\n", "  "])
    assert [(m.session_id, m.describe()) for m in find_sessions(store, cells, "nb.ipynb", tmp_path)] == [
        (session, "by content: 2 of 2 cells")
    ]


# --- --session -------------------------------------------------------------------------


def test_choose_session_by_prefix(store: Store, tmp_path: Path) -> None:
    chosen = run(store, SOURCES[:2], path="x.ipynb", session="abcd1234" + "0" * 24)
    run(store, SOURCES, session="abce" + "1" * 28)
    match = choose_session(store, notebook(SOURCES), "nb.ipynb", tmp_path, session=" ABCD12 ")
    assert match == SessionMatch(chosen, "session", 2, 4, ("x.ipynb",))
    assert match.describe() == "chosen with --session (2 of 4 cells)"
    assert match.to_dict()["matched_by"] == "session"
    # the full id works too, and a session that matches nothing by content can be chosen
    assert choose_session(store, notebook(["z = 0"]), None, tmp_path, session=chosen).cells == 0


def test_choose_session_errors(store: Store, tmp_path: Path) -> None:
    run(store, SOURCES, session="abcd1111" + "0" * 24)
    run(store, SOURCES, session="abcd2222" + "0" * 24)
    cells = notebook(SOURCES)
    with pytest.raises(UsageError, match="no such session"):
        choose_session(store, cells, "nb.ipynb", tmp_path, session="ffff")
    with pytest.raises(UsageError, match="no such session"):
        choose_session(store, cells, "nb.ipynb", tmp_path, session="abcd%")  # no LIKE wildcard
    with pytest.raises(UsageError, match="ambiguous: 2 sessions"):
        choose_session(store, cells, "nb.ipynb", tmp_path, session="abcd")
    with pytest.raises(UsageError, match="too short"):
        choose_session(store, cells, "nb.ipynb", tmp_path, session="abc")
    with pytest.raises(UsageError, match="too short"):
        resolve_session_id(store, "  ab  ")
    assert resolve_session_id(store, "ABCD1") == "abcd1111" + "0" * 24


def test_session_ids_and_records(store: Store) -> None:
    a = run(store, ["a", "b"], session="abcd" + "0" * 28)
    b = run(store, ["c"], session="abce" + "0" * 28)
    store.append([make_record("d", a)])
    assert store.session_ids("abc") == [a, b]
    assert store.session_ids("abcd") == [a]
    assert store.session_ids("") == [a, b]
    assert store.session_ids("9") == []
    assert [r["cell"]["source"] for r in store.session_records(a)] == ["a", "b", "d"]
    assert [r["seq"] for r in store.session_records(a)] == [1, 2, 4]
    assert store.session_records("f" * 32) == []


def test_no_session_message(tmp_path: Path) -> None:
    text = no_session_message("nb.ipynb", tmp_path / ".nbrepro")
    assert text.startswith(f"nb.ipynb: no recorded session matches it in the store {tmp_path / '.nbrepro'};")
    assert "%load_ext nbrepro" in text and "NBREPRO_DIR" in text and "\n" not in text
    assert "its project has no store" in no_session_message(Path("nb.ipynb"), None)


# --- Store.sessions_with: the index agrees with the plain scan --------------------------


def _summaries(store: Store, hashes: Any, path: str | None) -> list[tuple]:
    return sorted(
        (s.session_id, sorted(s.hashes), sorted(s.paths, key=str), s.last_seq)
        for s in store.sessions_with(hashes, path)
    )


def _fill(store: Store) -> None:
    run(store, SOURCES, path="a.ipynb", session="1" * 32)
    run(store, SOURCES[:2] + ["other = 1"], path=None, session="2" * 32)
    run(store, ["unrelated = 1"], path="b.ipynb", session="3" * 32)
    run(store, ["unrelated = 2"], path="c.ipynb", session="4" * 32)
    store.append([make_record("print(x)", "1" * 32, "renamed.ipynb")])


def test_sessions_with_gives_the_same_answer_on_both_stores(tmp_path: Path) -> None:
    memory, sqlite = MemoryStore(), SQLiteStore(tmp_path / ".nbrepro")
    _fill(memory)
    _fill(sqlite)
    wanted = [hash_text(s) for s in SOURCES[1:]] + [hash_text("not recorded")]
    for path in (None, "b.ipynb", "a.ipynb", "nowhere.ipynb"):
        assert _summaries(memory, wanted, path) == _summaries(sqlite, wanted, path)
    assert _summaries(sqlite, wanted, "b.ipynb") == [
        ("1" * 32, sorted(map(hash_text, SOURCES[1:])), ["a.ipynb", "renamed.ipynb"], 10),
        ("2" * 32, sorted(map(hash_text, SOURCES[1:2])), [None], 6),
        ("3" * 32, [], ["b.ipynb"], 8),
    ]
    assert _summaries(memory, [], None) == _summaries(sqlite, [], None) == []
    sqlite.close()


def test_sessions_with_takes_any_iterable(tmp_path: Path) -> None:
    memory, sqlite = MemoryStore(), SQLiteStore(tmp_path / ".nbrepro")
    _fill(memory)
    _fill(sqlite)
    wanted = [hash_text(s) for s in SOURCES]
    expected = _summaries(memory, wanted, None)
    assert _summaries(memory, iter(wanted), None) == expected
    assert _summaries(sqlite, (h for h in wanted), None) == expected
    sqlite.close()


# --- a store from before the source_hash column -----------------------------------------

# `git show HEAD~1:nbrepro/store/sqlite.py`: the schema the first stores were made with.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    notebook TEXT,
    hash TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_notebook ON runs (notebook);
CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_hashes (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (dev, ino, size, mtime_ns)
) WITHOUT ROWID;
"""


def old_store(folder: Path, records: list[dict]) -> None:
    """A store written the way the previous version wrote it."""
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('store_version', '1')")
    prev: str | None = None
    for seq, rec in enumerate(records, 1):
        body = chain.seal(rec, seq, prev)
        prev = rec["hash"]
        conn.execute(
            "INSERT INTO runs (seq, run_id, session_id, notebook, hash, record) VALUES (?,?,?,?,?,?)",
            (seq, rec["run_id"], rec["session_id"], (rec.get("notebook") or {}).get("path"), rec["hash"], body),
        )
    conn.execute("INSERT INTO meta VALUES ('head', ?)", (json.dumps([len(records), prev]),))
    conn.close()


def columns(folder: Path) -> set[str]:
    conn = sqlite3.connect(folder / DB_NAME)
    try:
        return {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    finally:
        conn.close()


def test_an_old_store_is_read_as_it_is_then_migrated_on_open_for_writing(tmp_path: Path) -> None:
    folder = tmp_path / ".nbrepro"
    session, other = "a" * 32, "b" * 32
    old_store(folder, [make_record(s, session, None, i) for i, s in enumerate(SOURCES)]
              + [make_record("unrelated = 1", other, "b.ipynb", 0)])
    cells = notebook(SOURCES)

    # a reader (log, verify, export) leaves the file alone and reads the hashes out of the records
    reader = SQLiteStore(folder, create=False)
    assert "source_hash" not in columns(folder)
    found = find_sessions(reader, cells, "nb.ipynb", tmp_path)
    assert [(m.session_id, m.describe()) for m in found] == [(session, "by content: 4 of 4 cells")]
    assert [m.session_id for m in find_sessions(reader, cells, "b.ipynb", tmp_path)] == [session, other]
    assert reader.check() == []
    before = _summaries(reader, [hash_text(s) for s in SOURCES], "b.ipynb")
    reader.close()

    # a kernel opening it for writing adds the column, fills it in, and indexes it
    writer = SQLiteStore(folder)
    assert "source_hash" in columns(folder)
    conn = sqlite3.connect(folder / DB_NAME)
    rows = conn.execute("SELECT seq, source_hash, json_extract(record, '$.cell.source') FROM runs ORDER BY seq").fetchall()
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert [(seq, digest) for seq, digest, _ in rows] == [(seq, hash_text(src)) for seq, _, src in rows]
    assert len(rows) == 5
    assert {"runs_by_source", "runs_by_session", "runs_by_notebook"} <= indexes
    assert _summaries(writer, [hash_text(s) for s in SOURCES], "b.ipynb") == before
    assert writer.check() == []  # the hash chain is untouched (log --check)

    # new records land in the column too, and a later reader uses it
    newer = run(writer, SOURCES)
    writer.close()
    reader = SQLiteStore(folder, create=False)
    assert [m.session_id for m in find_sessions(reader, cells, "nb.ipynb", tmp_path)] == [newer, session]
    assert reader.check() == []
    reader.close()
    # opening it again changes nothing
    SQLiteStore(folder).close()
    assert SQLiteStore(folder, create=False).check() == []


def test_an_old_store_locked_by_another_process_opens_without_migrating(tmp_path: Path) -> None:
    folder = tmp_path / ".nbrepro"
    session = "a" * 32
    old_store(folder, [make_record(s, session, None, i) for i, s in enumerate(SOURCES)])
    lock = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        store = SQLiteStore(folder, busy_timeout_s=0.05)
        assert "source_hash" not in columns(folder)
        assert [m.session_id for m in find_sessions(store, notebook(SOURCES), None, tmp_path)] == [session]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    store.close()


def test_records_written_by_a_store_opened_before_the_migration_are_found(tmp_path: Path) -> None:
    """A kernel that found an old store busy (no migration) goes on writing after another
    process migrated the file: its rows get their source_hash all the same."""
    folder = tmp_path / ".nbrepro"
    old_store(folder, [make_record("x = 0", "0" * 32)])
    lock = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    early = SQLiteStore(folder, busy_timeout_s=0.05)  # a kernel that found the store busy
    lock.execute("ROLLBACK")
    lock.close()
    later = SQLiteStore(folder)  # the next kernel migrates it
    assert "source_hash" in columns(folder)
    session = run(early, SOURCES)  # the first kernel goes on recording
    try:
        found = find_sessions(later, notebook(SOURCES), "nb.ipynb", tmp_path)
        assert [m.session_id for m in found] == [session]
        conn = sqlite3.connect(folder / DB_NAME)
        assert conn.execute("SELECT count(*) FROM runs WHERE source_hash IS NULL").fetchone() == (0,)
        conn.close()
        assert later.check() == []
    finally:
        early.close()
        later.close()


def test_rows_left_without_a_source_hash_are_filled_in_on_the_next_open(tmp_path: Path) -> None:
    """Rows an old kernel wrote after the migration (NULL source_hash) are back-filled by
    the next store opened for writing."""
    folder = tmp_path / ".nbrepro"
    store = SQLiteStore(folder)
    session = run(store, SOURCES)
    store.close()
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    conn.execute("UPDATE runs SET source_hash = NULL WHERE seq > 1")
    conn.close()
    reopened = SQLiteStore(folder)
    conn = sqlite3.connect(folder / DB_NAME)
    assert conn.execute("SELECT count(*) FROM runs WHERE source_hash IS NULL").fetchone() == (0,)
    conn.close()
    assert [m.session_id for m in find_sessions(reopened, notebook(SOURCES), None, tmp_path)] == [session]
    assert reopened.check() == []
    reopened.close()
