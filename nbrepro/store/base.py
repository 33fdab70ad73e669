"""The Store interface: append-only records in a hash chain, plus content-addressed blobs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._errors import StoreError
from ..record.hashing import hash_json
from . import chain

# Content-addressed parts waiting to be written: id -> (kind, content).
Blobs = dict[str, tuple[str, dict[str, Any]]]
# File-hash cache entries: ((st_dev, st_ino, st_size, st_mtime_ns), "blake3:…").
FileHashRows = list[tuple[tuple[int, int, int, int], str]]


@dataclass
class SessionSummary:
    """What the index says of one session: the matched source hashes, the notebook paths
    its records carry, and its last sequence number (the larger, the more recent)."""

    session_id: str
    hashes: set[str] = field(default_factory=set)
    paths: set[str | None] = field(default_factory=set)
    last_seq: int = 0

    def add(self, source_hash: str | None, path: str | None, seq: int) -> None:
        if source_hash is not None:
            self.hashes.add(source_hash)
        self.paths.add(path)
        self.last_seq = max(self.last_seq, seq)


class Store(ABC):
    """Where records live. Implementations: ``SQLiteStore`` (default), ``MemoryStore`` (tests)."""

    location: str = ":memory:"

    @abstractmethod
    def append(
        self, records: list[dict[str, Any]], blobs: Blobs | None = None, file_hashes: FileHashRows | None = None
    ) -> None:
        """Seal ``records`` onto the end of the chain (seq, prev_hash, hash) and store the
        ``blobs`` they reference and new ``file_hashes`` for the cache, all in one
        transaction. On success each dict in ``records`` carries its seq, prev_hash and hash."""

    @abstractmethod
    def cached_hash(self, key: tuple[int, int, int, int]) -> str | None:
        """The hash remembered for a file with this (device, inode, size, mtime_ns), if any."""

    @abstractmethod
    def get_blob(self, blob_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def records(self, notebook: str | None = None) -> list[dict[str, Any]]:
        """Records oldest first, optionally only those of one notebook path."""

    @abstractmethod
    def head(self) -> tuple[int, str | None]:
        """The (seq, hash) of the last record the store remembers sealing."""

    def sessions_with(self, source_hashes: Iterable[str], notebook: str | None = None) -> list[SessionSummary]:
        """The sessions that ran a cell with one of ``source_hashes``, or recorded ``notebook``
        as their path: a candidate list for finding a notebook's sessions (see
        ``nbrepro.notebook.sessions``). Implementations answer from an index."""
        wanted = set(source_hashes)
        found: dict[str, SessionSummary] = {}
        for rec in self.records():
            digest = (rec.get("cell") or {}).get("source_hash")
            path = (rec.get("notebook") or {}).get("path")
            if digest not in wanted and (notebook is None or path != notebook):
                continue
            summary = found.setdefault(rec["session_id"], SessionSummary(rec["session_id"]))
            summary.add(digest if digest in wanted else None, path, rec["seq"])
        return list(found.values())

    def session_records(self, session_id: str) -> list[dict[str, Any]]:
        """The records of one session, oldest first."""
        return [r for r in self.records() if r["session_id"] == session_id]

    def session_ids(self, prefix: str) -> list[str]:
        """The session ids that start with ``prefix``."""
        return sorted({r["session_id"] for r in self.records() if r["session_id"].startswith(prefix)})

    def close(self) -> None:  # noqa: B027 - optional for implementations
        pass

    def get(self, run_id_prefix: str) -> dict[str, Any]:
        """The record whose run id starts with ``run_id_prefix`` (at least 4 characters)."""
        prefix = run_id_prefix.strip().lower()
        if len(prefix) < 4:
            raise StoreError(f"run id {run_id_prefix!r} is too short: give at least 4 characters")
        found = self.find(prefix)
        if not found:
            raise StoreError(f"no run with id {run_id_prefix!r} in {self.location}")
        if len(found) > 1:
            raise StoreError(f"run id {run_id_prefix!r} is ambiguous: more than one run matches")
        return found[0]

    def find(self, run_id_prefix: str) -> list[dict[str, Any]]:
        """At most two records whose run id starts with ``run_id_prefix`` (two: ambiguous)."""
        return [r for r in self.records() if r["run_id"].startswith(run_id_prefix)][:2]

    def expand(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with its content-addressed parts (env, hardware, tracked folders' trees)
        filled in."""
        out = dict(record)
        for part in ("env", "hardware"):
            value = record.get(part)
            if isinstance(value, dict) and "id" in value:
                blob = self.get_blob(value["id"])
                if blob is not None:
                    out[part] = {**blob, **value}
        data = record.get("data")
        if isinstance(data, list) and any(_is_tree(e) for e in data):
            out["data"] = [{**e, "tree": (self.get_blob(e["hash"]) or {}).get("files")} if _is_tree(e) else e for e in data]
        return out

    def marks(self) -> list[dict[str, Any]]:
        """The markers ``nbrepro gc`` left for pruned ranges of the chain, in seq order."""
        return []

    def check(self) -> list[str]:
        """Breaks in the hash chain and blobs whose content no longer matches their id."""
        records = self.records()
        items = sorted([*records, *self.marks()], key=chain.seq_of)
        return [*chain.check(items, self.head()), *self._blob_problems(records)]

    def _blob_problems(self, records: list[dict[str, Any]]) -> list[str]:
        problems: list[str] = []
        seen: set[str] = set()
        for rec in records:
            for part, blob_id in blob_refs(rec):
                if blob_id not in seen:
                    seen.add(blob_id)
                    blob = self.get_blob(blob_id)
                    if blob is None:
                        problems.append(f"seq {rec.get('seq')}: {part} blob {blob_id} is missing")
                    elif hash_json(blob) != blob_id:
                        problems.append(f"{part} blob {blob_id} does not match its content (edited)")
        return problems


def _is_tree(entry: Any) -> bool:
    """A tracked folder's entry in ``data``: its hash is the id of its tree blob."""
    return isinstance(entry, dict) and entry.get("seen_by") == "track" and str(entry.get("path", "")).endswith("/")


def blob_refs(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The (part, blob id) pairs a record refers to: env, hardware, tracked trees, outputs,
    the RNG states a cell started with."""
    refs = [(part, (record.get(part) or {}).get("id")) for part in ("env", "hardware")]
    data = record.get("data")
    if isinstance(data, list):
        refs.extend(("tree", e["hash"]) for e in data if _is_tree(e))
    outputs = record.get("outputs")
    if isinstance(outputs, dict):
        refs.extend(("output", item.get("blob")) for item in outputs.get("items", ()))
    start = (record.get("seeds") or {}).get("start") if isinstance(record.get("seeds"), dict) else None
    if isinstance(start, dict):
        refs.extend(("rng", blob_id) for blob_id in start.values() if isinstance(blob_id, str))
    return [(part, blob_id) for part, blob_id in refs if blob_id]
