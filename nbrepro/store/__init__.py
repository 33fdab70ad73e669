"""Where records live: the ``Store`` interface, SQLite by default, in memory for tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import recovery
from .base import Store
from .memory import MemoryStore
from .sqlite import DB_NAME, SQLiteStore, StoreCorrupt, StoreLocked, move_aside

__all__ = ["DB_NAME", "MemoryStore", "SQLiteStore", "Store", "StoreCorrupt", "StoreLocked", "open_store"]


def open_store(folder: Path, warn: Callable[[str, str], None]) -> Store:
    """The SQLite store in ``folder``, made on first use.

    A corrupt database is moved aside to ``.bak`` and a new one started, with a warning.
    Other failures propagate as ``StoreError`` for the caller to fall back on. Records an
    earlier kernel left in a recovery file are merged (see ``recovery``); faults found later,
    mid-session, go to ``warn`` too.
    """
    try:
        store = SQLiteStore(folder, warn=warn)
    except StoreCorrupt as exc:
        backup = move_aside(Path(folder) / DB_NAME)
        warn("store", f"{exc}; moved it to {backup.name} and started a new store")
        store = SQLiteStore(folder, warn=warn)
    recovery.merge(store, Path(folder), warn)
    return store
