"""Stamping: a notebook carries the facts of its latest recorded session in its metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from .read import notebook_text, read_notebook, write_atomic
from .recorded import stored_session


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
    stored = stored_session(nb, Path(path), with_outputs=False, session=session)  # a stamp carries no outputs
    if stored is None or not stored[0].cells:
        return _NOTHING
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
    return Stamped(len(cells), facts.session_id or "", str(facts.match.get("description", "")))


def stamp_notebook(path: str | Path, session: str | None = None) -> Stamped:
    """Stamp ``path`` in place (metadata only)."""
    path = Path(path)
    nb = read_notebook(path)
    stamped = apply_stamp(nb, path, session)
    if stamped:
        write_atomic(path, notebook_text(nb))
    return stamped
