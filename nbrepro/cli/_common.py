"""What the subcommands share: finding the store, and a console that suits the output."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from .._errors import NotebookError, StoreError
from ..notebook.sessions import no_session_message
from ..project import find_root, relative_path, store_dir
from ..store import DB_NAME, SQLiteStore


def open_project_store(notebook: str | None = None) -> tuple[SQLiteStore, Path, str | None]:
    """The store of the project holding ``notebook`` (else the working directory), read as is:
    nothing is created. Also the project root and the notebook's path relative to it."""
    if notebook is not None:
        path = Path(notebook)
        if path.is_dir():
            raise NotebookError(f"{notebook} is a directory, not a notebook")
        root = find_root(path.resolve().parent)
        rel = relative_path(path, root)
    else:
        root, rel = find_root(), None
    folder = store_dir(root)
    if notebook is not None and not (folder / DB_NAME).is_file():
        raise StoreError(no_session_message(notebook, None))
    return SQLiteStore(folder, create=False), root, rel


def console() -> Console:
    if sys.stdout.isatty():
        return Console()
    return Console(width=200, no_color=True, highlight=False, soft_wrap=True)
