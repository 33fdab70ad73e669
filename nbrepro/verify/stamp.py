"""Stamping: a notebook carries the facts of its latest recorded session in its metadata."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..nbio import read_notebook, write_atomic
from .runner import stored_session


def apply_stamp(nb: nbformat.NotebookNode, path: str | Path, session: str | None = None) -> tuple[int, str, str]:
    """Stamp ``nb``, the notebook at ``path``, in memory with its recorded session (found by
    content, see ``nbrepro.notebook.sessions``; ``session`` chooses one by id).

    Only ``metadata.nbrepro`` and each code cell's ``metadata.nbrepro`` change; sources and
    outputs are left exactly as they were. ``path`` need not exist yet: it only locates the
    project's store and names the notebook in it. Returns (cells stamped, session id, how
    the session was found); (0, "", "") leaves ``nb`` untouched. Used by ``nbrepro stamp`` and the server's save hook.
    """
    stored = stored_session(nb, Path(path), with_outputs=False, session=session)  # a stamp carries no outputs
    if stored is None or not stored[0].cells:
        return 0, "", ""
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
    return len(cells), facts.session_id or "", facts.match.get("description", "")


def stamp_notebook(path: str | Path, session: str | None = None) -> tuple[int, str, str]:
    """Stamp ``path`` in place (metadata only); returns (cells stamped, session id, how the
    session was found)."""
    path = Path(path)
    nb = read_notebook(path)
    stamped = apply_stamp(nb, path, session)
    if stamped[0]:
        write_atomic(path, nbformat.writes(nb))
    return stamped
