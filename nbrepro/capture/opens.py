"""The process's file entry points, wrapped while nbrepro is loaded: how capture sees a cell's
reads and writes without taxing code that opens nothing.

Wrapped: ``builtins.open`` and ``io.open`` (the same function: ``open``, ``pathlib``'s
``Path.open``/``read_text``/``write_bytes``, numpy's ``load``/``save``/``loadtxt``, pandas'
CSV/JSON/Excel readers and writers, PIL, gzip, zipfile and shutil all call one of them by name
at call time), ``os.open``, and the calls that change a file without opening it
(``os.remove``, ``os.unlink``, ``os.rename``, ``os.replace``). A wrapped call costs one Python
call and a few tests more than the original; every other line of Python costs nothing (an
audit hook, the earlier mechanism, runs on every audit event in the interpreter and can never
be removed). ``uninstall`` puts the originals back, so ``%unload_ext nbrepro`` leaves the
process as it found it; a wrapper someone else has since wrapped stays, and passes calls
straight on.

Not seen (documented in docs/capture.md): a reference to ``open`` taken before nbrepro loaded
(``from os import open``), ``io.FileIO(path)`` built directly, and files C code opens itself
(those of pyarrow, pandas' parquet/feather functions and h5py are seen by the wrappers in
``capture.data``).
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import threading
from collections.abc import Callable, MutableMapping
from typing import Any, Protocol

from .imports import Patches


class OpenSink(Protocol):
    """Where the wrappers report (``DataCollector``); ``worker_ident``'s own opens are not the cell's."""

    worker_ident: int | None

    def saw_open(self, path: Any, mode: Any, flags: int, seen_by: str) -> None: ...

    def note_write(self, path: Any) -> None: ...


_sink: OpenSink | None = None
_patches = Patches()
_lock = threading.Lock()
# IPython puts its own ``open`` into the user namespace (one that refuses fds 0-2 and calls the
# io.open it imported at start): cells call that one. (namespace, the original) while wrapped.
_namespace_open: list[tuple[MutableMapping[str, Any], Any]] = []


def install(sink: OpenSink, namespace: MutableMapping[str, Any] | None = None) -> None:
    """Wrap the entry points (once per process), and ``namespace['open']`` (the shell's user
    namespace), and report to ``sink`` from now on."""
    global _sink
    with _lock:
        _sink = sink
        if namespace is not None and callable(namespace.get("open")) and not _is_ours(namespace["open"]):
            original = namespace["open"]
            namespace["open"] = functools.update_wrapper(_wrap_open(original), original)
            _namespace_open.append((namespace, original))
        if _patches:
            return
        for owner in (builtins, io):
            _patches.wrap(owner, "open", _wrap_open)
        _patches.wrap(os, "open", _wrap_os_open)
        for name in ("remove", "unlink"):
            _patches.wrap(os, name, _wrap_change(1))
        for name in ("rename", "replace"):
            _patches.wrap(os, name, _wrap_change(2))


def uninstall(sink: OpenSink) -> None:
    """Stop reporting to ``sink`` and put the original entry points back."""
    global _sink
    with _lock:
        if _sink is sink:
            _sink = None
            _patches.undo()
            while _namespace_open:
                namespace, original = _namespace_open.pop()
                if _is_ours(namespace.get("open")):
                    namespace["open"] = original


def _is_ours(function: Any) -> bool:
    return getattr(function, "__code__", None) in _OUR_CODE


def _wrap_open(original: Callable[..., Any]) -> Callable[..., Any]:
    def open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        sink = _sink
        if sink is not None and not isinstance(file, int) and threading.get_ident() != sink.worker_ident:
            sink.saw_open(file, mode, 0, "open")
        return original(file, mode, *args, **kwargs)

    return open


def _wrap_os_open(original: Callable[..., Any]) -> Callable[..., Any]:
    def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        sink = _sink
        if (
            sink is not None and kwargs.get("dir_fd") is None and threading.get_ident() != sink.worker_ident
        ):
            sink.saw_open(path, None, flags, "open")
        return original(path, flags, *args, **kwargs)

    return os_open


def _wrap_change(paths: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``os.remove``-like calls (one path) and ``os.rename``-like ones (two): each path is a
    write; paths relative to a directory descriptor cannot be resolved and are passed over."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def change(*args: Any, **kwargs: Any) -> Any:
            sink = _sink
            if (
                sink is not None and not any(k.endswith("dir_fd") and v is not None for k, v in kwargs.items())
                and threading.get_ident() != sink.worker_ident
            ):
                for path in args[:paths]:
                    sink.note_write(path)
            return original(*args, **kwargs)

        return change

    return make


_OUR_CODE = (_wrap_open(print).__code__,)
