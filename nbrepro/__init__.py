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
    "unload_ipython_extension",
]


def load_ipython_extension(shell: Any) -> None:
    from .extension import load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .extension import unload

    unload(shell)
