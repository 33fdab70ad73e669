"""Stamping: a notebook carries the facts of its latest recorded session in its metadata.

Nothing else changes: ``nbrepro stamp`` edits the file's JSON as it was read (not the
notebook nbformat makes of it, which repairs cell ids), and writes it in one rename that
keeps the file's mode and writes through a symlink (``write_atomic``).
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .read import read_notebook_json, write_atomic
from .recorded import stored_session
from .stamp_format import seal


@dataclass(frozen=True)
class Stamped:
    """What a stamp wrote: how many code cells, from which session, found how."""

    cells: int
    session_id: str
    found: str  # SessionMatch.describe(), e.g. "by content: 11 of 12 cells"

    def __bool__(self) -> bool:
        return self.cells > 0


_NOTHING = Stamped(0, "", "")


def apply_stamp(nb: nbformat.NotebookNode, path: str | Path, session: str | None = None) -> Stamped:
    """Stamp ``nb``, the notebook at ``path``, in memory with its recorded session (found by
    content, see ``nbrepro.notebook.sessions``; ``session`` chooses one by id).

    Only ``metadata.nbrepro`` and each code cell's ``metadata.nbrepro`` change; sources and
    outputs are left exactly as they were. ``path`` need not exist yet: it only locates the
    project's store and names the notebook in it. A falsy result (no cells stamped) left
    ``nb`` untouched. Used by ``nbrepro stamp`` and the server's save hook.
    """
    return _stamp_into(nb, nb, path, session)


def stamp_notebook(path: str | Path, session: str | None = None) -> Stamped:
    """Stamp ``path`` in place (metadata only)."""
    path = Path(path)
    nb, raw, text = read_notebook_json(path)
    # nbformat's own layout (what Jupyter writes) stays so; any other keeps its key order
    canonical = text.rstrip("\n") == json.dumps(raw, sort_keys=True, indent=1, ensure_ascii=False)
    stamped = _stamp_into(nb, raw, path, session)
    if stamped:
        write_atomic(path, json.dumps(raw, sort_keys=canonical, indent=1, ensure_ascii=False))
    return stamped


def _stamp_into(
    nb: nbformat.NotebookNode, into: MutableMapping[str, Any], path: str | Path, session: str | None
) -> Stamped:
    """Find the stamp of ``nb`` and write it into ``into``: ``nb`` itself, or the JSON it
    was read from (same cells, in the same order)."""
    stored = stored_session(nb, Path(path), with_outputs=False, session=session)  # a stamp carries no outputs
    if stored is None or not stored.facts.cells:
        return _NOTHING
    facts = stored.facts
    top, cells = facts.to_stamp()
    top["integrity"] = seal(top, cells, stored.chain)
    into.setdefault("metadata", {})["nbrepro"] = top
    for index, cell in enumerate(into["cells"]):
        if cell.get("cell_type") != "code":
            continue
        if index in cells:
            cell.setdefault("metadata", {})["nbrepro"] = cells[index]
        else:
            cell.get("metadata", {}).pop("nbrepro", None)
    return Stamped(len(cells), facts.session_id or "", str(facts.match.get("description", "")))
