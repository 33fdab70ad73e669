"""Collectors: one module per kind of provenance, each returning one dict shape.

Every collector runs through ``Guard.run``: an exception becomes
``{"unavailable": "<reason>"}`` in the record and one warning for that kind, never a
traceback in the user's cell.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

Part = dict[str, Any]
T = TypeVar("T")


class CaptureUnavailable(Exception):
    """A fault a collector explains in words: its message is the whole reason."""


def unavailable(reason: str) -> Part:
    return {"unavailable": reason or "unknown reason"}


class Guard:
    """Runs collectors, turning failures into ``unavailable`` parts and one warning per kind."""

    def __init__(self) -> None:
        self._warned: set[str] = set()
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self.faults: dict[str, str] = {}

    def warn(self, kind: str, message: str) -> None:
        with self._lock:
            self.faults[kind] = message
            if kind not in self._warned:
                self._warned.add(kind)
                self._pending.append(f"nbrepro: warning: {kind}: {message}")

    def clear(self, kind: str) -> None:
        with self._lock:
            self.faults.pop(kind, None)

    def take_warnings(self) -> list[str]:
        """Warnings not yet shown; the main thread prints them, never a worker."""
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def has_warnings(self) -> bool:
        return bool(self._pending)

    def run(self, kind: str, fn: Callable[..., T | None], *args: Any) -> T | Part:
        """``fn(*args)``, or an ``unavailable`` part and a warning if it raised.

        A collector that *returns* an unavailable part is stating a fact of the setup (say,
        no git repository), not a fault: that gives no warning.
        """
        try:
            part = fn(*args)
        except Exception as exc:  # noqa: BLE001 - a collector must never break a cell
            reason = str(exc) if isinstance(exc, CaptureUnavailable) else describe(exc)
            self.warn(kind, f"unavailable ({reason})")
            return unavailable(reason)
        self.clear(kind)
        return part if part is not None else {}


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {first}" if first else name
