"""From a notebook to its recorded sessions: found by content, the recorded path a hint.

A session belongs to a notebook when it ran most of the notebook's code cells (their source
hashes), or when its records carry the notebook's path. Any way of running a notebook
(JupyterLab, VS Code, ``jupyter execute``, nbconvert, nbclient, papermill, a script) and a
rename, move or copy inside the project therefore keep the link. Among the sessions found,
the one that ran the most of the notebook's cells wins, then the most recent; the sessions
recorded for another notebook that still exists (a copy run on its own) count only when the
notebook has none of its own. ``--session ID`` chooses one explicitly. Every user says how the session was found
(``by path``, ``by content: 11 of 12 cells``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._errors import UsageError
from ..project import find_root, store_dir
from ..record.match import CellMatcher
from ..store import DB_NAME, SQLiteStore, Store
from ..store.base import SessionSummary


@dataclass(frozen=True)
class SessionMatch:
    """One recorded session of a notebook, and how it was found."""

    session_id: str
    matched_by: str  # "path", "content" or "session" (chosen with --session)
    cells: int  # the notebook's non-empty code cells this session ran
    total: int  # the notebook's non-empty code cells
    paths: tuple[str, ...] = ()  # the notebook paths its records carry

    def describe(self) -> str:
        if self.matched_by == "session":
            return f"chosen with --session ({self.cells} of {self.total} cells)"
        if self.matched_by == "path":
            return "by path"
        return f"by content: {self.cells} of {self.total} cells"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "matched_by": self.matched_by,
            "cells": self.cells,
            "of": self.total,
            "description": self.describe(),
        }


def no_session_message(notebook: str | Path, store: Path | None) -> str:
    """The one line every command prints when no recorded session matches a notebook."""
    where = f"in the store {store}" if store is not None else "and its project has no store"
    return (
        f"{notebook}: no recorded session matches it {where}; run it with the extension "
        "loaded (%load_ext nbrepro, or c.InteractiveShellApp.extensions = ['nbrepro']), or set "
        "NBREPRO_DIR to the store folder that holds its runs"
    )


def project_store(path: Path) -> tuple[SQLiteStore | None, Path, Path]:
    """The store of the project holding the notebook at ``path``, opened for reading (None
    when there is none), the project root and the store folder."""
    root = find_root(path.resolve().parent)
    folder = store_dir(root)
    if not (folder / DB_NAME).is_file():
        return None, root, folder
    return SQLiteStore(folder, create=False), root, folder


def find_sessions(store: Store, cells: Sequence[Any], rel_path: str | None, root: Path) -> list[SessionMatch]:
    """The sessions of the notebook whose cells are ``cells`` (at ``rel_path`` relative to
    ``root``), best first."""
    matcher = CellMatcher(cells)
    total = matcher.total
    own: list[tuple[tuple[int, int], SessionMatch]] = []
    copies: list[tuple[tuple[int, int], SessionMatch]] = []
    for summary in store.sessions_with(matcher.distinct_hashes(), rel_path):
        covered = matcher.covered(summary.hashes)
        by_path = rel_path is not None and rel_path in summary.paths
        if not by_path and covered * 2 <= total:
            continue  # a few shared cells (imports, %load_ext) do not make it this notebook's
        paths = tuple(sorted(p for p in summary.paths if p))
        match = SessionMatch(summary.session_id, "path" if by_path else "content", covered, total, paths)
        into = copies if _another_notebook(summary, rel_path, root) else own
        into.append(((covered, summary.last_seq), match))
    # The sessions of another notebook with the same cells (a copy that was run itself) count
    # only while this one has none of its own.
    ranked = sorted(own or copies, key=lambda item: item[0], reverse=True)
    return [match for _, match in ranked]


def choose_session(
    store: Store, cells: Sequence[Any], rel_path: str | None, root: Path, session: str | None = None
) -> SessionMatch | None:
    """The session to use: ``session`` (an id or a unique prefix of one) if given, else the
    best one found. A ``session`` the store does not hold is a ``UsageError``."""
    if session is None:
        found = find_sessions(store, cells, rel_path, root)
        return found[0] if found else None
    session_id = resolve_session_id(store, session)
    matcher = CellMatcher(cells)
    records = store.session_records(session_id)
    covered = matcher.covered((r.get("cell") or {}).get("source_hash") for r in records)
    paths = tuple(sorted({p for r in records if (p := (r.get("notebook") or {}).get("path"))}))
    return SessionMatch(session_id, "session", covered, matcher.total, paths)


def read_session(store: Store, match: SessionMatch, cells: Sequence[Any]) -> tuple[list[dict[str, Any]], SessionMatch]:
    """The records of ``match``'s session, oldest first, and the match with its coverage
    counted from the records themselves (the hashed part of the store), not the index."""
    records = store.session_records(match.session_id)
    covered = CellMatcher(cells).covered((r.get("cell") or {}).get("source_hash") for r in records)
    return records, replace(match, cells=covered)


def resolve_session_id(store: Store, session: str) -> str:
    prefix = session.strip().lower()
    if len(prefix) < 4:
        raise UsageError(f"--session {session!r} is too short: give at least 4 characters of the id")
    ids = store.session_ids(prefix)
    if not ids:
        raise UsageError(f"--session {session}: no such session in {store.location}")
    if len(ids) > 1:
        raise UsageError(f"--session {session} is ambiguous: {len(ids)} sessions start with it")
    return ids[0]


def _another_notebook(summary: SessionSummary, rel_path: str | None, root: Path) -> bool:
    """The session was recorded for another notebook that still exists: a copy run on its own."""
    others = [p for p in summary.paths if p and p != rel_path]
    return bool(others) and rel_path not in summary.paths and any((root / p).is_file() for p in others)
