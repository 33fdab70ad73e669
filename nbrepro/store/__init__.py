"""Where records live: the ``Store`` interface, SQLite by default, in memory for tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import Store
from .memory import MemoryStore
from .sqlite import DB_NAME, SQLiteStore, StoreCorrupt, StoreLocked, move_aside

__all__ = ["DB_NAME", "MemoryStore", "SQLiteStore", "Store", "StoreCorrupt", "StoreLocked", "open_store"]


def open_store(folder: Path, warn: Callable[[str, str], None]) -> Store:
    """The SQLite store in ``folder``, made on first use.

    A corrupt database is moved aside to ``.bak`` and a new one started, with a warning.
    Other failures propagate as ``StoreError`` for the caller to fall back on.
    """
    try:
        return SQLiteStore(folder)
    except StoreCorrupt as exc:
        backup = move_aside(Path(folder) / DB_NAME)
        warn("store", f"{exc}; moved it to {backup.name} and started a new store")
        return SQLiteStore(folder)
