"""An in-memory store: for tests, and the fallback when the store folder cannot be written."""

from __future__ import annotations

import copy
import threading
from typing import Any

from . import chain
from .base import Blobs, FileHashRows, Store


class MemoryStore(Store):
    location = ":memory:"

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._blobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._file_hashes: dict[tuple[int, int, int, int], str] = {}

    def append(
        self, records: list[dict[str, Any]], blobs: Blobs | None = None, file_hashes: FileHashRows | None = None
    ) -> None:
        with self._lock:
            self._file_hashes.update(file_hashes or ())
            for blob_id, (_kind, content) in (blobs or {}).items():
                self._blobs.setdefault(blob_id, copy.deepcopy(content))
            for rec in records:
                seq, prev = self.head()
                chain.seal(rec, seq + 1, prev)
                self._records.append(copy.deepcopy(rec))

    def cached_hash(self, key: tuple[int, int, int, int]) -> str | None:
        return self._file_hashes.get(key)

    def get_blob(self, blob_id: str) -> dict[str, Any] | None:
        blob = self._blobs.get(blob_id)
        return copy.deepcopy(blob) if blob is not None else None

    def records(self, notebook: str | None = None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(r)
            for r in self._records
            if notebook is None or (r.get("notebook") or {}).get("path") == notebook
        ]

    def head(self) -> tuple[int, str | None]:
        if not self._records:
            return (0, None)
        last = self._records[-1]
        return (last["seq"], last["hash"])
