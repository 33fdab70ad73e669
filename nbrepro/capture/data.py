"""Data files a cell read or wrote: seen by wrapped open functions, by patched C readers, or declared.

The hot path only appends ``(path, mode, flags, seen_by)`` to a list while a cell runs. The
worker resolves, filters and hashes them after the cell has ended, so a written file's hash
is of its final content.

Writes (an open in a write mode, ``os.remove``, ``os.rename``) also go to a process-wide
write log, cells or not: ``(time, path, cwd, stat just before the write)``, the first write
per path between two cell ends. The worker uses it to give each record the git state its
cell saw (see ``capture.git``).

- ``capture.opens`` wraps ``open``/``io.open``, ``os.open`` and ``os.remove``/``unlink``/
  ``rename``/``replace`` while nbrepro is loaded: Python-level opens, pathlib, numpy, pandas
  CSV, PIL. Code that opens nothing pays nothing.
- pyarrow (parquet, feather), pandas' parquet/feather functions (which hand paths to pyarrow)
  and h5py open files in C: their entry points are wrapped when, and only when, those
  modules are imported.
- ``track(path)`` declares a file or a folder (recursive) that is rehashed for every record.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from . import opens
from .files import FileHashes, folder_tree
from .imports import ImportWatcher, Patches

# (module, attribute, argument position, argument name, mode, seen_by); attribute "X.__init__"
# patches a method, where position 0 is the first argument after self.
_C_READERS: tuple[tuple[str, str, int, str, str, str], ...] = (
    # pandas hands local parquet/feather paths to pyarrow's C++ file objects (pa.OSFile)
    ("pandas", "read_parquet", 0, "path", "r", "pandas"),
    ("pandas", "DataFrame.to_parquet", 0, "path", "w", "pandas"),
    ("pandas", "read_feather", 0, "path", "r", "pandas"),
    ("pandas", "DataFrame.to_feather", 0, "path", "w", "pandas"),
    ("pyarrow.parquet", "read_table", 0, "source", "r", "pyarrow"),
    ("pyarrow.parquet", "write_table", 1, "where", "w", "pyarrow"),
    ("pyarrow.parquet", "ParquetFile.__init__", 0, "source", "r", "pyarrow"),
    ("pyarrow.parquet", "ParquetWriter.__init__", 0, "where", "w", "pyarrow"),
    ("pyarrow.feather", "read_table", 0, "source", "r", "pyarrow"),
    ("pyarrow.feather", "write_feather", 1, "dest", "w", "pyarrow"),
    ("h5py", "File.__init__", 0, "name", "?", "h5py"),
)
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".so", ".pyd", ".pth", ".dylib")
_SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", ".nbrepro"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

Open = tuple[Any, Any, int, str]  # path, mode, flags, seen_by
# time (perf_counter_ns), path as given, cwd when the path is relative, stat before the write
Write = tuple[int, Any, Any, "os.stat_result | None"]
_NO_DATA: list[dict[str, Any]] = []


class _Opens(list):  # type: ignore[type-arg]
    """A cell's opens, carrying when the cell ended (``perf_counter_ns``), for the write log."""

    __slots__ = ("ended",)
    ended: int


class DataCollector:
    def __init__(self, root: Path, store_dir: Path, hashes: FileHashes) -> None:
        self.root = root
        self.hashes = hashes
        self.active = False
        self.opens: list[Open] = _Opens()
        self.worker_ident: int | None = None
        # The write log (see note_write), appended by any thread but the worker, read and
        # pruned by the worker only.
        self.writes: list[Write] = []
        self._noted: dict[Any, None] = {}  # paths logged since the last cell ended
        self._resolved: dict[Any, str | None] = {}
        self.tracked: list[str] = []
        self._patches = Patches()
        self._root = str(root)
        self._inside_skip = (*(os.path.join(self._root, d) + os.sep for d in _SKIP_DIRS), str(store_dir) + os.sep)
        self._outside_skip = _outside_skip(store_dir)
        self._inside_git = (os.path.join(self._root, ".git") + os.sep, str(store_dir) + os.sep)
        self._home = os.path.expanduser("~")

    # -- set up --------------------------------------------------------------------------
    def install(self, watcher: ImportWatcher, namespace: MutableMapping[str, Any] | None = None) -> None:
        opens.install(self, namespace)
        for module in dict.fromkeys(m for m, *_ in _C_READERS):
            watcher.on_import(module, self._patch_module)

    def uninstall(self) -> None:
        opens.uninstall(self)
        self._patches.undo()

    def saw_open(self, path: Any, mode: Any, flags: int, seen_by: str) -> None:
        """An open seen by ``capture.opens``: a cell's data while a cell runs, and a write
        for the write log at any time (a thread may write between cells)."""
        write = _mode(mode, flags) == "w"
        if self.active:
            self.opens.append((path, mode, flags, seen_by))
        if write:
            self.note_write(path)

    def _patch_module(self, module: Any) -> None:
        for name, attr, pos, kw, mode, seen_by in _C_READERS:
            if name != module.__name__:
                continue
            owner_name, _, method = attr.rpartition(".")
            owner = getattr(module, owner_name) if owner_name else module
            offset = 1 if owner_name else 0  # a method: skip self
            self._patches.wrap(owner, method, self._make_wrapper(pos + offset, kw, mode, seen_by))

    def _make_wrapper(self, pos: int, kw: str, mode: str, seen_by: str) -> Any:
        def make(original: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if self.active:
                    target = kwargs.get(kw, args[pos] if len(args) > pos else None)
                    if isinstance(target, (str, os.PathLike)):
                        how = mode
                        if how == "?":  # h5py: the mode argument, default "r"
                            h5mode = kwargs.get("mode", args[pos + 1] if len(args) > pos + 1 else "r")
                            how = "r" if h5mode in (None, "r") else "w"
                        self.opens.append((target, how, 0, seen_by))
                        if how == "w":
                            self.note_write(target)
                return original(*args, **kwargs)

            return wrapper

        return make

    # -- hot path ------------------------------------------------------------------------
    def begin(self) -> None:
        self.opens = _Opens()
        self.active = True

    def end(self) -> list[Open]:
        """The opens of the cell that ended, and the tracked paths as they stand now.

        The list carries the cell's end (``ended``), which orders it against the write log.
        """
        self.active = False
        opens, self.opens = self.opens, _Opens()
        if type(opens) is not _Opens:
            opens = _Opens(opens)
        opens.ended = time.perf_counter_ns()
        if self._noted:
            self._noted = {}
        if self.tracked:
            opens.extend((path, "r", 0, "track") for path in self.tracked)
        return opens

    def note_write(self, path: Any) -> None:
        """Log a write the kernel is about to make: the time, and the file's stat before it.

        Called by the audit hook and by every wrapper that sees a write, before the file
        is opened, so the stat is the state just before the write (None: absent). Only the
        first write to a path between two cell ends is logged: it alone decides what the
        cells that ended before it saw.
        """
        t = time.perf_counter_ns()
        try:
            text = os.fspath(path)
            cwd = None if os.path.isabs(text) else os.getcwd()
        except (TypeError, ValueError, OSError):
            return
        key = (text, cwd)
        if key in self._noted:
            return
        self._noted[key] = None
        try:
            st: os.stat_result | None = os.stat(text)
        except (OSError, ValueError):
            st = None
        self.writes.append((t, text, cwd, st))

    # -- declared data -------------------------------------------------------------------
    def track(self, path: str | os.PathLike[str]) -> str:
        """Declare a file or folder as data of every following record; returns its record path."""
        full = os.path.realpath(os.path.expanduser(os.fspath(path)))
        if not os.path.exists(full):
            raise FileNotFoundError(f"nbrepro.track: {os.fspath(path)!r} does not exist")
        if full not in self.tracked:
            self.tracked.append(full)
        return self.record_path(full)

    # -- worker --------------------------------------------------------------------------
    def later_writes(self, opens: Iterable[Open], until_ns: int) -> dict[str, tuple[int, os.stat_result | None]]:
        """Files of the project the kernel wrote after the cell of ``opens`` ended and up to
        ``until_ns``: root-relative path -> (time of the first such write, stat before it).

        Empty for a cell whose end is not known (opens built elsewhere).
        """
        ended = getattr(opens, "ended", None)
        if ended is None or not self.writes or until_ns <= ended:
            return {}
        out: dict[str, tuple[int, os.stat_result | None]] = {}
        for t, text, cwd, st in list(self.writes):
            if t <= ended or t > until_ns:
                continue
            rel = self._repo_path(text, cwd)
            if rel is not None and (rel not in out or t < out[rel][0]):
                out[rel] = (t, st)
        return out

    def done_with(self, opens: Iterable[Open]) -> None:
        """The cell of ``opens``, and every cell before it, is recorded: no cell still to be
        recorded ended before it, so the writes made before it ended are of no more use."""
        ended = getattr(opens, "ended", None)
        if ended is not None:
            self.prune_writes(ended)

    def prune_writes(self, upto_ns: int) -> None:
        """Forget writes made before ``upto_ns``: no cell still to be recorded ended before it."""
        writes = self.writes
        n = 0
        while n < len(writes) and writes[n][0] <= upto_ns:
            n += 1
        if n:
            del writes[:n]  # one operation: appends from the main thread land after it
        if len(self._resolved) > 4096:
            self._resolved = {}

    def _repo_path(self, text: Any, cwd: Any) -> str | None:
        """The root-relative posix path of a written file, None outside the work tree."""
        key = (text, cwd)
        if key not in self._resolved:
            rel = None
            try:
                full = os.path.realpath(os.path.join(os.fsdecode(cwd), os.fsdecode(text)) if cwd else os.fsdecode(text))
            except (TypeError, ValueError):
                full = ""
            if full.startswith(self._root + os.sep) and not full.startswith(self._inside_git):
                rel = Path(full).relative_to(self._root).as_posix()
            self._resolved[key] = rel
        return self._resolved[key]

    def part(
        self, opens: Iterable[Open], cwd: str, exclude: str | None, stage_blob: Callable[[str, dict[str, Any]], str] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``data`` list of one record: every file seen or tracked, hashed now. A tracked
        folder is one entry (``path`` ending in ``/``) whose ``hash`` is the id of its tree,
        a content-addressed blob of every file's path, size and hash, staged with
        ``stage_blob`` (stored once however many records refer to it)."""
        seen: dict[tuple[str, str], str] = {}
        folders: list[dict[str, Any]] = []
        for path, mode, flags, seen_by in opens:
            full = self._resolve(path, cwd)
            if full is None or full == exclude or self._skipped(full):
                continue
            if seen_by == "track" and os.path.isdir(full) and stage_blob is not None:
                folders.append(self._folder(full, stage_blob))
            elif seen_by == "track":
                for each in _walk(full):
                    seen.setdefault((each, "r"), seen_by)
            else:
                seen.setdefault((full, _mode(mode, flags)), seen_by)
        out = folders
        for (full, mode), seen_by in seen.items():
            hashed = self.hashes.get(full)
            if hashed is None:  # gone, a folder, a device: not data
                continue
            digest, size = hashed
            out.append({"path": self.record_path(full), "hash": digest, "size": size, "mode": mode, "seen_by": seen_by})
        if not out:
            return _NO_DATA  # shared, so records of one batch encode it once
        out.sort(key=lambda e: (e["path"], e["mode"]))
        return out

    def _folder(self, full: str, stage_blob: Callable[[str, dict[str, Any]], str]) -> dict[str, Any]:
        tree, size = folder_tree(full, self.hashes, _SKIP_DIRS)
        tree_id = stage_blob("tree", tree)
        return {
            "path": self.record_path(full).rstrip("/") + "/", "hash": tree_id, "size": size, "mode": "r",
            "seen_by": "track", "files": len(tree["files"]),
        }

    def record_path(self, full: str) -> str:
        """Relative to the project root; ``~/…`` under the home folder; absolute elsewhere."""
        if full.startswith(self._root + os.sep):
            return Path(full).relative_to(self._root).as_posix()
        if self._home not in ("", "/") and full.startswith(self._home + os.sep):
            return "~/" + Path(full).relative_to(self._home).as_posix()
        return Path(full).as_posix()

    def _resolve(self, path: Any, cwd: str) -> str | None:
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:
            return None
        if not text or text.endswith(_CODE_SUFFIXES):
            return None
        return os.path.realpath(os.path.join(cwd, text))

    def _skipped(self, full: str) -> bool:
        if full.startswith(self._root + os.sep):
            return full.startswith(self._inside_skip) or f"{os.sep}__pycache__{os.sep}" in full
        if "-packages" + os.sep in full:
            return True
        if self._home not in ("", "/") and full.startswith(self._home + os.sep):
            # dot-folders in home are configuration and caches (~/.cache, ~/.ipython, ...)
            return full[len(self._home) + 1 :].startswith(".")
        return full.startswith(self._outside_skip)


def _mode(mode: Any, flags: int) -> str:
    if isinstance(mode, str):
        return "w" if any(c in mode for c in "wax+") else "r"
    return "w" if flags & _WRITE_FLAGS else "r"


def _walk(target: str) -> Iterable[str]:
    if not os.path.isdir(target):
        yield target
        return
    for folder, dirs, files in os.walk(target):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            yield os.path.join(folder, name)


def _outside_skip(store_dir: Path) -> tuple[str, ...]:
    """Places outside the project whose files are the machinery's, never a cell's data."""
    places = {
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
        *site.getsitepackages(), site.getusersitepackages(),
        str(store_dir), tempfile.gettempdir(),
        "/proc", "/dev", "/sys", "/run", "/etc", "/usr", "/lib", "/var/lib", "/var/cache",
        os.environ.get("IPYTHONDIR") or os.path.expanduser("~/.ipython"),
    }
    return tuple(os.path.realpath(p) + os.sep for p in places if p)
