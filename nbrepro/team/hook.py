"""What the recorder's worker does after each batch it saved (``Recorder._save``): anchor
its session's chain head in git, and nudge the live MLflow sink.

Both run in the worker thread, never in a cell's path. A git anchor costs two git processes
(5 to 10 ms): it is written at most once a second and always at close, so a burst
of cells shares one; a kernel killed in a burst leaves at most its last second unanchored.
The sink is a process of its own (``sink``): the worker only writes a line into its pipe.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from ..capture import describe
from ..store import SQLiteStore, Store

if TYPE_CHECKING:
    from .anchors import GitAnchors
    from .sink import LiveSink

_ANCHOR_EVERY_S = 1.0


class AfterSave:
    def __init__(
        self, root: Path, store_dir: Path, session_id: str, environ: Mapping[str, str], warn: Callable[[str, str], None]
    ) -> None:
        self._root = root
        self._session_id = session_id
        self._warn = warn
        # A store outside the project (verify's reruns record into a temporary one) is neither
        # anchored nor pushed live: its anchors and runs would outlive it. `nbrepro push` can.
        own = store_dir.resolve().is_relative_to(root.resolve())
        self._in_git = own and (root / ".git").exists()
        uri = environ.get("NBREPRO_MLFLOW_TRACKING_URI") if own else None
        self._sink: LiveSink | None = None
        if uri:
            from .sink import LiveSink

            self._sink = LiveSink(uri, environ.get("NBREPRO_MLFLOW_EXPERIMENT"), store_dir, session_id, warn)
        self._anchors: GitAnchors | None = None
        self._head: tuple[int, str, int] | None = None  # (seq, hash, records) of the last batch saved
        self._anchored: tuple[int, str, int] | None = None
        self._anchored_at = float("-inf")
        self._store: SQLiteStore | None = None
        self._git_works = True

    def saved(self, store: Store, last: dict[str, Any], records: int) -> None:
        """``last`` (sealed) ended a batch just written; ``records`` of the session are saved."""
        if not isinstance(store, SQLiteStore):  # the in-memory fallback: nothing outlives the kernel
            return
        self._store = store
        self._head = (last["seq"], last["hash"], records)
        self._git_works = "unavailable" not in (last.get("git") or {})  # else the git part's warning says why
        if self._git_works and time.monotonic() - self._anchored_at >= _ANCHOR_EVERY_S:
            self._anchor(store)
        if self._sink is not None:
            self._sink.nudge()

    def close(self) -> None:
        """The session ends (called by the worker before it closes the store)."""
        if self._store is not None and self._git_works:
            self._anchor(self._store)
        if self._sink is not None:
            self._sink.close()

    def _anchor(self, store: SQLiteStore) -> None:
        if not self._in_git or self._head is None or self._head == self._anchored:
            return
        self._anchored_at = time.monotonic()
        from .anchors import GitAnchors, GitFailed  # in the worker, at the first anchor: off the load path

        try:
            # Read each time: a store file replaced mid-session (healed) is another store
            store_id = store.store_id(create=True)
            assert store_id is not None
            if self._anchors is None or self._anchors.store_id != store_id:
                self._anchors = GitAnchors(self._root, store_id, self._session_id)
            self._anchors.write(*self._head)
        except FileNotFoundError:  # no git on PATH: the records' git part says so already
            self._in_git = False
            return
        except (GitFailed, StoreError, OSError, subprocess.TimeoutExpired) as exc:
            self._warn("anchor", f"the chain head could not be anchored in git ({describe(exc)}); retried with the next cells")
            return
        self._anchored = self._head
        if self._anchors.sign_failure is not None:
            self._warn("anchor-signing", f"signing the git anchor failed ({self._anchors.sign_failure}); anchors are unsigned")
