"""The default store: one SQLite database in WAL mode, safe for several kernels at once."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._errors import StoreError
from ..record.hashing import canonical_json
from . import chain
from .base import Blobs, FileHashRows, SessionSummary, Store, blob_refs

DB_NAME = "nbrepro.db"
_KEPT_RNG = 16
STORE_VERSION = "1"
# What every SQLite database file starts with: checked before each batch, so a file
# overwritten in place is found before anything is written into it.
_HEADER = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    notebook TEXT,
    hash TEXT NOT NULL,
    record TEXT NOT NULL,
    source_hash TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_notebook ON runs (notebook);
CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
"""
# Finding a notebook's sessions by content (which sessions ran these sources) and reading one
# session: both by index. Added after store version 1 shipped: an older store gains the
# column, filled from its records, the first time a kernel opens it for writing; until then
# readers take the hash out of the record itself.
_BY_SOURCE = """
CREATE INDEX IF NOT EXISTS runs_by_source ON runs (source_hash);
CREATE INDEX IF NOT EXISTS runs_by_session ON runs (session_id, seq);
"""
# The file-hash cache: a hit needs the same device, inode, size and mtime. Added after store
# version 1 shipped, so it is created on its own where missing.
_FILE_HASHES = """
CREATE TABLE IF NOT EXISTS file_hashes (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (dev, ino, size, mtime_ns)
) WITHOUT ROWID;
"""
# The markers `nbrepro gc` leaves where it pruned a range of the chain (see gc.py): made by
# the first gc, so stores that never pruned have no such table.
MARKS_SCHEMA = "CREATE TABLE IF NOT EXISTS marks (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, record TEXT NOT NULL)"

Warn = Callable[[str, str], None]


class StoreLocked(StoreError):
    """Another process holds the database; the write can be retried later."""


class StoreCorrupt(StoreError):
    """The file is not a usable SQLite database."""


def is_locked_error(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_corrupt_error(exc: sqlite3.Error) -> bool:
    """SQLite says the file is damaged or no database: not a full disk, a lock or an I/O error,
    which are faults of the moment and never a reason to move the file aside."""
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+
    text = str(exc).lower()
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text


class SQLiteStore(Store):
    """The store in ``folder`` (``nbrepro.db`` there), or an in-memory database for
    ``":memory:"``, as nbformat's signature store takes it.

    A store opened for writing checks, before each batch, that the file at its path is still
    the database it opened (same device and inode, an SQLite header): one replaced by a
    rename, removed or overwritten mid-session is healed as docs/capture.md's fault table
    says, with one ``store`` warning through ``warn``.
    """

    def __init__(
        self, folder: Path | str, *, create: bool = True, busy_timeout_s: float = 2.0, warn: Warn | None = None
    ) -> None:
        self._memory = str(folder) == ":memory:"
        self.folder = Path(folder)
        self.path = Path(":memory:") if self._memory else self.folder / DB_NAME
        self.location = str(self.path)
        self._lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        self._create = create or self._memory
        self._warn = warn
        self._sessions: set[str] = set()  # the sessions this object wrote records of
        # Blobs later records of this session may point at again, to write again into a new
        # file: every env and hardware blob, and the last RNG states (a cell that draws
        # nothing shares the previous cell's state blob).
        self._kept_blobs: Blobs = {}
        self._carry: list[dict[str, Any]] = []  # this session's records saved from a replaced file
        self._carry_blobs: Blobs = {}
        self._reconnect = False
        if self._memory:
            pass
        elif create:
            _make_folder(self.folder)
        elif not self.path.is_file():
            raise StoreError(f"no nbrepro store at {self.folder} (run a notebook with %load_ext nbrepro first)")
        self._connect()

    def _connect(self) -> None:
        self._close_header_fd()  # the connection it went with is closed
        try:
            conn = sqlite3.connect(
                ":memory:" if self._memory else self.path, timeout=self._busy_timeout_s, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self._conn = conn
        try:
            if self._create:
                conn.execute("PRAGMA synchronous=NORMAL")
                tables = self._tables()
                if not {"meta", "runs", "blobs", "file_hashes"} <= tables:
                    # Only a new store needs the write lock; an existing one opens while
                    # another process holds it.
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(_SCHEMA + _FILE_HASHES)
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('store_version', ?)", (STORE_VERSION,))
                self._add_source_index()
            else:
                conn.execute("SELECT count(*) FROM runs").fetchone()
            self._source_column = self._has_source_column()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and is_locked_error(exc):
                raise StoreLocked(f"{self.path} is locked by another process") from exc
            if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).lower():
                raise StoreError(f"{self.path} is read-only") from exc
            if isinstance(exc, sqlite3.OperationalError) and not _is_corrupt_error(exc) and "no such table" not in str(exc):
                raise StoreError(f"cannot open {self.path}: {exc}") from exc
            raise StoreCorrupt(f"{self.path} is not a usable nbrepro database: {exc}") from exc
        self._file_id = None if self._memory else _identity(self.path)
        # The header is read through one descriptor kept open with the connection: closing
        # any descriptor of the file drops every POSIX lock this process holds on it, SQLite's
        # included, and another process closing its connection would then take itself for the
        # last one and delete the WAL this one still writes to (its records lost).
        try:
            self._header_fd: int | None = None if self._memory else os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._header_fd = None
        self._reconnect = False

    def _close_header_fd(self) -> None:
        fd, self._header_fd = getattr(self, "_header_fd", None), None
        if fd is not None:
            os.close(fd)

    def _tables(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    # -- writing -------------------------------------------------------------------------
    def append(
        self, records: list[dict[str, Any]], blobs: Blobs | None = None, file_hashes: FileHashRows | None = None
    ) -> None:
        if not records and not blobs and not file_hashes:
            return
        with self._lock:
            self._ensure_file()
            try:
                sealed = self._write(records, blobs or {}, file_hashes or [])
            except StoreCorrupt as exc:  # SQLite found the file damaged only now: heal, then write once more
                self._heal(f"was damaged ({exc.__cause__ or exc})", overwritten=True)
                sealed = self._write(records, blobs or {}, file_hashes or [])
            self._sessions.update(rec["session_id"] for rec in records)
            self._kept_blobs.update((i, b) for i, b in (blobs or {}).items() if b[0] in ("env", "hardware", "rng"))
            rng = [i for i, b in self._kept_blobs.items() if b[0] == "rng"]
            for old in rng[:-_KEPT_RNG]:
                del self._kept_blobs[old]
            # Only now, with the commit done, do the caller's dicts learn their place.
            for rec, done in zip(records, sealed, strict=True):
                rec.update(done)

    def _write(self, records: list[dict[str, Any]], blobs: Blobs, file_hashes: FileHashRows) -> list[dict[str, Any]]:
        """One transaction: records carried over from a replaced file first, then ``records``,
        each sealed onto the end of the chain. Returns the sealed copies of ``records``."""
        carried = self._carry
        with self._transaction():
            for blob_id, (kind, content) in {**self._carry_blobs, **blobs}.items():
                self._conn.execute(
                    "INSERT OR IGNORE INTO blobs (id, kind, body) VALUES (?,?,?)", (blob_id, kind, canonical_json(content))
                )
            self._conn.executemany(
                "INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?,?)",
                [(*_signed(key), digest) for key, digest in file_hashes],
            )
            if not self._source_column:  # another process may have migrated the file since
                self._source_column = self._has_source_column()
            sealed = self._seal_locked([*carried, *records])
        self._carry, self._carry_blobs = [], {}
        return sealed[len(carried):]

    def _seal_locked(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not records:
            return []
        seq, prev = self._next_locked()
        sealed: list[dict[str, Any]] = []
        memo: dict[int, tuple[Any, str]] = {}
        for rec in records:
            seq += 1
            sealed_rec = dict(rec)
            body = chain.seal(sealed_rec, seq, prev, memo)
            prev = sealed_rec["hash"]
            # The record column holds exactly the text its hash covers; the other columns
            # are copies of its fields, for the indexes (log --check compares them).
            row = (seq, sealed_rec["run_id"], sealed_rec["session_id"], (sealed_rec.get("notebook") or {}).get("path"),
                   sealed_rec["hash"], body)
            if self._source_column:
                self._conn.execute(
                    "INSERT INTO runs (seq, run_id, session_id, notebook, hash, record, source_hash) VALUES (?,?,?,?,?,?,?)",
                    (*row, (sealed_rec.get("cell") or {}).get("source_hash")),
                )
            else:
                self._conn.execute(
                    "INSERT INTO runs (seq, run_id, session_id, notebook, hash, record) VALUES (?,?,?,?,?,?)", row
                )
            sealed.append(sealed_rec)
        self._set_head_locked(seq, prev)
        return sealed

    def _next_locked(self) -> tuple[int, str | None]:
        """The seq and hash to chain the next record onto, from the records themselves: the
        stored head is not trusted. Where the head (or the header's copy of its seq) runs
        ahead of the records, records were removed from the end: the next one takes the seq
        after the head, so the gap stays for ``log --check`` to report."""
        last_seq, last_link = self._last_item_locked()
        head_seq = self._head_locked()[0]
        return max(last_seq, head_seq, self._header_locked()), last_link

    def _set_head_locked(self, seq: int, link: str | None) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('head', ?)", (json.dumps([seq, link]),))
        # The head's seq once more, in the database header (PRAGMA user_version): outside
        # the tables, so deleting the last rows and copying the new last seq and hash into
        # the head row still leaves the header saying how far the chain went.
        self._conn.execute(f"PRAGMA user_version = {int(seq) if seq < 2**31 else 0}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc) from exc
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            # After a full disk or an I/O error SQLite has already rolled back: a second
            # ROLLBACK would fail and hide the real error.
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(exc, sqlite3.Error):
                raise self._write_error(exc) from exc
            raise

    def _write_error(self, exc: sqlite3.Error) -> StoreError:
        if is_locked_error(exc):
            return StoreLocked(f"{self.path} is locked by another process")
        if _is_corrupt_error(exc):
            return StoreCorrupt(f"{self.path} is not a usable nbrepro database: {exc}")
        if "readonly" in str(exc).lower():
            # A connection that found the file read-only stays so: open it anew next time,
            # so the records are written once the file can be written again.
            self._reconnect = True
        return StoreError(f"cannot write {self.path}: {exc}")

    # -- a file replaced, removed or overwritten mid-session ------------------------------
    def _ensure_file(self) -> None:
        if self._memory:
            return
        fault = self._file_fault()
        if fault == "overwritten":
            self._heal("was overwritten (it is no SQLite database any more)", overwritten=True)
        elif fault is not None:
            self._heal(fault, overwritten=False)
        elif self._reconnect:
            self._conn.close()
            self._connect()

    def _file_fault(self) -> str | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "was removed"
        except OSError:
            return None  # cannot tell: SQLite reports what it finds
        if self._file_id is None:  # could not be read at open: this is the file from now on
            self._file_id = (st.st_dev, st.st_ino)
        if (st.st_dev, st.st_ino) != self._file_id:
            return "was replaced by another file"
        try:  # the same file as the kept descriptor's: its header, never a new open (see _connect)
            header = os.pread(self._header_fd, len(_HEADER), 0) if self._header_fd is not None else _HEADER
        except OSError:
            return None
        if header != _HEADER:
            return "overwritten"
        return None

    def _heal(self, what: str, *, overwritten: bool) -> None:
        """Move to a sound file at the path: a new store, or the file put there by a rename.

        An overwritten file is moved aside first: SQLite then sees its database gone and
        does not checkpoint into it on close, so the ``.bak`` holds what was found. A file
        renamed away or removed is still open and whole: this session's records are read out
        of it and written into the new file first, and its WAL is emptied so that the file
        now at the path is never paired with it.
        """
        moved: list[str] = []
        if overwritten:
            moved.append(move_aside(self.path).name)
        else:
            self._carry_old()
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
        self._conn.close()
        _make_folder(self.folder)
        try:
            self._connect()
        except StoreCorrupt:  # what was put at the path is no database either
            moved.append(move_aside(self.path).name)
            self._connect()
        self._drop_carried_present()
        self._carry_blobs.update(self._kept_blobs)
        if self._warn is not None:
            done = f"moved it to {', '.join(moved)} and started a new store" if moved else "writing to the file now there"
            if self._carry:
                done += f"; {len(self._carry)} earlier record(s) of this session are copied into it"
            self._warn("store", f"{self.path} {what} during the session; {done}")

    def _carry_old(self) -> None:
        if not self._sessions:
            return
        try:
            rows = self._conn.execute(
                "SELECT record FROM runs WHERE session_id IN (SELECT value FROM json_each(?)) ORDER BY seq",
                (json.dumps(sorted(self._sessions)),),
            ).fetchall()
            carried = [_unsealed(json.loads(body)) for (body,) in rows]
            carried = [r for r in carried if r.get("session_id") in self._sessions]
            wanted = {blob_id for rec in carried for _part, blob_id in blob_refs(rec)}
            found = self._conn.execute(
                "SELECT id, kind, body FROM blobs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(wanted)),)
            ).fetchall()
        except (sqlite3.Error, ValueError):
            return  # unreadable: nothing to carry
        self._carry = [*carried, *self._carry]
        self._carry_blobs.update({blob_id: (kind, json.loads(body)) for blob_id, kind, body in found})

    def _drop_carried_present(self) -> None:
        """Records already in the new file (an older copy of this store put back) are not copied twice."""
        if not self._carry:
            return
        ids = [r["run_id"] for r in self._carry]
        present = {
            r[0] for r in self._conn.execute(
                "SELECT run_id FROM runs WHERE run_id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
            )
        }
        self._carry = [r for r in self._carry if r["run_id"] not in present]

    # -- reading -------------------------------------------------------------------------
    def _head_locked(self) -> tuple[int, str | None]:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        if row is None:
            return (0, None)
        try:
            seq, prev = json.loads(row[0])
            return (int(seq), prev)
        except (ValueError, TypeError):
            return (0, None)

    def _header_locked(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _last_item_locked(self) -> tuple[int, str | None]:
        row = self._conn.execute("SELECT seq, hash FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        last: tuple[int, str | None] = (row[0], row[1]) if row else (0, None)
        if "marks" in self._tables():
            mark = self._conn.execute(
                "SELECT seq, json_extract(record, '$.last_hash') FROM marks ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if mark and mark[0] > last[0]:
                last = (mark[0], mark[1])
        return last

    def head(self) -> tuple[int, str | None]:
        with self._lock:
            return self._head_locked()

    def store_id(self, create: bool = False) -> str | None:
        """This store's random id (``meta`` row ``store_id``), which its anchors name
        (``nbrepro.team.anchors``); made on first use when ``create``."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        if row is None and create:
            with self.write_transaction() as conn:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            return self.store_id()
        return str(row[0]) if row else None

    def marks(self) -> list[dict[str, Any]]:
        """The markers ``nbrepro gc`` left for pruned ranges, in seq order."""
        with self._lock:
            return [mark for _seq, mark in self._marks_locked()]

    def _marks_locked(self) -> list[tuple[int, dict[str, Any]]]:
        """(seq column, marker) pairs."""
        if "marks" not in self._tables():
            return []
        rows = self._conn.execute("SELECT seq, record, hash FROM marks ORDER BY seq").fetchall()
        return [(seq, {**json.loads(body), "hash": digest}) for seq, body, digest in rows]

    def cached_hash(self, key: tuple[int, int, int, int]) -> str | None:
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT hash FROM file_hashes WHERE dev=? AND ino=? AND size=? AND mtime_ns=?", _signed(key)
                ).fetchone()
            except sqlite3.Error:  # an old store without the table, or a busy one: no hit
                return None
        return row[0] if row else None

    def blob_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT id FROM blobs")]

    def get_blob(self, blob_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT body FROM blobs WHERE id = ?", (blob_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # Readers select rows by their index columns, then keep only the rows whose record says
    # the same: a column edited after the fact (it is outside the hash) selects nothing it
    # should not, and `log --check` names it.
    def records(self, notebook: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if notebook is None:
                rows = self._conn.execute("SELECT record, hash FROM runs ORDER BY seq").fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT record, hash FROM runs WHERE notebook = ? ORDER BY seq", (notebook,)
                ).fetchall()
        out = [{**json.loads(body), "hash": digest} for body, digest in rows]
        if notebook is not None:
            out = [r for r in out if (r.get("notebook") or {}).get("path") == notebook]
        return out

    def sessions_with(self, source_hashes: Iterable[str], notebook: str | None = None) -> list[SessionSummary]:
        wanted = set(source_hashes)
        source = "source_hash" if self._source_column else "json_extract(record, '$.cell.source_hash')"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT session_id, {source} AS h, notebook, max(seq) FROM runs"
                f" WHERE (h IN (SELECT value FROM json_each(?)) OR notebook = ?)"
                " AND session_id = json_extract(record, '$.session_id')"
                " AND notebook IS json_extract(record, '$.notebook.path')"
                " AND (h IS NULL OR h = coalesce(json_extract(record, '$.cell.source_hash'), ''))"
                " GROUP BY session_id, h, notebook",
                (json.dumps(sorted(wanted)), notebook),
            ).fetchall()
        found: dict[str, SessionSummary] = {}
        for session_id, digest, path, seq in rows:
            summary = found.setdefault(session_id, SessionSummary(session_id))
            summary.add(digest if digest in wanted else None, path, seq)
        return list(found.values())

    def find(self, run_id_prefix: str) -> list[dict[str, Any]]:
        prefix = run_id_prefix.strip().lower()
        if not re.fullmatch(r"[0-9a-f]*", prefix):
            return []
        with self._lock:  # the run_id index answers a range query
            rows = self._conn.execute(
                "SELECT record, hash FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY seq LIMIT 2",
                (prefix, prefix + "g"),
            ).fetchall()
        found = [{**json.loads(body), "hash": digest} for body, digest in rows]
        return [r for r in found if str(r.get("run_id", "")).startswith(prefix)]

    def session_records(self, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT record, hash FROM runs WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
        found = [{**json.loads(body), "hash": digest} for body, digest in rows]
        return [r for r in found if r.get("session_id") == session_id]

    def session_ids(self, prefix: str) -> list[str]:
        # session ids are lowercase hex: no LIKE wildcard can be in a valid prefix
        if not re.fullmatch(r"[0-9a-f]*", prefix):
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT session_id FROM runs WHERE session_id >= ? AND session_id < ? ORDER BY session_id",
                (prefix, prefix + "g"),
            ).fetchall()
        return [r[0] for r in rows]

    # -- checking ------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Breaks in the chain (records and pruned-range markers), the head and the header's
        seq against the last item, every index column against the record it copies, and
        blobs missing or not matching their id."""
        source = ", source_hash" if self._source_column else ", NULL"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, run_id, session_id, notebook, hash, record{source} FROM runs ORDER BY seq"
            ).fetchall()
            marks = self._marks_locked()
            head, header = self._head_locked(), self._header_locked()
        problems: list[str] = []
        records: list[dict[str, Any]] = []
        for seq, run_id, session_id, notebook, digest, body, source_hash in rows:
            try:
                rec = {**json.loads(body), "hash": digest}
            except ValueError:
                problems.append(f"seq {seq}: the record is not valid JSON (it was edited)")
                continue
            problems.extend(_column_problems(rec, seq, run_id, session_id, notebook, source_hash))
            records.append(rec)
        for column, mark in marks:
            if column != mark.get("seq"):
                problems.append(f"pruned seq {mark.get('first_seq')}-{mark.get('seq')}: the seq column says {column} (the row was edited)")
        items = sorted([*records, *(mark for _seq, mark in marks)], key=chain.seq_of)
        return [*chain.check(items, head, header or None), *problems, *self._blob_problems(records)]

    def _has_source_column(self) -> bool:
        return any(row[1] == "source_hash" for row in self._conn.execute("PRAGMA table_info(runs)"))

    def _add_source_index(self) -> None:
        """Bring a store from before content matching up to date; skipped while another
        process holds the write lock (readers then fall back to the records' own field)."""
        indexes = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        if self._has_source_column() and {"runs_by_source", "runs_by_session"} <= indexes and not self._conn.execute(
            "SELECT 1 FROM runs WHERE source_hash IS NULL LIMIT 1"  # rows a kernel opened before the migration wrote
        ).fetchone():
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return
        try:
            if not self._has_source_column():
                self._conn.execute("ALTER TABLE runs ADD COLUMN source_hash TEXT")
            self._conn.execute(
                "UPDATE runs SET source_hash = coalesce(json_extract(record, '$.cell.source_hash'), '')"
                " WHERE source_hash IS NULL"
            )
            for statement in filter(str.strip, _BY_SOURCE.split(";")):
                self._conn.execute(statement)
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    @contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction, for maintenance (``nbrepro gc``)."""
        with self._lock:
            self._ensure_file()
            with self._transaction():
                yield self._conn

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system (best effort: skipped when busy)."""
        with self._lock:
            try:
                self._conn.execute("VACUUM")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._close_header_fd()


def _column_problems(
    rec: dict[str, Any], seq: int, run_id: str, session_id: str, notebook: str | None, source_hash: str | None
) -> list[str]:
    """Where a row's index columns (outside the hash) disagree with its record (inside it)."""
    digest = (rec.get("cell") or {}).get("source_hash")
    pairs = [
        ("seq", seq, rec.get("seq")),
        ("run_id", run_id, rec.get("run_id")),
        ("session_id", session_id, rec.get("session_id")),
        ("notebook", notebook, (rec.get("notebook") or {}).get("path")),
    ]
    # NULL: not filled in yet (a kernel from before the column wrote it); '' stands for none
    if source_hash is not None and source_hash != (digest or ""):
        pairs.append(("source_hash", source_hash, digest))
    return [
        f"seq {seq}: the {name} column says {column!r} but the record says {value!r} (the row was edited)"
        for name, column, value in pairs
        if column != value
    ]


def _unsealed(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("seq", "prev_hash", "hash")}


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _signed(key: tuple[int, ...]) -> tuple[int, ...]:
    """SQLite integers are signed 64-bit; inode and device numbers may use the top bit."""
    return tuple(v - 2**64 if v >= 2**63 else v for v in key)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            # Keeps the store out of `git status`, and so out of the dirty flag and snapshots.
            ignore.write_text("# created by nbrepro\n*\n", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot create the store folder {folder}: {exc.strerror or exc}") from exc


def move_aside(path: Path) -> Path:
    """Rename a corrupt database (and its WAL files) to ``.bak`` so a new one can start; an
    earlier ``.bak`` is kept (the next is ``.1.bak``, ``.2.bak``, …)."""
    backup = path.with_name(path.name + ".bak")
    n = 0
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.{n}.bak")
    os.replace(path, backup)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, backup.with_name(backup.name + suffix))
    return backup
