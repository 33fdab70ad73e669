"""nbrepro: provenance for every Jupyter cell run, and the tools that read it.

``%load_ext nbrepro`` starts recording (docs/capture.md). From Python::

    import nbrepro
    report = nbrepro.verify("analysis.ipynb")        # a VerifyReport, as `nbrepro verify --json`
    done = nbrepro.export("analysis.ipynb", "pkg/")  # an Exported package
    nbrepro.stamp("analysis.ipynb")                  # provenance into the notebook's metadata
    nbrepro.sessions("analysis.ipynb")               # its recorded sessions, best first

The modules below this package are private; what is named in ``__all__`` is the API.
Importing ``nbrepro`` loads none of IPython, nbformat, nbclient, sqlite3, click or rich: each
function imports what it needs when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import (
    CheckFailed,
    ExportError,
    InternalError,
    NbreproError,
    NotebookError,
    StoreError,
    UsageError,
    VerifyError,
)
from ._version import __version__
from .record import SCHEMA_VERSION, CellRun

if TYPE_CHECKING:
    from .export.package import Exported
    from .notebook.sessions import SessionMatch
    from .notebook.stamp import Stamped
    from .verify.verdict import VerifyReport

__all__ = [
    "SCHEMA_VERSION",
    "CellRun",
    "CheckFailed",
    "ExportError",
    "InternalError",
    "NbreproError",
    "NotebookError",
    "StoreError",
    "UsageError",
    "VerifyError",
    "__version__",
    "export",
    "load_ipython_extension",
    "seed",
    "sessions",
    "stamp",
    "track",
    "unload_ipython_extension",
    "verify",
]


def load_ipython_extension(shell: Any) -> None:
    from .ipython.extension import load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .ipython.extension import unload

    unload(shell)


def seed(n: int) -> dict[str, int]:
    """Seed ``random``, numpy, torch (and CUDA) and tensorflow; recorded when nbrepro is loaded."""
    from .capture.seeds import seed as _seed

    return _seed(n)


def track(path: Any) -> str:
    """Record the file or folder ``path`` (recursive) as data of every following cell run."""
    from .ipython.extension import current

    return current().recorder.track(path)


def verify(
    notebook: str | Path, *, params: Mapping[str, Any] | None = None, timeout: int = 600,
    kernel_name: str = "python3", session: str | None = None,
    recorded_env: bool = False, find_links: Path | None = None, no_index: bool = False,
) -> VerifyReport:
    """Rerun ``notebook`` in a fresh kernel and compare each cell with its recorded session;
    the report ``nbrepro verify --json`` prints (schema ``nbrepro.verify/1``).
    ``recorded_env``: rerun in a venv of the session's lock (``find_links``, ``no_index``: its packages)."""
    from .verify.runner import verify as _verify

    report, _extras = _verify(notebook, params=params, timeout=timeout, kernel_name=kernel_name, session=session,
                              recorded_env=recorded_env, find_links=find_links, no_index=no_index)
    return report


def export(
    notebook: str | Path, out: str | Path, *, name: str | None = None, lock: bool = True,
    find_links: Path | None = None, no_index: bool = False, session: str | None = None,
) -> Exported:
    """Write ``notebook`` as a package into ``out`` (absent or empty); its tests are not run."""
    from .export.package import export as _export

    return _export(notebook, out, name=name, make_lock=lock, find_links=find_links, no_index=no_index, session=session)


def stamp(notebook: str | Path, session: str | None = None) -> Stamped:
    """Write the notebook's recorded provenance into its metadata (sources and outputs untouched)."""
    from .notebook.stamp import stamp_notebook

    return stamp_notebook(notebook, session)


def sessions(notebook: str | Path) -> list[SessionMatch]:
    """The recorded sessions of ``notebook`` in its project's store, best first (found by content)."""
    from .notebook.read import read_notebook
    from .notebook.sessions import find_sessions, project_store
    from .project import relative_path

    path = Path(notebook)
    nb = read_notebook(path)
    store, root, _folder = project_store(path)
    if store is None:
        return []
    try:
        return find_sessions(store, nb.cells, relative_path(path, root), root)
    finally:
        store.close()
