"""Stamping: a notebook carries the facts of its latest recorded session in its metadata."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..errors import NotebookError
from ..nbio import read_notebook, write_atomic
from ..project import find_root, relative_path, store_dir
from ..store import SQLiteStore
from .facts import from_records, latest_session


def stamp_notebook(path: str | Path) -> tuple[int, str]:
    """Stamp ``path`` in place (metadata only); returns (cells stamped, session id)."""
    path = Path(path)
    nb = read_notebook(path)
    root = find_root(path.resolve().parent)
    folder = store_dir(root)
    if not (folder / "nbrepro.db").is_file():
        raise NotebookError(f"no nbrepro store at {folder} (run the notebook with %load_ext nbrepro first)")
    store = SQLiteStore(folder, create=False)
    try:
        records = latest_session(store.records(relative_path(path, root)))
        facts = from_records(records, nb, store.get_blob)
    finally:
        store.close()
    if not facts.cells:
        return 0, ""
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

