"""Cell runs in, records out: the pure logic behind the extension (no IPython import).

The per-cell hot path (``pre_cell``/``post_cell``) only reads clocks and counters and queues
a ``CellEnd``; a worker thread turns queued cells into records (git, environment, hardware)
and writes them in one transaction per batch. Git and environment state are read by the
worker after the cell has ended, never from a cache that could be stale: a batch of cells
that ended while the worker was busy shares one ``git status``.
"""

from __future__ import annotations

import os
import queue
import random
import resource
import sys
import threading
import time
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._errors import StoreError
from .capture import Guard, describe, outputs
from .capture.code import NotebookIndex, cell_part, notebook_hint, notebook_part, portable_cell_id
from .capture.data import DataCollector, Open
from .capture.env import EnvCollector, SiteKey, site_key
from .capture.files import FileHashes
from .capture.git import DEFAULT_SNAPSHOT_MAX_BYTES, GitCollector
from .capture.hardware import HardwareCollector
from .capture.imports import ImportWatcher
from .capture.launcher import LauncherHint, parent_hint, prefer
from .capture.seeds import SeedCollector
from .notebook.params import assignments, is_parameters_cell
from .record import CellRun
from .record.hashing import hash_json
from .record.redact import assigned_secrets, redact
from .store import MemoryStore, Store, StoreLocked, open_store, recovery
from .store.base import Blobs
from .team.hook import AfterSave

# After a batch the worker waits at least this long, and twice as long as its git reading
# took (capped), before the next: cells that end in quick succession then share one git
# status and one transaction, and git never holds a core for more than a third of the time.
_BATCH_PAUSE_S = 0.005
_BATCH_PAUSE_MAX_S = 0.25
# The worker records in the kernel's idle time: while a cell runs it waits, and it starts once
# no cell has run for this long (the gap between two cells of a Run All is shorter), or once
# the oldest cell waiting has waited _BATCH_PAUSE_MAX_S. Every record it builds while a cell
# runs takes interpreter time from that cell.
_IDLE_S = 0.002
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB elsewhere
_MAX_UNSAVED = 10_000


@dataclass(frozen=True)
class CellEnd:
    """What the hot path hands the worker about one finished cell."""

    source: str
    cell_id: str | None
    execution_count: int | None
    started: float
    duration_s: float
    cpu_s: float
    rss_peak_bytes: int
    error: tuple[str, str] | None
    modules: list[str] | None  # None: unchanged since the previous cell
    site_key: SiteKey | None  # site-packages state when the cell imported something, else None
    notebook: tuple[str | None, str | None]
    cwd: str
    opens: list[Open]
    rng: tuple[dict[str, Any], dict[str, Any]]  # raw global RNG states before and after
    seeds_set: dict[str, Any]
    unseeded: list[str]
    outputs: list[Any]  # output events, see capture.outputs
    streams: bool


class Recorder:
    def __init__(
        self,
        root: Path,
        store_dir: Path,
        *,
        namespace: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] = os.environ,
        store: Store | None = None,
        snapshot_max_bytes: int | None = None,
        outputs_max_bytes: int | None = None,
        launcher: LauncherHint | None = None,
    ) -> None:
        self.root = root
        self.store_dir = store_dir
        self.session_id = uuid.uuid4().hex
        # Run ids from a private generator seeded by the OS once: uuid4 per record costs an
        # os.urandom call each, and the user's global RNG must never be touched.
        self._run_ids = random.Random(os.urandom(32))
        self.guard = Guard()
        self.paused = False
        self.notebook_override: str | None = None
        self.records_written = 0
        self.last_record: dict[str, Any] | None = None
        self._namespace: Mapping[str, Any] = namespace if namespace is not None else {}
        self._environ = environ
        # What the command that started this kernel (papermill, jupyter execute, nbconvert)
        # says of its notebook: read once, by the worker (psutil stays off the load path).
        # A hint given here is used instead.
        self._launcher: Any = _UNREAD if launcher is None else launcher
        self._store = store
        if snapshot_max_bytes is None:
            snapshot_max_bytes = int(environ.get("NBREPRO_SNAPSHOT_MAX_BYTES", DEFAULT_SNAPSHOT_MAX_BYTES))
        self._git = GitCollector(root, self.session_id, snapshot_max_bytes)
        self._env = EnvCollector(root, self._stage_blob)
        self._hardware = HardwareCollector(self._stage_blob)
        self._env.own_modules = self._hardware.loaded
        self._index = NotebookIndex()
        self._hashes = FileHashes()
        self._data = DataCollector(root, store_dir, self._hashes)
        self._seeds = SeedCollector(self._stage_blob)
        self._watcher = ImportWatcher()
        self._rng_before: dict[str, Any] = {}
        self._last_seeds: Any = None
        self._secrets: set[str] = set()  # values the session's code gave to secret names
        if outputs_max_bytes is None:
            outputs_max_bytes = int(environ.get("NBREPRO_OUTPUTS_MAX_BYTES", outputs.DEFAULT_MAX_BYTES))
        self._outputs_max_bytes = outputs_max_bytes
        self._notebooks: dict[Any, tuple[dict[str, Any], Path | None]] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start: tuple[float, float, float, float] | None = None
        self._nmodules = -1
        self._worker_cpu = 0.0
        self._unsaved: list[dict[str, Any]] = []
        self._blobs: Blobs = {}
        self._blobs_written: set[str] = set()
        self._closed = False
        self._deadline = 0.0
        self._write_error: StoreError | None = None  # why the last write failed, None once one succeeds
        self._exit_note: str | None = None  # the one line close() prints about records it could not write
        self._git_seconds = 0.0
        self._running = False  # a cell is between pre_cell and post_cell
        self._cell_ended = 0.0  # perf_counter when the last cell ended
        self._idle = threading.Event()  # set when a cell ends; cleared by the worker before it waits
        self._hurry = False  # flush() or close() is waiting: no idle wait
        self._clear_refs: int | None = _open_clear_refs()
        self._after_save = AfterSave(root, store_dir, self.session_id, environ, self.guard.warn)

    # -- process-wide hooks --------------------------------------------------------------
    def install_hooks(self) -> None:
        """Wrapped file entry points, import-time patches, and the RNG watch (all undone by uninstall_hooks)."""
        self._watcher.install()
        self._data.install(self._watcher, self._namespace if isinstance(self._namespace, MutableMapping) else None)
        self._seeds.install(self._watcher)

    def uninstall_hooks(self) -> None:
        self._data.uninstall()
        self._seeds.uninstall()
        self._watcher.uninstall()

    def track(self, path: str) -> str:
        return self._data.track(path)

    def seed(self, n: int) -> dict[str, int]:
        return self._seeds.seed(n)

    # -- hot path (main thread) ----------------------------------------------------------
    def pre_cell(self) -> None:
        if self.paused:
            return
        self._running = True
        self._data.begin()
        self._rng_before = self._seeds.begin()
        if self._clear_refs is not None:
            try:  # resets the kernel's peak-RSS counter, so the peak is this cell's own
                os.write(self._clear_refs, b"5")
            except OSError:
                self._clear_refs = None
        self._start = (time.time(), time.perf_counter(), time.process_time(), self._worker_cpu)

    def post_cell(
        self,
        source: str,
        cell_id: str | None,
        execution_count: int | None,
        error: BaseException | None,
        output_events: list[Any] | None = None,
        streams: bool = True,
    ) -> list[str]:
        """Queue the cell that just ended; returns the RNGs to give a one-time notice about."""
        if self.paused or self._closed:
            self._running = False  # paused by this very cell (%nbrepro off): no cell runs now
            return []
        end, cpu_end, worker_end = time.perf_counter(), time.process_time(), self._worker_cpu
        start = self._start or (time.time(), end, cpu_end, worker_end)
        self._start = None
        n = len(sys.modules)
        modules = list(sys.modules) if n != self._nmodules else None
        self._nmodules = n
        opens = self._data.end()
        before, after, seeds_set, unseeded, notices = self._seeds.end(self._rng_before)
        self._rng_before = {}
        self._queue.put(
            CellEnd(
                source=source,
                cell_id=cell_id,
                execution_count=execution_count,
                started=start[0],
                duration_s=end - start[1],
                # The worker's own CPU time is the recorder's, not the cell's.
                cpu_s=max(0.0, (cpu_end - start[2]) - (worker_end - start[3])),
                rss_peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT,
                error=_describe_error(error) if error is not None else None,
                modules=modules,
                site_key=site_key() if modules is not None else None,
                notebook=notebook_hint(self.notebook_override, self._namespace, self._environ),
                cwd=os.getcwd(),
                opens=opens,
                rng=(before, after),
                seeds_set=seeds_set,
                unseeded=unseeded,
                outputs=output_events or [],
                streams=streams,
            )
        )
        self._running = False
        self._cell_ended = end
        self._idle.set()
        if self._thread is None:
            self.start()
        return notices

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="nbrepro-recorder", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every cell queued so far is recorded (or could not be); True if done."""
        if self._thread is None or not self._thread.is_alive():
            return self._queue.empty()
        done = threading.Event()
        self._queue.put(done)
        self._hurry = True
        self._idle.set()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (retrying a locked store until ``timeout``) and stop. Records
        that still cannot be written are named in one line and kept in a recovery file."""
        if self._closed:
            return
        self._closed = True
        self._deadline = time.monotonic() + max(0.0, timeout - 0.5)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._hurry = True
            self._idle.set()
            self._thread.join(timeout)
        note = self._exit_note
        if note is None and self._unsaved:  # the worker did not get to its shutdown in time
            note = f"{len(self._unsaved)} record(s) could not be written"
        if note is not None:
            print(f"nbrepro: warning: store: {note}", file=sys.stderr)
        if self._clear_refs is not None:
            os.close(self._clear_refs)
            self._clear_refs = None

    @property
    def store(self) -> Store | None:
        return self._store

    def unsaved(self) -> int:
        return len(self._unsaved)

    # -- worker --------------------------------------------------------------------------
    def _work(self) -> None:
        # Start-up (the store, the first git reading, the installed-set scan) and the first
        # records run at the kernel's own priority: at a lowered one, on a machine busy with
        # other kernels, a kernel killed a second after its first cells lost them all.
        lowered = False
        self._git.shield_thread()  # the kernel's interrupts and shutdown signals are not for git
        # Warm up before the first cell ends: open the store, start git, scan the installed
        # set, so the first records are not held back by a cold start.
        self._data.worker_ident = threading.get_ident()
        t0 = time.thread_time()
        try:
            self._process([])
            self.guard.run("git", self._git.capture)
            self._env.begin_batch()
            self.guard.run("env", self._env.capture, None)
            self.guard.run("hardware", self._hardware.capture)
        except Exception as exc:  # noqa: BLE001
            self.guard.warn("recorder", describe(exc))
        self._worker_cpu += time.thread_time() - t0
        while True:
            batch = [self._queue.get()]
            if isinstance(batch[0], CellEnd):
                self._wait_for_idle(time.perf_counter() + _BATCH_PAUSE_MAX_S)
            self._hurry = False  # a flush that comes after this drain hurries the next wait
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            t0 = time.thread_time()
            cells = [item for item in batch if isinstance(item, CellEnd)]
            try:
                self._process(cells)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any fault
                self.guard.warn("recorder", describe(exc))
            if not lowered and self.records_written:
                _lower_priority()
                lowered = True
            stop = any(item is _STOP for item in batch)
            if stop:
                self._shutdown()
            self._worker_cpu += time.thread_time() - t0
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if stop:
                return
            time.sleep(min(_BATCH_PAUSE_MAX_S, max(_BATCH_PAUSE_S, 2 * self._git_seconds)))

    def _wait_for_idle(self, deadline: float) -> None:
        """Wait until no cell has run for ``_IDLE_S``, or until ``deadline``."""
        while not self._hurry:
            now = time.perf_counter()
            if now >= deadline:
                return
            if not self._running:
                quiet = now - self._cell_ended
                if quiet >= _IDLE_S:
                    return
                time.sleep(min(_IDLE_S - quiet, deadline - now))
                continue
            self._idle.clear()
            if self._running:  # checked again after the clear: a cell that ended meanwhile set it
                self._idle.wait(deadline - now)

    def _process(self, cells: list[CellEnd]) -> None:
        if cells:
            git = self.guard.run("git", self._git.capture)
            until = self._git.finished_ns
            hardware = self.guard.run("hardware", self._hardware.capture)
            self.guard.run("env", self._env.begin_batch)
            self._notebooks.clear()
            for cell in cells:
                env = self.guard.run("env", self._env.capture, cell.modules, cell.site_key)
                # The tree as this cell saw it: files the kernel wrote after it ended, before
                # the reading finished, are rewound (see GitCollector.at_cell_end).
                later = self._data.later_writes(cell.opens, until)
                cell_git = self.guard.run("git", self._git.at_cell_end, git, later) if later else git
                self._unsaved.append(self._build(cell, cell_git, env, hardware))
                if self._running:
                    time.sleep(0)  # a cell began meanwhile: hand it the interpreter
            self._git_seconds = self._git.busy_s
            self._data.done_with(cells[-1].opens)
            del self._unsaved[:-_MAX_UNSAVED]
        self._save()

    def _build(self, cell: CellEnd, git: dict[str, Any], env: dict[str, Any], hardware: dict[str, Any]) -> dict[str, Any]:
        if self._launcher is _UNREAD:
            self._launcher = parent_hint()
        hint = cell.notebook
        if self._launcher is not None:
            narrowed = self._launcher.narrowed(lambda path: self._index.matcher(Path(path)).has(cell.source))
            if len(narrowed.candidates) == 1:
                self._launcher = narrowed
            hint = prefer(hint, narrowed.path, narrowed.found_by)
        key = (hint, cell.cwd)
        if key not in self._notebooks:  # emptied per batch: a notebook may appear on disk
            self._notebooks[key] = notebook_part(hint, self.root, Path(cell.cwd))
        notebook, notebook_file = self._notebooks[key]
        part = cell_part(cell.source, portable_cell_id(cell.cell_id, self.root), cell.execution_count)
        tags: list[str] = []
        if notebook_file is not None:
            part["index"] = self._index.locate(notebook_file, cell.cell_id, part["source_hash"])
            tags = self._index.tags(part["index"])
        exclude = os.path.realpath(notebook_file) if notebook_file is not None else None
        g = self.guard
        self._secrets |= assigned_secrets(cell.source)  # redacted wherever they show up from now on
        extra = {
            "outputs": g.run(
                "outputs", outputs.part, cell.outputs, cell.error, cell.streams, self._outputs_max_bytes, self._stage_blob,
                self._secrets,
            ),
            "data": g.run("data", self._data.part, cell.opens, cell.cwd, exclude, self._stage_blob),
            "seeds": g.run("seeds", self._seeds.part, *cell.rng, cell.seeds_set, cell.unseeded),
        }
        if extra["seeds"] == self._last_seeds:  # unchanged RNG states: share the part
            extra["seeds"] = self._last_seeds
        self._last_seeds = extra["seeds"]
        if is_parameters_cell(cell.source, tags):
            extra["params"] = assignments(cell.source)
        run = CellRun(
            run_id=uuid.UUID(int=self._run_ids.getrandbits(128), version=4).hex,
            session_id=self.session_id,
            notebook=dict(notebook),
            cell=part,
            started_at=_iso(cell.started),
            duration_s=round(cell.duration_s, 6),
            cpu_s=round(cell.cpu_s, 6),
            rss_peak_bytes=cell.rss_peak_bytes,
            status="error" if cell.error else "ok",
            error={"ename": cell.error[0], "evalue": redact(cell.error[1], self._secrets)[:2000]} if cell.error else None,
            git=git,
            env=env,
            hardware=hardware,
            extra=extra,
        )
        return run.to_dict()

    def _stage_blob(self, kind: str, content: dict[str, Any]) -> str:
        blob_id = hash_json(content)
        if blob_id not in self._blobs_written:
            self._blobs[blob_id] = (kind, content)
        return blob_id

    def _open_store(self) -> Store | None:
        try:
            return open_store(self.store_dir, self.guard.warn)
        except StoreLocked as exc:
            self._write_error = exc
            self.guard.warn("store", f"{exc}; records wait in memory and are retried")
            return None
        except (StoreError, OSError) as exc:
            self.guard.warn("store", f"{exc}; records are kept in memory for this session only")
            return MemoryStore()

    def _save(self) -> None:
        if self._store is None:
            self._store = self._open_store()
            if self._store is None:
                return
        self._hashes.set_lookup(self._store.cached_hash)
        if not self._unsaved and not self._blobs:
            return
        try:
            self._store.append(self._unsaved, self._blobs, self._hashes.take_new())
        except StoreError as exc:
            # Locked, a full disk, a read-only file, an I/O error: the records wait in memory
            # and every batch retries them; what is left at exit goes to a recovery file. (A
            # file replaced or overwritten mid-session the store heals itself.)
            self._write_error = exc
            self.guard.warn("store", f"{exc}; {len(self._unsaved)} record(s) wait in memory and are retried")
            return
        self._write_error = None
        self._blobs_written.update(self._blobs)
        self._blobs = {}
        if self._unsaved:
            self.records_written += len(self._unsaved)
            self.last_record = self._unsaved[-1]
            self._unsaved = []
            self._after_save.saved(self._store, self.last_record, self.records_written)  # anchor, live sink
        if not isinstance(self._store, MemoryStore):
            self.guard.clear("store")

    def _shutdown(self) -> None:
        try:
            # A lock goes away by itself: retry it until the deadline. Other faults get one
            # more try, then the records go to the recovery file.
            while self._unsaved and time.monotonic() < self._deadline:
                self._save()
                if not self._unsaved or not isinstance(self._write_error, StoreLocked):
                    break
                time.sleep(0.2)
            if self._unsaved:
                self._exit_note = self._keep_unsaved()
        except Exception as exc:  # noqa: BLE001 - at exit too, never a traceback
            self._exit_note = f"{len(self._unsaved)} record(s) could not be written ({describe(exc)})"
        for part in (self._after_save, self._git, self._store):
            try:
                if part is not None:
                    part.close()
            except Exception:  # noqa: BLE001 - at exit there is no cell left to report it in
                pass

    def _keep_unsaved(self) -> str:
        """Write the records left unsaved to a recovery file beside the store (merged the next
        time a kernel opens it, see ``nbrepro.store.recovery``); the line that says so."""
        counts = [c for c in ((r.get("cell") or {}).get("execution_count") for r in self._unsaved) if c is not None]
        cells = f"cells [{counts[0]}] to [{counts[-1]}]" if len(counts) > 1 else f"cell [{counts[0]}]" if counts else "cells"
        why = f": {self._write_error}" if self._write_error is not None else ""
        what = f"{len(self._unsaved)} record(s) ({cells} of session {self.session_id[:8]}) could not be written{why}"
        try:
            path = recovery.save(self.store_dir, self.session_id, self._unsaved, self._blobs)
        except OSError as exc:
            return f"{what}; lost: no recovery file could be written either ({exc.strerror or exc})"
        return f"{what}; kept in {path}, merged into the store the next time a kernel opens it"


_STOP = object()
_UNREAD = object()


def _lower_priority() -> None:
    """Let the user's cells win the CPU from this thread and the git processes it starts.

    On Linux a thread has its own nice value, and children inherit the forking thread's.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass


def _open_clear_refs() -> int | None:
    try:
        return os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None


def _describe_error(error: BaseException) -> tuple[str, str]:
    try:
        value = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the recorder
        value = "<unprintable>"
    return type(error).__name__, value


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
