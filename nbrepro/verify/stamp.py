"""Stamping: a notebook carries the facts of its latest recorded session in its metadata."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..nbio import read_notebook, write_atomic
from .runner import stored_session


def stamp_notebook(path: str | Path) -> tuple[int, str]:
    """Stamp ``path`` in place (metadata only); returns (cells stamped, session id)."""
    path = Path(path)
    nb = read_notebook(path)
    stored = stored_session(nb, path)
    if stored is None or not stored[0].cells:
        return 0, ""
    facts = stored[0]
    top, cells = facts.to_stamp()
    nb.metadata["nbrepro"] = top
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if index in cells:
            cell.metadata["nbrepro"] = cells[index]
        else:
            cell.metadata.pop("nbrepro", None)
    write_atomic(path, nbformat.writes(nb))
    return len(cells), facts.session_id or ""

