"""The default store: one SQLite database in WAL mode, safe for several kernels at once."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._errors import StoreError
from ..record.hashing import canonical_json
from . import chain
from .base import Blobs, FileHashRows, SessionSummary, Store

DB_NAME = "nbrepro.db"
STORE_VERSION = "1"

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


class StoreLocked(StoreError):
    """Another process holds the database; the write can be retried later."""


class StoreCorrupt(StoreError):
    """The file is not a usable SQLite database."""


def is_locked_error(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SQLiteStore(Store):
    """The store in ``folder`` (``nbrepro.db`` there), or an in-memory database for
    ``":memory:"``, as nbformat's signature store takes it."""

    def __init__(self, folder: Path | str, *, create: bool = True, busy_timeout_s: float = 2.0) -> None:
        memory = str(folder) == ":memory:"
        self.folder = Path(folder)
        self.path = Path(":memory:") if memory else self.folder / DB_NAME
        self.location = str(self.path)
        self._lock = threading.Lock()
        if memory:
            create = True
        elif create:
            _make_folder(self.folder)
        elif not self.path.is_file():
            raise StoreError(f"no nbrepro store at {self.folder} (run a notebook with %load_ext nbrepro first)")
        try:
            self._conn = sqlite3.connect(
                ":memory:" if memory else self.path, timeout=busy_timeout_s, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            if create:
                self._conn.execute("PRAGMA synchronous=NORMAL")
                tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"meta", "runs", "blobs", "file_hashes"} <= tables:
                    # Only a new store needs the write lock; an existing one opens while
                    # another process holds it.
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.executescript(_SCHEMA + _FILE_HASHES)
                    self._conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('store_version', ?)", (STORE_VERSION,)
                    )
                self._add_source_index()
            else:
                self._conn.execute("SELECT count(*) FROM runs").fetchone()
            self._source_column = self._has_source_column()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and is_locked_error(exc):
                raise StoreLocked(f"{self.path} is locked by another process") from exc
            if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).lower():
                raise StoreError(f"{self.path} is read-only") from exc
            raise StoreCorrupt(f"{self.path} is not a usable nbrepro database: {exc}") from exc

    def append(
        self, records: list[dict[str, Any]], blobs: Blobs | None = None, file_hashes: FileHashRows | None = None
    ) -> None:
        if not records and not blobs and not file_hashes:
            return
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if is_locked_error(exc):
                    raise StoreLocked(f"{self.path} is locked by another process") from exc
                raise StoreError(f"cannot write {self.path}: {exc}") from exc
            try:
                for blob_id, (kind, content) in (blobs or {}).items():
                    self._conn.execute(
                        "INSERT OR IGNORE INTO blobs (id, kind, body) VALUES (?,?,?)",
                        (blob_id, kind, canonical_json(content)),
                    )
                self._conn.executemany(
                    "INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?,?)",
                    [(*_signed(key), digest) for key, digest in file_hashes or ()],
                )
                if not self._source_column:  # another process may have migrated the file since
                    self._source_column = self._has_source_column()
                seq, prev = self._head_locked()
                sealed: list[dict[str, Any]] = []
                memo: dict[int, tuple[Any, str]] = {}
                for rec in records:
                    seq += 1
                    sealed_rec = dict(rec)
                    body = chain.seal(sealed_rec, seq, prev, memo)
                    prev = sealed_rec["hash"]
                    # The record column holds exactly the text its hash covers.
                    row = (
                        seq,
                        sealed_rec["run_id"],
                        sealed_rec["session_id"],
                        (sealed_rec.get("notebook") or {}).get("path"),
                        sealed_rec["hash"],
                        body,
                    )
                    if self._source_column:
                        self._conn.execute(
                            "INSERT INTO runs (seq, run_id, session_id, notebook, hash, record, source_hash)"
                            " VALUES (?,?,?,?,?,?,?)",
                            (*row, (sealed_rec.get("cell") or {}).get("source_hash")),
                        )
                    else:
                        self._conn.execute(
                            "INSERT INTO runs (seq, run_id, session_id, notebook, hash, record) VALUES (?,?,?,?,?,?)",
                            row,
                        )
                    sealed.append(sealed_rec)
                if records:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('head', ?)", (json.dumps([seq, prev]),)
                    )
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and is_locked_error(exc):
                    raise StoreLocked(f"{self.path} is locked by another process") from exc
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot write {self.path}: {exc}") from exc
                raise
            # Only now, with the commit done, do the caller's dicts learn their place.
            for rec, done in zip(records, sealed, strict=True):
                rec.update(done)

    def _head_locked(self) -> tuple[int, str | None]:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        if row is None:
            return (0, None)
        seq, prev = json.loads(row[0])
        return (int(seq), prev)

    def head(self) -> tuple[int, str | None]:
        with self._lock:
            return self._head_locked()

    def cached_hash(self, key: tuple[int, int, int, int]) -> str | None:
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT hash FROM file_hashes WHERE dev=? AND ino=? AND size=? AND mtime_ns=?", _signed(key)
                ).fetchone()
            except sqlite3.Error:  # an old store without the table, or a busy one: no hit
                return None
        return row[0] if row else None

    def get_blob(self, blob_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT body FROM blobs WHERE id = ?", (blob_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def records(self, notebook: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if notebook is None:
                rows = self._conn.execute("SELECT record, hash FROM runs ORDER BY seq").fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT record, hash FROM runs WHERE notebook = ? ORDER BY seq", (notebook,)
                ).fetchall()
        return [{**json.loads(body), "hash": digest} for body, digest in rows]

    def sessions_with(self, source_hashes: Iterable[str], notebook: str | None = None) -> list[SessionSummary]:
        wanted = set(source_hashes)
        source = "source_hash" if self._source_column else "json_extract(record, '$.cell.source_hash')"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT session_id, {source} AS h, notebook, max(seq) FROM runs"
                f" WHERE h IN (SELECT value FROM json_each(?)) OR notebook = ?"
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
        return [{**json.loads(body), "hash": digest} for body, digest in rows]

    def session_records(self, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT record, hash FROM runs WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
        return [{**json.loads(body), "hash": digest} for body, digest in rows]

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
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


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
    """Rename a corrupt database (and its WAL files) to ``.bak`` so a new one can start."""
    backup = path.with_name(path.name + ".bak")
    os.replace(path, backup)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, backup.with_name(backup.name + suffix))
    return backup
