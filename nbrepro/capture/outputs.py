"""What a cell showed: streams, displays, its result, captured live without changing any of it.

IPython's ``post_run_cell`` sees only the result value. The tap wraps, per object, the
``write`` of the output streams, the display publisher's ``publish`` and ``clear_output``,
and the display hook's ``write_format_data``; each wrapper appends an event and calls the
original. Objects are wrapped again whenever the shell swaps them (``%%capture`` does), and
everything is unwrapped at unload. A stream that takes no attribute cannot carry a wrapper:
the part then says ``"streams": false``.

Each text must be noted once, however the extension was loaded. IPython 9 wraps
``sys.stdout.write`` for the length of every cell (``InteractiveShell._tee``) and puts back
what it found, so a wrapper put on a stream between cells (an extension loaded at startup)
would be found by the next tee, kept under it for good, and wrapped again by the next
``begin``: the tap begins only inside cells, and only the wrapper last made for a role notes
anything; one buried under another object's wrapper just passes the call on. Text that C
code writes to fd 1 or 2 reaches the stream through ipykernel's capture thread; ``FdDrain``
waits for it at the end of the cell and before each display, result and traceback, so it is
noted, and reaches the frontend, in the cell and at the place it was written.
"""

from __future__ import annotations

import array
import os
import sys
import threading
import time
from collections.abc import Collection, Iterable
from typing import Any

from ..record import outputs as canon

try:  # POSIX: how many bytes wait in a pipe
    from fcntl import ioctl
    from termios import FIONREAD
except ImportError:  # pragma: no cover - Windows, where ipykernel captures no file descriptor
    ioctl = None  # type: ignore[assignment]
    FIONREAD = 0  # type: ignore[misc]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024

Event = tuple[Any, ...]


class OutputTap:
    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.active = False
        self.events: list[Event] = []
        self.streams = True
        # role -> (object, attribute, wrapper or None if it cannot carry one, what it wraps,
        # or None when that was the class's own method)
        self._wrapped: dict[str, tuple[Any, str, Any, Any]] = {}
        # role -> the one wrapper that records for it. A wrapper that is no longer this one
        # (another wrapper of ours was put on top of it, or it was buried in someone else's
        # wrapper) only passes the call on, so a call that goes through two of them is noted once.
        self._live: dict[str, Any] = {}
        # Stream writes come from the cell's thread and from ipykernel's fd-capture threads:
        # noting a write and passing it on happen together, so the notes keep the kernel's order.
        self._lock = threading.RLock()
        self._drains: dict[str, FdDrain] = {}  # per stream role, see FdDrain
        self._drain_list: tuple[FdDrain, ...] = ()
        self._stdout = self._stream("stdout")
        self._stderr = self._stream("stderr")

    # -- hot path ------------------------------------------------------------------------
    def begin(self) -> None:
        """Start noting a cell's outputs. Call it only while a cell runs (``pre_run_cell``)."""
        # Checked every cell: IPython 9 tees sys.stdout.write for the length of each cell and
        # then puts back what it found, and %%capture swaps whole objects. A wrapper put on a
        # stream outside a cell would be kept by the tee, under the next cell's wrapper.
        shell = self.shell
        out = self._wrap("stdout", sys.stdout, "write", self._stdout)
        err = self._wrap("stderr", sys.stderr, "write", self._stderr)
        self.streams = out and err
        self._wrap("publish", shell.display_pub, "publish", self._publish)
        self._wrap("clear", shell.display_pub, "clear_output", self._clear)
        self._wrap("result", shell.displayhook, "write_format_data", self._result)
        self._wrap("traceback", shell, "_showtraceback", self._traceback)
        with self._lock:
            self.events = []
            self.active = True

    def end(self) -> list[Event]:
        self._drain()  # what C code wrote to fd 1 and 2 during the cell, before the kernel flushes
        with self._lock:
            self.active = False
            events, self.events = self.events, []
        return events

    def _drain(self) -> None:
        if self._drain_list and not self._lock._is_owned():  # type: ignore[attr-defined]
            for drain in self._drain_list:  # (not from inside a stream write: it holds the lock)
                drain.wait()

    # -- wrapping ------------------------------------------------------------------------
    def _wrap(self, role: str, obj: Any, attr: str, make: Any) -> bool:
        done = self._wrapped.get(role)
        if done is not None and done[0] is obj:
            if done[2] is None:
                return False  # a C object: it did not take a wrapper last time either
            if vars(obj).get(attr) is done[2]:
                return True
        elif role in ("stdout", "stderr"):
            self._set_drain(role, FdDrain.of(obj))
        original = getattr(obj, attr, None)
        if original is None:
            return False
        own = vars(obj).get(attr) if hasattr(obj, "__dict__") else None
        wrapper = make(original)
        try:
            setattr(obj, attr, wrapper)
        except (AttributeError, TypeError):
            self._wrapped[role] = (obj, attr, None, None)
            self._live.pop(role, None)
            return False
        self._wrapped[role] = (obj, attr, wrapper, own)
        self._live[role] = wrapper
        return True

    def uninstall(self) -> None:
        self.active = False
        self._live.clear()
        for obj, attr, wrapper, own in self._wrapped.values():
            if wrapper is None or vars(obj).get(attr) is not wrapper:
                continue
            if own is None:
                delattr(obj, attr)  # the class's own method shows through again
            else:
                setattr(obj, attr, own)
        self._wrapped.clear()
        for role in list(self._drains):
            self._set_drain(role, None)

    def _set_drain(self, role: str, drain: FdDrain | None) -> None:
        old = self._drains.pop(role, None)
        if old is not None:
            old.close()
        if drain is not None:
            self._drains[role] = drain
        self._drain_list = tuple(self._drains.values())

    def _stream(self, name: str) -> Any:
        live, lock = self._live, self._lock

        def make(original: Any) -> Any:
            def write(text: Any, *args: Any, **kwargs: Any) -> Any:
                if self.active and live.get(name) is write and isinstance(text, str):
                    with lock:  # noted and passed on in one step: the kernel's order is kept
                        if self.active:
                            self.events.append(("stream", name, text))
                        return original(text, *args, **kwargs)
                return original(text, *args, **kwargs)

            return write

        return make

    def _publish(self, original: Any) -> Any:
        def publish(*args: Any, **kwargs: Any) -> Any:
            if self.active and self._live.get("publish") is publish:
                data = kwargs.get("data", args[0] if args else None)
                transient = kwargs.get("transient") or {}
                if isinstance(data, dict):
                    self._drain()
                    self.events.append(("display", dict(data), transient.get("display_id"), bool(kwargs.get("update"))))
            return original(*args, **kwargs)

        return publish

    def _clear(self, original: Any) -> Any:
        def clear_output(*args: Any, **kwargs: Any) -> Any:
            if self.active and self._live.get("clear") is clear_output:
                self._drain()
                self.events.append(("clear", bool(kwargs.get("wait", args[0] if args else False))))
            return original(*args, **kwargs)

        return clear_output

    def _result(self, original: Any) -> Any:
        def write_format_data(format_dict: Any, *args: Any, **kwargs: Any) -> Any:
            if self.active and self._live.get("result") is write_format_data and isinstance(format_dict, dict):
                self._drain()
                self.events.append(("result", dict(format_dict)))
            return original(format_dict, *args, **kwargs)

        return write_format_data

    def _traceback(self, original: Any) -> Any:
        # The error item comes last; C code's text written before the error goes before it,
        # as the kernel shows it, once that text has reached the stream.
        def _showtraceback(*args: Any, **kwargs: Any) -> Any:
            if self.active:
                self._drain()
            return original(*args, **kwargs)

        return _showtraceback


class FdDrain:
    """Waits until ipykernel's capture of a file descriptor has passed on what was written.

    ipykernel points fd 1 and 2 at pipes; a thread per stream reads each pipe and calls the
    stream's ``write`` (so through the tap). That thread needs the GIL, so text C code wrote
    during a cell can still be on its way when the cell ends, and reach the frontend late or
    in another order. ``wait`` returns once the pipe is empty and the thread is back in
    ``read(2)`` on it (Linux: ``/proc/self/task/TID/syscall``; elsewhere only the pipe is
    checked), or after ``timeout`` seconds.
    """

    timeout = 1.0

    def __init__(self, fid: int, thread: threading.Thread) -> None:
        self.fid: int | None = fid
        self.thread = thread
        self._count = array.array("i", [0])
        self._pending()  # raises where the pipe cannot be asked
        self._proc: int | None = None
        self._idle = b""  # how the thread's syscall line starts while it waits in read(2)
        try:
            self._proc = os.open(f"/proc/self/task/{thread.native_id}/syscall", os.O_RDONLY)
            self._calibrate()
        except OSError:
            self.close()

    @classmethod
    def of(cls, stream: Any) -> FdDrain | None:
        """The drain of an ipykernel ``OutStream`` that captures its file descriptor, else None."""
        fid = getattr(stream, "_fid", None)
        thread = getattr(stream, "watch_fd_thread", None)
        if (
            ioctl is None or not isinstance(fid, int) or not isinstance(thread, threading.Thread)
            or not getattr(stream, "_should_watch", False) or not thread.is_alive()
            or thread.native_id is None
        ):
            return None
        try:
            return cls(fid, thread)
        except Exception:  # noqa: BLE001 - no drain: fd output is still noted as it comes
            return None

    def _pending(self) -> int:
        assert self.fid is not None and ioctl is not None
        ioctl(self.fid, FIONREAD, self._count, True)
        return self._count[0]

    def _calibrate(self) -> None:
        # The thread blocks in read(fid) whenever its pipe is empty: learn the syscall number
        # from the line that names fid as the first argument. If it never does (a different
        # ipykernel), only the pipe is checked.
        arg = b"0x%x" % (self.fid or 0)
        for _ in range(50):
            if self._pending() == 0:
                fields = os.pread(self._proc, 128, 0).split()  # type: ignore[arg-type]
                if len(fields) >= 2 and fields[1] == arg and fields[0].isdigit():
                    self._idle = fields[0] + b" " + arg + b" "
                    return
            time.sleep(0.001)
        self.close()

    def idle(self) -> bool:
        """The pipe is empty and the thread waits in read(2): all written so far was passed on."""
        if self.fid is None:
            return True
        ioctl(self.fid, FIONREAD, self._count, True)
        if self._count[0]:
            return False
        proc = self._proc
        return proc is None or os.pread(proc, 128, 0).startswith(self._idle)

    def wait(self) -> None:
        try:
            if self.idle() or threading.get_ident() == self.thread.ident:
                return
            deadline = time.perf_counter() + self.timeout
            while time.perf_counter() < deadline and self.thread.is_alive():
                time.sleep(0.0002)  # lets the capture thread take the GIL
                if self.idle():
                    return
        except OSError:  # the thread has ended (its /proc entry with it), or the pipe is closed
            self.fid = None
            self.close()

    def close(self) -> None:
        if self._proc is not None:
            try:
                os.close(self._proc)
            except OSError:
                pass
            self._proc = None


def replay(events: Iterable[Event], error: tuple[str, str] | None) -> list[dict[str, Any]]:
    """nbformat-shaped outputs, the way a frontend would have kept them."""
    outs: list[dict[str, Any]] = []
    ids: dict[str, list[int]] = {}
    clear_pending = False
    for event in events:
        if event[0] == "clear":
            if event[1]:
                clear_pending = True
            else:
                outs, ids = [], {}
            continue
        if event[0] == "display" and event[3]:  # update_display_data: in place, no new output
            for n in ids.get(event[2], []):
                outs[n]["data"] = event[1]
            continue
        if clear_pending:
            outs, ids, clear_pending = [], {}, False
        if event[0] == "stream":
            outs.append({"output_type": "stream", "name": event[1], "text": event[2]})
        elif event[0] == "display":
            if event[2]:
                ids.setdefault(event[2], []).append(len(outs))
            outs.append({"output_type": "display_data", "data": event[1]})
        elif event[0] == "result":
            outs.append({"output_type": "execute_result", "data": event[1]})
    if error is not None:
        outs.append({"output_type": "error", "ename": error[0], "evalue": error[1]})
    return outs


def part(
    events: Iterable[Event], error: tuple[str, str] | None, streams: bool, max_bytes: int,
    stage_blob: Any, known: Collection[str] = (),
) -> dict[str, Any]:
    """The ``outputs`` part: hashed items, their content staged as blobs up to ``max_bytes``;
    ``known`` secret values are redacted wherever they appear."""
    if not events and error is None and streams:
        return _NOTHING  # most cells show nothing: one shared part, encoded once per batch
    outputs = canon.canonical(replay(events, error), known)
    item_list = canon.items(outputs)
    budget, truncated = max_bytes, False
    for item in item_list:
        content = canon.item_content(outputs[item["output"]], item["mime"])
        size = _size(content)
        if size <= budget:
            budget -= size
            item["blob"] = stage_blob("output", content)
        else:
            truncated = True
    result: dict[str, Any] = {"hash": canon.outputs_hash(item_list), "items": item_list}
    if truncated:
        result["truncated"] = True
    if not streams:
        result["streams"] = False
    return result


_NOTHING: dict[str, Any] = {"hash": canon.outputs_hash([]), "items": []}


def _size(content: dict[str, Any]) -> int:
    data = content.get("data", content.get("evalue", ""))
    return len(data) if isinstance(data, str) else len(repr(data))
