"""Code state of a cell: which notebook it belongs to, and where in that notebook it sits."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..project import relative_path
from ..record.hashing import hash_text
from ..record.match import CellMatcher
from ..record.redact import redact

# The order in which frontends reveal the notebook path (DESIGN.md section 4).
_NAMESPACE_HINTS = ("__session__", "__vsc_ipynb_file__")


def notebook_hint(
    explicit: str | None, namespace: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """The notebook path as the frontend gave it, and which source gave it.

    A path set with ``%nbrepro notebook`` wins: the user set it on purpose.
    """
    if explicit:
        return explicit, "%nbrepro notebook"
    value = environ.get("JPY_SESSION_NAME")
    if value:
        return value, "JPY_SESSION_NAME"
    for name in _NAMESPACE_HINTS:
        value = namespace.get(name)
        if isinstance(value, str) and value:
            return value, name
    return None, None


def resolve_notebook(hint: str, root: Path, cwd: Path) -> Path:
    """An absolute path for a hint, which may be absolute, relative to the kernel's working
    directory, or (for Jupyter servers) relative to the server root, an unknown folder."""
    p = Path(hint).expanduser()
    if p.is_absolute():
        return p
    for base in (cwd, root):
        if (base / p).exists():
            return base / p
    if (cwd / p.name).exists():
        return cwd / p.name
    return cwd / p


class NotebookIndex:
    """Finds a cell's position in the saved notebook, re-reading it only when it changes."""

    def __init__(self) -> None:
        self._key: tuple[str, int, int] | None = None
        self._matcher = CellMatcher([])
        self._last: dict[str, int] = {}  # notebook -> index of the cell located last

    def matcher(self, path: Path) -> CellMatcher:
        """The cells of the notebook at ``path`` as saved now (none if it cannot be read)."""
        try:
            st = path.stat()
        except OSError:
            return CellMatcher([])
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key != self._key:
            self._matcher = CellMatcher(_saved_cells(path))
            self._key = key
        return self._matcher

    def locate(self, path: Path, cell_id: str | None, source_hash: str) -> int | None:
        # The cell run before this one is the best guess between repeated sources.
        index = self.matcher(path).locate(cell_id, source_hash, after=self._last.get(str(path)))
        if index is not None:
            self._last[str(path)] = index
        return index

    def tags(self, index: int | None) -> list[str]:
        """The tags of cell ``index`` of the notebook last located in."""
        return self._matcher.tags.get(index, []) if index is not None else []


def _saved_cells(path: Path) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            cells = json.load(fh).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    return cells if isinstance(cells, list) else []


def notebook_part(hint: tuple[str | None, str | None], root: Path, cwd: Path) -> tuple[dict[str, Any], Path | None]:
    """The record's ``notebook`` part, and the absolute path for locating cells in it."""
    path, found_by = hint
    if not path:
        return {"path": None, "found_by": None}, None
    absolute = resolve_notebook(path, root, cwd)
    return {"path": relative_path(absolute, root), "found_by": found_by}, absolute


_URI_WITH_PATH = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?://[^/?#]*)?(?P<path>/[^?#]*)(?P<rest>.*)", re.DOTALL
)


def portable_cell_id(cell_id: str | None, root: Path) -> str | None:
    """A frontend's cell id as recorded. VS Code's is the cell's URI, which holds the
    notebook's absolute path (``vscode-notebook-cell:/home/me/p/nb.ipynb#W0sZmlsZQ%3D%3D``);
    that path is written relative to the project root, as every path in a record is."""
    match = _URI_WITH_PATH.fullmatch(cell_id) if cell_id and ":" in cell_id else None
    if match is None:
        return cell_id
    path = unquote(match["path"])
    if re.match(r"/[A-Za-z]:", path):  # /c:/Users/... on Windows
        path = path[1:]
    return f"{match['scheme']}:{relative_path(path, root)}{match['rest']}"


@lru_cache(maxsize=512)
def _source_facts(source: str) -> tuple[str, str]:
    # Cells are rerun often; redaction runs a dozen regular expressions.
    return redact(source), hash_text(source)


def cell_part(source: str, cell_id: str | None, execution_count: int | None) -> dict[str, Any]:
    """The record's ``cell`` part; ``index`` is filled in once the notebook is read."""
    redacted, source_hash = _source_facts(source)
    return {
        "id": cell_id,
        "index": None,
        "execution_count": execution_count,
        "source": redacted,
        # Over the source as run, so verify can match cells; a hash reveals no secret.
        "source_hash": source_hash,
    }

