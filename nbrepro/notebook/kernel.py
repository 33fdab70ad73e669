"""Running a notebook in a fresh ipykernel through nbclient, on this very Python (or a given one), bounded.

Imported only by commands that execute notebooks, never by the extension.

The run is bounded whatever the kernel does: the kernel has ``start_timeout`` seconds to
start, each cell ``timeout`` seconds, and the shutdown ``SHUTDOWN_GRACE`` seconds (a
shutdown request, SIGTERM at half, SIGKILL at the end). nbclient runs in a thread of its own
with its own event loop, so that signals reach this (main) thread: nbclient's own SIGINT and
SIGTERM handlers only schedule a cleanup and leave the run going (and, when the kernel failed
to start, stay installed, swallowing every later SIGTERM), and it cannot install them off the
main thread. A signal that stops the wait (KeyboardInterrupt, or the exception a CLI's
handler raises) kills the kernel's process group before it propagates.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import Unicode

# jupyter_client's own shutdown_wait_time: a busy kernel gets half of it to act on the
# shutdown request, then SIGTERM, then SIGKILL at the end.
SHUTDOWN_GRACE = 5.0


class RunStopped(Exception):
    """The run ended before its last cell. ``reason`` is for people (``timeout after 1 s``,
    ``the kernel died``); ``cell`` is the index, in the executed notebook, of the cell the run
    stopped at, None when no cell had started (the kernel did not start)."""

    def __init__(self, reason: str, cell: int | None) -> None:
        super().__init__(reason)
        self.reason, self.cell = reason, cell


class ThisPythonKernelSpecs(KernelSpecManager):
    """Kernel specs whose bare ``python`` resolves to the interpreter running nbrepro, or to
    ``python`` when given (``verify --recorded-env``: a venv's).

    ipykernel's stock spec says ``python``, found on PATH: run from an unactivated venv,
    that would be some other Python without nbrepro installed. Its native spec names this
    interpreter, which a given ``python`` replaces too.
    """

    python = Unicode(sys.executable, help="The interpreter a Python kernel runs on.")

    def get_kernel_spec(self, kernel_name: str) -> Any:
        spec = super().get_kernel_spec(kernel_name)
        if spec.argv and spec.argv[0] in ("python", "python3", sys.executable):
            spec.argv = [self.python, *spec.argv[1:]]
        return spec


def check_kernel(kernel_name: str) -> None:
    """A ``UsageError`` (exit 2, before anything runs) when no kernel of that name is installed."""
    from jupyter_client.kernelspec import NoSuchKernel

    from .._errors import UsageError

    specs = ThisPythonKernelSpecs()
    try:
        specs.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        known = ", ".join(sorted(specs.find_kernel_specs())) or "none"
        raise UsageError(f"--kernel {kernel_name}: no such kernel (installed: {known})") from None


def execute(
    nb: nbformat.NotebookNode,
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: int = 600,
    start_timeout: int = 60,
    kernel_name: str = "python3",
    allow_errors: bool = True,
    extra_arguments: list[str] | None = None,
    on_cell_executed: Any = None,
    before_cell: Callable[[int], str | None] | None = None,
    python: Path | None = None,
) -> nbformat.NotebookNode:
    """Execute ``nb`` in place in a fresh kernel whose working directory is ``cwd``, on
    ``python`` when given (else this interpreter).

    ``extra_arguments`` go to the kernel (``--ext=nbrepro`` loads the recorder);
    ``on_cell_executed(cell=, cell_index=, execute_reply=)`` is nbclient's per-cell hook (it
    runs on the run's thread). ``before_cell(cell_index)`` may return code to run silently just
    before that cell (no history, no pre/post_run_cell, so nbrepro records nothing of it;
    its outputs are dropped). Raises ``RunStopped`` when the run ends early (a timeout, a
    dead kernel, a kernel that does not start); the kernel is shut down in every case.
    """
    sockets = tempfile.mkdtemp(prefix="nbrepro-kernel-") if os.name == "posix" else None
    run = _Run(nb, cwd, {**os.environ, **(env or {})}, timeout, start_timeout, kernel_name, allow_errors,
               list(extra_arguments or []), on_cell_executed, sockets)
    run.before_cell = before_cell
    run.python = str(python or sys.executable)
    # Waited for on an Event, not with join(): up to Python 3.12, a join() that a signal's
    # exception interrupts marks the thread as ended while it still runs.
    thread = threading.Thread(target=run.main, name="nbrepro-kernel", daemon=True)
    try:
        thread.start()
        run.done.wait()  # a signal's exception (KeyboardInterrupt, a CLI's SIGTERM) leaves here
    finally:
        try:
            if not run.done.is_set():
                run.stop()
                run.done.wait(SHUTDOWN_GRACE)
        finally:
            if not run.done.is_set():  # stuck past every bound: nothing of the kernel may outlive us
                run.kill()
            if run.client is not None:
                # nbclient registers a cleanup at exit and unregisters it only once the kernel
                # started; left behind, it fails (an AssertionError traceback) as the process exits.
                atexit.unregister(run.client._cleanup_kernel)
            if sockets:
                shutil.rmtree(sockets, ignore_errors=True)
    if run.error is not None:
        raise run.error
    return nb


class _Run:
    """One notebook run on its own thread and event loop (see the module's docstring)."""

    def __init__(self, nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str], timeout: int, start_timeout: int,
                 kernel_name: str, allow_errors: bool, extra_arguments: list[str], on_cell_executed: Any,
                 sockets: str | None) -> None:
        self.nb, self.cwd, self.env, self.timeout, self.start_timeout = nb, cwd, env, timeout, start_timeout
        self.kernel_name, self.allow_errors, self.extra_arguments = kernel_name, allow_errors, extra_arguments
        self.on_cell_executed, self.sockets = on_cell_executed, sockets
        self.km: AsyncKernelManager | None = None
        self.client: NotebookClient | None = None
        self.error: RunStopped | None = None
        self.cell: int | None = None  # the code cell running, or last run
        self.before_cell: Callable[[int], str | None] | None = None
        self.python = sys.executable
        self.stopping = False
        self.done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def main(self) -> None:
        try:
            asyncio.run(self._execute())
        except asyncio.CancelledError:
            pass  # stop(): the kernel is down already
        finally:
            self.done.set()

    def stop(self) -> None:
        """From the main thread: end the run now; its kernel is killed, not asked to finish."""
        self.stopping = True
        if self._loop is not None and self._task is not None:
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:
                pass  # the loop has closed: the run is over

    def kill(self) -> None:
        """SIGKILL the kernel's process group (the kernel and whatever it started)."""
        pgid = getattr(self.km.provisioner, "pgid", None) if self.km is not None else None
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass  # gone already

    async def _execute(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self.stopping:  # stop() came before there was a task to cancel
            return
        # Async, as nbclient makes its own: with a blocking manager passed in, nbclient's
        # per-cell timeout never fires (the reply is awaited however long the cell runs).
        self.km = km = AsyncKernelManager(
            kernel_name=self.kernel_name,
            kernel_spec_manager=ThisPythonKernelSpecs(python=self.python),
            shutdown_wait_time=SHUTDOWN_GRACE,
            # Unix sockets where there are any: no TCP port open, and no ipykernel warning about one.
            **({"transport": "ipc", "ip": os.path.join(self.sockets, "kernel")} if self.sockets else {}),
        )
        self.client = client = NotebookClient(
            self.nb,
            km=km,
            timeout=self.timeout,
            startup_timeout=self.start_timeout,
            allow_errors=self.allow_errors,
            resources={"metadata": {"path": str(self.cwd)}},
            extra_arguments=self.extra_arguments,
            on_cell_execute=self._started,
            **({"on_cell_executed": self.on_cell_executed} if self.on_cell_executed is not None else {}),
        )
        began = time.monotonic()
        try:
            # The kernel's own stdout and stderr are not the notebook's outputs (those come over
            # the protocol); ipykernel also echoes what C code writes to fd 1 and 2 there, which
            # would land in the middle of a command's own output (verify --json).
            await client.async_execute(
                env=self.env, cwd=str(self.cwd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except Exception as exc:  # noqa: BLE001 - every way a run ends early is one RunStopped
            self.error = self._stopped(exc, time.monotonic() - began)
        finally:
            await self._shutdown()

    async def _started(self, cell: Any, cell_index: int) -> None:
        self.cell = cell_index
        code = self.before_cell(cell_index) if self.before_cell is not None else None
        kc: Any = self.client.kc if self.client is not None else None  # an AsyncKernelClient
        if code and kc is not None:
            await kc.execute_interactive(
                code, silent=True, store_history=False, timeout=self.timeout, output_hook=lambda msg: None
            )

    def _stopped(self, exc: Exception, elapsed: float) -> RunStopped:
        if isinstance(exc, CellTimeoutError):
            reason = f"timeout after {self.timeout} s"
        elif isinstance(exc, DeadKernelError):
            reason = "the kernel died"
        else:
            text = str(exc).strip()
            reason = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
        if self.cell is None:
            reason = (f"the kernel did not start within {self.start_timeout} s" if elapsed >= self.start_timeout
                      else f"the kernel did not start ({reason})")
        stopped = RunStopped(reason, self.cell)
        stopped.__cause__ = exc
        return stopped

    async def _shutdown(self) -> None:
        """A kernel manager passed in is ours to stop. A graceful shutdown lets the kernel's
        recorder write its last records before the process ends; a stopped run is killed."""
        km = self.km
        if km is None:
            return
        try:
            if km.has_kernel:
                await asyncio.wait_for(km.shutdown_kernel(now=self.stopping), SHUTDOWN_GRACE + 1)
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - whatever failed, the kernel must go
            self.kill()
            await km.cleanup_resources()
        finally:
            if self.client is not None and self.client.kc is not None:
                self.client.kc.stop_channels()
