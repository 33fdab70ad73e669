"""Where a project starts, where its store lives, and how paths are written relative to it."""

from __future__ import annotations

import os
from pathlib import Path

STORE_DIRNAME = ".nbrepro"


def find_root(start: Path | None = None) -> Path:
    """The git top level above ``start`` (a ``.git`` folder or file), else ``start`` itself.

    A filesystem walk, not ``git rev-parse``: it runs at extension load, where a subprocess
    would cost milliseconds and fail when git is missing.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def store_dir(root: Path) -> Path:
    override = os.environ.get("NBREPRO_DIR")
    return Path(override).expanduser().resolve() if override else root / STORE_DIRNAME


def relative_path(path: str | os.PathLike[str], root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes; outside the root only its name is kept,
    so that nothing absolute from the user's machine enters a record."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path.cwd() / p
    try:
        return Path(os.path.realpath(p)).relative_to(root).as_posix()
    except ValueError:
        return p.name
