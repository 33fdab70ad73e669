"""nbrepro: provenance for every Jupyter cell run, and the tools that read it.

``%load_ext nbrepro`` starts recording; see https://github.com/nbrepro/nbrepro and docs/.
"""

from __future__ import annotations

from typing import Any

from .errors import NbreproError, NotebookError, StoreError, UsageError
from .record import SCHEMA_VERSION, CellRun

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "CellRun",
    "NbreproError",
    "NotebookError",
    "StoreError",
    "UsageError",
    "__version__",
    "load_ipython_extension",
    "seed",
    "track",
    "unload_ipython_extension",
]


def load_ipython_extension(shell: Any) -> None:
    from .extension import load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .extension import unload

    unload(shell)


def seed(n: int) -> dict[str, int]:
    """Seed ``random``, numpy, torch (and CUDA) and tensorflow; recorded when nbrepro is loaded."""
    from .capture.seeds import seed as _seed

    return _seed(n)


def track(path: Any) -> str:
    """Record the file or folder ``path`` (recursive) as data of every following cell run."""
    from .extension import current

    return current().recorder.track(path)
