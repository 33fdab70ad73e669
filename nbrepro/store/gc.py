"""Pruning whole sessions (``nbrepro gc``) while the chain stays checkable.

The records of the pruned sessions leave the ``runs`` table; each maximal range of
consecutive pruned records is replaced by one marker in the ``marks`` table, sealed like a
record (``schema`` ``nbrepro.pruned/1``):

    {"schema": "nbrepro.pruned/1", "seq": 14, "first_seq": 9, "prev_hash": <hash before seq 9>,
     "last_hash": <hash of seq 14>, "records": 6, "sessions": [...], "first_started_at": ...,
     "last_started_at": ..., "pruned_at": ..., "by": "nbrepro gc --keep 2", "hash": ...}

The marker stands in the chain for seq ``first_seq``..``seq``: its ``prev_hash`` links it to
the item before the range and the next item's ``prev_hash`` names its ``last_hash``, so no
remaining record changes and ``log --check`` still checks every link. ``last_hash`` commits
to everything pruned (each hash covers the one before), so an old copy of the store can show
what the range held. Blobs that no remaining record refers to go with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..record import record_hash
from ..record.hashing import canonical_json
from . import chain
from .base import blob_refs
from .sqlite import MARKS_SCHEMA, SQLiteStore


@dataclass
class SessionInfo:
    """One session as gc sees it: its records' count, seq span, last start and notebooks."""

    session_id: str
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    last_started_at: str = ""
    notebooks: set[str] = field(default_factory=set)


@dataclass
class Plan:
    """What a gc removes (or, for ``--dry-run``, would remove)."""

    pruned: list[SessionInfo]
    kept: list[SessionInfo]
    markers: list[dict[str, Any]]
    blobs: int = 0

    @property
    def records(self) -> int:
        return sum(s.records for s in self.pruned)


Select = Callable[[list[SessionInfo]], set[str]]


def select(keep: int | None = None, older_than: str | None = None, protect: Iterable[str] = ()) -> Select:
    """The sessions to prune: all but the ``keep`` most recent (by their last record), or
    those whose last cell started before the ISO time ``older_than``; never one in ``protect``."""
    spared = set(protect)

    def choose(sessions: list[SessionInfo]) -> set[str]:
        recent_first = sorted(sessions, key=lambda s: s.last_seq, reverse=True)
        if keep is not None:
            chosen = recent_first[keep:]
        else:
            chosen = [s for s in recent_first if older_than is not None and s.last_started_at < older_than]
        return {s.session_id for s in chosen} - spared

    return choose


def sessions(items: list[dict[str, Any]]) -> list[SessionInfo]:
    found: dict[str, SessionInfo] = {}
    for item in items:
        if chain.is_marker(item):
            continue
        info = found.setdefault(item["session_id"], SessionInfo(item["session_id"], first_seq=item["seq"]))
        info.records += 1
        info.last_seq = item["seq"]
        info.last_started_at = max(info.last_started_at, str(item.get("started_at") or ""))
        path = (item.get("notebook") or {}).get("path")
        if path:
            info.notebooks.add(path)
    return list(found.values())


def plan(items: list[dict[str, Any]], choose: Select, by: str, now: str) -> Plan:
    """The markers that replace the chosen sessions' records in ``items`` (records and
    markers in seq order, a whole chain)."""
    infos = sessions(items)
    doomed = choose(infos)
    markers: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    for item in [*items, None]:
        if item is not None and not chain.is_marker(item) and item["session_id"] in doomed:
            run.append(item)
            continue
        if run:
            markers.append(_marker(run, by, now))
            run = []
    return Plan(
        pruned=[s for s in infos if s.session_id in doomed], kept=[s for s in infos if s.session_id not in doomed],
        markers=markers,
    )


def _marker(run: list[dict[str, Any]], by: str, now: str) -> dict[str, Any]:
    marker: dict[str, Any] = {
        "schema": chain.PRUNED,
        "seq": run[-1]["seq"],
        "first_seq": run[0]["seq"],
        "prev_hash": run[0].get("prev_hash"),
        "last_hash": run[-1]["hash"],
        "records": len(run),
        "sessions": sorted({r["session_id"] for r in run}),
        "first_started_at": run[0].get("started_at"),
        "last_started_at": run[-1].get("started_at"),
        "pruned_at": now,
        "by": by,
    }
    marker["hash"] = record_hash(marker)
    return marker


def prune(store: SQLiteStore, choose: Select, by: str, now: str, dry_run: bool = False) -> Plan:
    """Prune the sessions ``choose`` picks, in one transaction (the plan is made inside it,
    so records another kernel appends meanwhile are seen). ``dry_run`` changes nothing."""
    if dry_run:
        items = sorted([*store.records(), *store.marks()], key=chain.seq_of)
        result = plan(items, choose, by, now)
        result.blobs = len(_unreferenced(store.blob_ids(), _remaining(items, result)))
        return result
    with store.write_transaction() as conn:
        items = _read_chain(conn)
        result = plan(items, choose, by, now)
        if result.markers:
            conn.execute(MARKS_SCHEMA)
            for marker in result.markers:
                conn.execute("DELETE FROM runs WHERE seq BETWEEN ? AND ?", (marker["first_seq"], marker["seq"]))
                body = canonical_json({k: v for k, v in marker.items() if k != "hash"})  # the text its hash covers
                conn.execute(
                    "INSERT INTO marks (seq, hash, record) VALUES (?,?,?)", (marker["seq"], marker["hash"], body),
                )
        ids = [r[0] for r in conn.execute("SELECT id FROM blobs")]
        gone = _unreferenced(ids, _remaining(items, result))
        conn.executemany("DELETE FROM blobs WHERE id = ?", [(blob_id,) for blob_id in gone])
        result.blobs = len(gone)
    if result.markers or result.blobs:
        store.vacuum()
    return result


def _read_chain(conn: Any) -> list[dict[str, Any]]:
    records = [{**json.loads(body), "hash": digest} for body, digest in conn.execute("SELECT record, hash FROM runs")]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    marks = [{**json.loads(body), "hash": digest} for body, digest in conn.execute("SELECT record, hash FROM marks")] if (
        "marks" in tables
    ) else []
    return sorted([*records, *marks], key=chain.seq_of)


def _remaining(items: list[dict[str, Any]], result: Plan) -> list[dict[str, Any]]:
    doomed = {s.session_id for s in result.pruned}
    return [i for i in items if not chain.is_marker(i) and i["session_id"] not in doomed]


def _unreferenced(blob_ids: Iterable[str], remaining: list[dict[str, Any]]) -> list[str]:
    used = {blob_id for rec in remaining for _part, blob_id in blob_refs(rec)}
    return [blob_id for blob_id in blob_ids if blob_id not in used]
