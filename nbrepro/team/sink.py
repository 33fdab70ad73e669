"""The live MLflow sink: a kernel's session pushed to a tracking server as it records.

Set ``NBREPRO_MLFLOW_TRACKING_URI`` (and ``NBREPRO_MLFLOW_EXPERIMENT``, else MLflow's
Default experiment) in the kernel's environment. The first batch the recorder saves starts
``python -m nbrepro.team.sink`` beside the kernel; each later batch writes one line into its
pipe. The sink process reads the session from the store (the store is the queue), pushes it
(``mlflow_run.push``: idempotent, a partial push completed) and retries with a growing pause
while the server is down. MLflow is never imported into the kernel: no interpreter time,
no lock, no memory of the kernel's is spent on it, and the user's own MLflow settings stay as
they were. The kernel shows one warning when the server cannot be reached.

At the kernel's exit (or when it dies: the pipe closes) the sink makes its last push, marks
the run FINISHED, and gives up after ``_CLOSE_DEADLINE_S`` of a server still down;
``nbrepro push`` completes such a run later.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_MAX_PAUSE_S = 8.0  # between tries while the server is down
_MIN_INTERVAL_S = 0.5  # between two pushes: a burst of batches is pushed once
_CLOSE_DEADLINE_S = 60.0
_MAX_STARTS = 3  # a sink that keeps dying is not started for every batch
LOG_NAME = "mlflow-sink.log"  # the sink's stderr, in the store folder


class LiveSink:
    """The kernel's side: starts the sink process, nudges it, reads what it says."""

    def __init__(
        self, uri: str, experiment: str | None, store_dir: Path, session_id: str, warn: Callable[[str, str], None]
    ) -> None:
        self.uri = uri
        self._args = [str(store_dir), session_id, uri, experiment or ""]
        self._store_dir = store_dir
        self._warn = warn
        self._proc: subprocess.Popen[bytes] | None = None
        self._said = b""
        self._starts = 0
        self._stopped = False  # it said why it stopped, or it kept dying: not started again

    def nudge(self) -> None:
        """There are new records (the worker thread calls this after a save)."""
        self._read_status()
        if self._stopped:
            return
        if self._proc is None or self._proc.poll() is not None:
            if self._starts >= _MAX_STARTS:
                self._stopped = True
                self._warn("mlflow", f"the sink process keeps stopping (exit code {self._proc.returncode if self._proc else '?'},"
                           f" see {self._store_dir / LOG_NAME}); records are no longer pushed live: nbrepro push")
                return
            try:
                self._start()
            except OSError as exc:
                self._stopped = True
                self._warn("mlflow", f"the sink process could not start ({exc}); records are not pushed live: nbrepro push")
                return
        self._send(b"push\n")

    def close(self) -> None:
        """The session ends: the sink makes its last push on its own; nothing waits for it."""
        if self._proc is not None and self._proc.poll() is None:
            self._send(b"close\n")
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            except OSError:
                pass

    def _start(self) -> None:
        self._starts += 1
        package_parent = str(Path(__file__).resolve().parents[2])  # where nbrepro itself was imported from
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p),
            # MLflow's client would retry a request for minutes; the sink retries itself
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
        }
        with open(self._store_dir / LOG_NAME, "ab") as log:
            # A session of its own: the kernel's interrupts and its shutdown's signals to its
            # process group are not for the sink, which finishes the push when the kernel is gone.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "nbrepro.team.sink", *self._args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, env=env, start_new_session=True, cwd=self._store_dir,
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)

    def _send(self, line: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            os.write(self._proc.stdin.fileno(), line)
        except BlockingIOError:  # its pipe is full of nudges already
            pass
        except OSError:  # it died: the next nudge starts it again
            pass

    def _read_status(self) -> None:
        if self._proc is None or self._proc.stdout is None:
            return
        try:
            self._said += os.read(self._proc.stdout.fileno(), 65536)
        except (BlockingIOError, OSError, ValueError):
            pass
        *lines, self._said = self._said.split(b"\n")
        for raw in lines:
            kind, _, why = raw.decode("utf-8", "replace").partition(" ")
            if kind == "down":
                self._warn("mlflow", f"cannot reach the tracking server {self.uri} ({why}); the session's records wait"
                           " in the store and are retried")
            elif kind == "stop":
                self._stopped = True
                self._warn("mlflow", f"live push stopped: {why}")


# -- the sink process ----------------------------------------------------------------------
def main(argv: list[str]) -> int:
    import signal

    # The kernel's worker thread blocks SIGINT and SIGTERM (for git); this process stops on them.
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    store_dir, session_id, uri, experiment = argv
    from .._errors import CheckFailed
    from ..capture import describe
    from ..store import SQLiteStore
    from . import mlflow_run

    try:
        import mlflow  # noqa: F401 - here, not at the first push: a missing extra is said once
    except ImportError:
        _say("stop MLflow is not installed in the kernel's environment: pip install 'nbrepro[mlflow]'")
        return 1

    fd = sys.stdin.fileno()
    reading, closing, down = True, False, False
    pending, next_try, pause = True, 0.0, 0.0
    deadline = float("inf")
    store: SQLiteStore | None = None
    while True:
        wait = max(0.0, next_try - time.monotonic()) if pending else None
        if reading:
            if select.select([fd], [], [], wait)[0]:
                data = os.read(fd, 65536)
                pending = True
                if not data or b"close" in data:  # the kernel ends, or died (its pipe closed)
                    reading, closing = False, True
                    deadline = time.monotonic() + _CLOSE_DEADLINE_S
        elif wait:
            time.sleep(wait)
        if not pending or time.monotonic() < next_try:
            continue
        try:
            if store is None:
                store = SQLiteStore(Path(store_dir), create=False)
            mlflow_run.push(mlflow_run.connect(uri), store, session_id, experiment or None, finished=closing)
        except CheckFailed as exc:
            _say(f"stop {exc}")
            return 1
        except Exception as exc:  # noqa: BLE001 - a server down, a network fault: retried
            if not down:
                _say(f"down {describe(exc)}")
                down = True
            if closing and time.monotonic() >= deadline:
                return 1
            pause = min(_MAX_PAUSE_S, max(1.0, 2 * pause))
            next_try = time.monotonic() + pause
            continue
        if down:
            _say("up")
            down = False
        pending, pause = False, 0.0
        if closing:
            return 0
        next_try = time.monotonic() + _MIN_INTERVAL_S


def _say(line: str) -> None:
    try:
        sys.stdout.write(line.replace("\n", " ") + "\n")
        sys.stdout.flush()
    except OSError:  # the kernel is gone: nobody to tell
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
