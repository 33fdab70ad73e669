"""Git state of the working tree: commit, branch, dirty flag, and a snapshot commit.

The snapshot is a commit of the whole working tree (untracked files included, ignored ones
not) built in a private index and kept under ``refs/nbrepro/sessions/<session>``. The user's
branch, index, stash and files are never touched: every command runs with a private
``GIT_INDEX_FILE`` or ``--no-optional-locks``.

Cost: one ``git status`` per batch of cells. The snapshot is rebuilt only when the status
listing or the stat of a listed file changed, and skipped when the tree is clean.

One reading serves every cell of a batch, but a cell that ended before a file the kernel
wrote later must not see that write: ``at_cell_end`` rewinds such files to what the cell
saw (absent, the blob an index or an earlier reading proves, or listed in ``left_out`` as
``written-later`` when nothing proves it). See docs/design.md, "The hot path and the worker".
"""

from __future__ import annotations

import os
import re
import shutil
import stat as stat_module
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import CaptureUnavailable, Part, unavailable
from .refs import session_ref

DEFAULT_SNAPSHOT_MAX_BYTES = 10 * 1024 * 1024
_SECRET_FILE = re.compile(
    r"^(\.env(\..*)?|\.netrc|\.pypirc|\.pgpass|id_(rsa|dsa|ecdsa|ed25519)(\.pub)?|.*\.(pem|key|p12|pfx)|"
    r".*credentials.*\.json|.*secrets?\.(json|ya?ml|toml))$",
    re.I,
)
# Fixed identity and dates: the same tree on the same parents always gives the same commit.
_COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "nbrepro",
    "GIT_AUTHOR_EMAIL": "nbrepro@localhost",
    "GIT_COMMITTER_NAME": "nbrepro",
    "GIT_COMMITTER_EMAIL": "nbrepro@localhost",
    "GIT_AUTHOR_DATE": "@0 +0000",
    "GIT_COMMITTER_DATE": "@0 +0000",
}
# A file's timestamps come from a clock that ticks coarsely (a jiffy, up to 10 ms): a change
# stamped more than this before a reading started was made before it.
_TICK_NS = 20_000_000
_READINGS_KEPT = 4
_CHUNK = 500  # paths per git command line
# Own process group, so the signals a frontend sends the kernel's group (SIGINT on interrupt
# and before shutdown) and ipykernel's SIGTERM to the children in its group at shutdown are
# never meant for git: they are for the user's code, not for provenance. A group, not a
# session: Linux schedules each session as its own autogroup, where git's lowered priority
# (recorder._lower_priority) would no longer yield to the kernel. Python 3.10 has no
# process_group; there shield_thread alone keeps the readings alive.
_POPEN: dict[str, Any] = {"process_group": 0} if sys.platform != "win32" and sys.version_info >= (3, 11) else {}
_SHIELDED = ("SIGINT", "SIGTERM")


def shield_thread() -> None:
    """Block SIGINT and SIGTERM in the calling thread (the recorder's worker), and so in the
    git processes it starts, which inherit its signal mask.

    A signal sent to the kernel's process group between ``fork`` and ``setpgid`` reaches the
    child still in that group, and Python's child unblocks it (with default handlers)
    before ``setpgid``: blocked, it stays pending and harmless. The kernel's main thread,
    which handles signals in Python, is not affected.
    """
    import signal

    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {getattr(signal, name) for name in _SHIELDED})


@dataclass
class Reading:
    """One git reading and when it was taken: ``perf_counter_ns``, and the wall clock."""

    started_ns: int
    started_wall_ns: int
    finished_ns: int
    part: Part
    status: Status
    stats: dict[str, tuple[int, ...]]  # listed path -> stat signature, taken before the snapshot
    index_mtime_ns: int | None  # the private index's mtime once the snapshot was built
    listed: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.listed = set(self.status.paths)


class GitCollector:
    def __init__(self, root: Path, session_id: str, max_bytes: int = DEFAULT_SNAPSHOT_MAX_BYTES) -> None:
        self.root = root
        self.session_id = session_id
        self.max_bytes = max_bytes
        self.ref = session_ref(session_id)
        self._git: Any = None
        self._index: Path | None = None
        self._shared_index: Path | None = None
        self._last_signature: Any = None
        self._last_part: Part | None = None
        self._last_snapshot: str | None = None
        self._head_trees: dict[str, str] = {}
        self.reading: Reading | None = None  # the last reading that succeeded
        self._readings: list[Reading] = []  # the last few, oldest first
        self._variants: dict[Any, Part] = {}  # per reading: rewound parts by their writes
        self._states: dict[tuple[str, int], tuple[Any, ...]] = {}  # per reading: (path, write) -> seen
        self._heads: dict[str, dict[str, tuple[str, str]]] = {}  # per reading: path -> commit entries
        self._snaps: dict[str, dict[str, tuple[str, str]]] = {}  # per reading: path -> snapshot entries
        self._variant_of: Reading | None = None  # the reading whose snapshot the variant index holds
        self._amended: dict[str, tuple[Any, Any]] = {}  # path -> (snapshot's entry, variant index's)
        self._index_mtime: int | None = None
        self._user_index: Path | None = None
        self._variant_index: Path | None = None
        self.busy_s = 0.0  # time in git for the last batch: the last reading and its variants

    # -- setup ---------------------------------------------------------------------------
    shield_thread = staticmethod(shield_thread)  # called by the thread that will run git

    def _open(self) -> Any:
        if self._git is not None:
            return self._git
        if not (self.root / ".git").exists():
            raise NotInRepo("not inside a git repository")
        try:
            import git  # gitpython; imported here, off the extension's load path
        except ImportError as exc:
            raise CaptureUnavailable("git executable not found on PATH") from exc
        if shutil.which(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git") is None:
            raise CaptureUnavailable("git executable not found on PATH")
        repo = git.Repo(self.root)
        git_dir = Path(repo.git_dir)
        private = git_dir / "nbrepro"
        private.mkdir(exist_ok=True)
        self._shared_index = private / "index"
        self._index = private / f"index-{self.session_id}"
        self._variant_index = private / f"variant-{self.session_id}"
        self._user_index = git_dir / "index"
        _remove_stale_indexes(private)
        if self._shared_index.exists() and not self._index.exists():
            # Starts from the last session's stat cache, so files are not all rehashed.
            shutil.copyfile(self._shared_index, self._index)
        self._git = repo.git
        return self._git

    def close(self) -> None:
        """Hand the private index back for the next session to start from."""
        if self._index is not None and self._shared_index is not None and self._index.exists():
            try:
                os.replace(self._index, self._shared_index)
            except OSError:
                pass
        if self._variant_index is not None:
            try:
                self._variant_index.unlink()
            except OSError:
                pass

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        out = self._git.execute(
            ["git", *args], env=env, stdout_as_string=False, strip_newline_in_stdout=False, **_POPEN
        )
        return bytes(out).decode("utf-8", "surrogateescape")

    def _run_each(self, args: list[str], paths: list[str], env: dict[str, str] | None = None) -> str:
        """``git ARGS -- PATHS``, in chunks that keep the command line short."""
        return "".join(self._run(*args, "--", *paths[i : i + _CHUNK], env=env) for i in range(0, len(paths), _CHUNK))

    def _run_status(self, *args: str) -> tuple[int, str]:
        status, out, _err = self._git.execute(
            ["git", *args], with_exceptions=False, with_extended_output=True,
            stdout_as_string=False, strip_newline_in_stdout=False, **_POPEN,
        )
        return status, out.decode("utf-8", "surrogateescape")

    # -- capture -------------------------------------------------------------------------
    def capture(self) -> Part:
        """Read the working tree now; a reading that fails is retried once."""
        started = time.perf_counter()
        self.reading = None
        try:
            try:
                return self._attempt(last_try=False)
            except Exception:  # noqa: BLE001 - a transient fault (say, a killed git): once more
                return self._attempt(last_try=True)
        finally:
            self.busy_s = time.perf_counter() - started

    def _attempt(self, last_try: bool) -> Part:
        try:
            self._open()
        except NotInRepo as exc:
            return unavailable(str(exc))
        return self._read(last_try)

    def _read(self, last_try: bool) -> Part:
        started_ns, started_wall_ns = time.perf_counter_ns(), time.time_ns()
        listing = self._run(
            # one thread: the cores belong to the user's cells, not to provenance
            "--no-optional-locks", "-c", "core.preloadIndex=false", "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all"
        )
        status = parse_status(listing)
        stats = {p: _stat_signature(self.root / p) for p in status.paths}
        signature = (listing, tuple(stats.values()))
        if signature == self._last_signature and self._last_part is not None:
            part = self._last_part
        else:
            left_out = self._left_out(status.untracked)
            part = {
                "commit": status.commit,
                "branch": status.branch,
                "dirty": status.dirty,
                "snapshot": self._snapshot_guarded(status, left_out) if last_try else self._snapshot(status, left_out),
                "left_out": left_out,
            }
            self._last_signature, self._last_part = signature, part
        reading = Reading(started_ns, started_wall_ns, time.perf_counter_ns(), part, status, stats, self._index_mtime)
        self.reading = reading
        self._readings = [*self._readings[1 - _READINGS_KEPT :], reading]
        self._variants, self._states, self._heads, self._snaps = {}, {}, {}, {}
        return part

    @property
    def finished_ns(self) -> int:
        """When the last reading finished (``perf_counter_ns``); 0 if it failed."""
        return self.reading.finished_ns if self.reading is not None else 0

    # -- the state a cell saw -------------------------------------------------------------
    def at_cell_end(self, part: Part, later: dict[str, tuple[int, os.stat_result | None]]) -> Part:
        """``part`` as the cell saw it, given the files the kernel wrote after the cell ended
        and before the reading finished (path -> time of the first such write, stat before).

        The same object when nothing needs rewinding; variants are cached per reading by
        their set of first writes, so the cells of a batch that saw the same tree share one.
        """
        reading = self.reading
        if not later or reading is None or reading.part is not part or not isinstance(part.get("left_out"), list):
            return part
        key = tuple(sorted((path, t) for path, (t, _) in later.items()))
        if key not in self._variants:
            started = time.perf_counter()
            try:
                self._variants[key] = self._rewind(reading, later)
            finally:
                self.busy_s += time.perf_counter() - started
        return self._variants[key]

    def _rewind(self, reading: Reading, later: dict[str, tuple[int, os.stat_result | None]]) -> Part:
        status, part = reading.status, reading.part
        commit = status.commit
        self._resolve(reading, later)
        states = {p: self._states[(p, t)] for p, (t, _) in later.items()}
        head = {q: e for p in later for q, e in self._heads[p].items()}
        snap = {q: e for p in later for q, e in self._snaps[p].items()}
        sizes = {p: pre.st_size for p, (_, pre) in later.items() if pre is not None and _regular(pre)}
        plan = rewind_plan(reading.listed, part["left_out"], head, snap, states, sizes)
        if plan is None:
            return part
        dirty, removals, updates, left_out = plan
        snapshot: Any = part["snapshot"]
        if not dirty and commit:
            snapshot = commit
        elif isinstance(snapshot, str):
            snapshot = self._variant_snapshot(reading, removals, updates, snap)
        return {"commit": commit, "branch": status.branch, "dirty": dirty, "snapshot": snapshot, "left_out": left_out}

    def _resolve(self, reading: Reading, later: dict[str, tuple[int, os.stat_result | None]]) -> None:
        """What the cells saw of each (path, first later write) not yet resolved for this
        reading, with a few git calls for all of them: the cells of a batch share them."""
        new = sorted(p for p, (t, _) in later.items() if (p, t) not in self._states)
        if not new:
            return
        commit, snapshot = reading.status.commit, reading.part["snapshot"]
        head = self._tree_entries(commit, new, recursive=True) if commit else {}
        if snapshot == commit:
            snap = head
        else:
            snap = self._tree_entries(snapshot, new, recursive=True) if isinstance(snapshot, str) else {}
        head_dirs = folders_of(head)
        snap_dirs = head_dirs if snap is head else folders_of(snap)
        for p in new:
            if p not in self._heads:
                self._heads[p] = {q: head[q] for q in within(p, head, head_dirs)}
                self._snaps[p] = {q: snap[q] for q in within(p, snap, snap_dirs)}
        known = [p for p in new if _regular(later[p][1])]
        index, index_mtime = self._index_entries(known) if known else ({}, None)
        states: dict[str, tuple[Any, ...]] = {}
        trees: dict[str, list[str]] = {}
        for p in new:
            t, pre = later[p]
            states[p] = decide(p, t, pre, index.get(p), index_mtime, self._readings)
            if states[p][0] in ("tree", "commit"):
                trees.setdefault(states[p][1], []).append(p)
        for treeish, members in trees.items():
            entries = self._tree_entries(treeish, members, recursive=False)
            for p in members:
                if p in entries:
                    states[p] = ("entry", *entries[p])
                else:  # not in the snapshot: unknown; not in the commit, unlisted: ignored
                    states[p] = ("unknown",) if states[p][0] == "tree" else ("same",)
        unsure = [p for p in new if states[p][0] not in ("absent", "same") and p not in reading.listed and not self._heads[p]]
        if unsure:
            for p in self._ignored(unsure):
                states[p] = ("same",)
        for p in new:
            self._states[(p, later[p][0])] = states[p]

    def _variant_snapshot(
        self, reading: Reading, removals: list[str], updates: list[tuple[str, str, str]],
        snap: dict[str, tuple[str, str]],
    ) -> str:
        """The snapshot of ``reading`` with ``removals`` (paths or folders) and ``updates``.

        Built in a second private index, which holds the reading's snapshot as amended for
        the last variant: each variant applies only what differs from that one (one
        ``update-index``), so a batch's variants cost one ``read-tree`` in all.
        """
        assert self._variant_index is not None
        env = {"GIT_INDEX_FILE": str(self._variant_index)}
        folders = folders_of(snap)
        want: dict[str, tuple[str, str] | None] = {q: None for p in removals for q in within(p, snap, folders)}
        want.update({p: (mode, oid) for mode, oid, p in updates})
        try:
            if self._variant_of is not reading:
                self._variant_of, self._amended = None, {}
                self._run("read-tree", reading.part["snapshot"], env=env)
                self._variant_of = reading
            for q, (base, _now) in self._amended.items():  # back to the snapshot's own entry
                want.setdefault(q, base)
            adds, removes = [], []
            for q, entry in sorted(want.items()):
                base, now = self._amended.get(q, (snap.get(q), snap.get(q)))
                if entry != now:
                    if entry is None:
                        removes.append(q)
                    else:
                        adds += ["--cacheinfo", f"{entry[0]},{entry[1]},{q}"]
                self._amended[q] = (base, entry)
            for i in range(0, len(adds), 2 * _CHUNK):
                self._run("update-index", "--add", *adds[i : i + 2 * _CHUNK], env=env)
            if removes:
                self._run_each(["update-index", "--force-remove"], removes, env=env)
            self._amended = {q: be for q, be in self._amended.items() if be[0] != be[1]}
            tree = self._run("write-tree", env=env).strip()
        except Exception:
            self._variant_of = None  # the variant index is in an unknown state: rebuild it next time
            raise
        return self._commit(tree, reading.status.commit)

    def _tree_entries(self, treeish: str, paths: list[str], recursive: bool) -> dict[str, tuple[str, str]]:
        """path -> (mode, blob id) in ``treeish`` for ``paths`` (and, recursive, files under them)."""
        out = self._run_each(["--literal-pathspecs", "ls-tree", "-z", "--full-tree", *(["-r"] if recursive else []), treeish], paths)
        entries = {}
        for line in out.split("\0"):
            if line:
                meta, _, path = line.partition("\t")
                mode, kind, oid = meta.split(" ")
                if kind != "tree":
                    entries[path] = (mode, oid)
        return entries

    def _index_entries(self, paths: list[str]) -> tuple[dict[str, IndexEntry], int | None]:
        """The user's index entries for ``paths`` (stat data included), and the index's mtime."""
        assert self._user_index is not None
        try:
            mtime = self._user_index.stat().st_mtime_ns
        except OSError:
            return {}, None
        out = self._run_each(["--literal-pathspecs", "--no-optional-locks", "ls-files", "-s", "--debug", "-z"], paths)
        return parse_index_debug(out), mtime

    def _ignored(self, paths: list[str]) -> list[str]:
        ignored = []
        for i in range(0, len(paths), _CHUNK):
            code, out = self._run_status("--literal-pathspecs", "check-ignore", "-z", "--", *paths[i : i + _CHUNK])
            if code not in (0, 1):  # 1: none of them is ignored
                raise CaptureUnavailable(f"git check-ignore failed (exit code {code})")
            ignored += [p for p in out.split("\0") if p]
        return ignored

    def _left_out(self, untracked: list[str]) -> list[dict[str, Any]]:
        out = []
        for path in untracked:
            try:
                size = (self.root / path).stat().st_size
            except OSError:
                continue
            if _SECRET_FILE.match(Path(path).name):
                out.append({"path": path, "size": size, "why": "secret"})
            elif size > self.max_bytes:
                out.append({"path": path, "size": size, "why": "size"})
        return out

    def _snapshot_guarded(self, status: Status, left_out: list[dict[str, Any]]) -> Any:
        try:
            return self._snapshot(status, left_out)
        except Exception as exc:  # noqa: BLE001 - the rest of the git part is still good
            from . import describe

            return unavailable(describe(exc))

    def _snapshot(self, status: Status, left_out: list[dict[str, Any]]) -> str:
        if not status.dirty and status.commit:
            return status.commit
        assert self._index is not None
        env = {"GIT_INDEX_FILE": str(self._index)}
        if not self._index.exists():
            if status.commit:
                self._run("read-tree", status.commit, env=env)
            else:
                self._run("read-tree", "--empty", env=env)
        excluded = [f":(exclude,top,literal){item['path']}" for item in left_out]
        self._run("add", "--all", "--", ":(top)", *excluded, env=env)
        if left_out:
            literal = [f":(top,literal){item['path']}" for item in left_out]
            self._run("rm", "--cached", "--quiet", "--ignore-unmatch", "--", *literal, env=env)
        tree = self._run("write-tree", env=env).strip()
        try:
            self._index_mtime = self._index.stat().st_mtime_ns
        except OSError:
            self._index_mtime = None
        return self._commit(tree, status.commit)

    def _commit(self, tree: str, head: str | None) -> str:
        """The snapshot commit of ``tree``: ``head`` itself when the trees match."""
        if head and tree == self._head_tree(head):
            return head
        parents: list[str] = []
        if head:
            parents += ["-p", head]
        if self._last_snapshot and self._last_snapshot != head:
            parents += ["-p", self._last_snapshot]
        message = f"nbrepro snapshot\n\nsession {self.session_id}\n"
        commit = self._run(
            "commit-tree", tree, *parents, "-m", message, env=_COMMIT_ENV
        ).strip()
        if commit != self._last_snapshot:
            self._run("update-ref", self.ref, commit)
            self._last_snapshot = commit
        return commit

    def _head_tree(self, commit: str) -> str:
        if commit not in self._head_trees:
            self._head_trees[commit] = self._run("rev-parse", f"{commit}^{{tree}}").strip()
        return self._head_trees[commit]


class NotInRepo(Exception):
    pass


class Status:
    def __init__(self) -> None:
        self.commit: str | None = None
        self.branch: str | None = None
        self.changed: list[str] = []
        self.untracked: list[str] = []

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.untracked)

    @property
    def paths(self) -> list[str]:
        return self.changed + self.untracked


def parse_status(listing: str) -> Status:
    """Parse ``git status --porcelain=v2 -z --branch`` output."""
    status = Status()
    fields = listing.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid ") :]
            status.commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry[len("# branch.head ") :]
            status.branch = None if head == "(detached)" else head
        elif entry.startswith("1 "):
            status.changed.append(entry.split(" ", 8)[8])
        elif entry.startswith("2 "):
            status.changed.append(entry.split(" ", 9)[9])
            i += 1  # the original path of a rename follows in its own field
        elif entry.startswith("u "):
            status.changed.append(entry.split(" ", 10)[10])
        elif entry.startswith("? "):
            status.untracked.append(entry[2:])
    return status


@dataclass(frozen=True)
class IndexEntry:
    mode: str
    oid: str
    ctime: tuple[int, int]
    mtime: tuple[int, int]
    ino: int
    size: int

    def matches(self, st: os.stat_result) -> bool:
        """Whether ``st`` is the stat git recorded (32-bit fields, as the index keeps them)."""
        return (
            self.ctime == divmod(st.st_ctime_ns, 1_000_000_000)
            and self.mtime == divmod(st.st_mtime_ns, 1_000_000_000)
            and self.ino == st.st_ino & 0xFFFFFFFF
            and self.size == st.st_size & 0xFFFFFFFF
        )


_INDEX_DEBUG = re.compile(
    r"(\d+) ([0-9a-f]+) (\d)\t([^\0]*)\0"
    r"\s*ctime: (\d+):(\d+)\n\s*mtime: (\d+):(\d+)\n\s*dev: \d+\tino: (\d+)\n"
    r"\s*uid: \d+\tgid: \d+\n\s*size: (\d+)\tflags: [0-9a-f]+\n"
)


def parse_index_debug(listing: str) -> dict[str, IndexEntry]:
    """Parse ``git ls-files -s --debug -z``: stage-0 entries by path."""
    out = {}
    for m in _INDEX_DEBUG.finditer(listing):
        mode, oid, stage, path, cs, cn, ms, mn, ino, size = m.groups()
        if stage == "0":
            out[path] = IndexEntry(mode, oid, (int(cs), int(cn)), (int(ms), int(mn)), int(ino), int(size))
    return out


def decide(
    path: str, t_ns: int, pre: os.stat_result | None, index_entry: IndexEntry | None,
    index_mtime_ns: int | None, readings: list[Reading],
) -> tuple[Any, ...]:
    """What a cell saw of ``path``, which the kernel first wrote after it at ``t_ns`` (its
    stat just before that write: ``pre``). The kernel did not touch it in between, so:

    - ``("absent",)``: there was no file.
    - ``("entry", mode, oid)``: git's index recorded this very stat for this blob, and not
      racily (the file's mtime is older than the index file's, git's own rule).
    - ``("tree", snapshot)``: a reading finished before the write, listed the file with this
      very stat (not racily, against the private index) and holds it in ``snapshot``.
    - ``("commit", commit)``: the file last changed before a reading started that finished
      before the write, and that reading did not list it: clean at ``commit`` (or ignored).
    - ``("left", entry)``: that reading left the file out of its snapshot (size or secret).
    - ``("unknown",)``: nothing proves its content.
    """
    if pre is None:
        return ("absent",)
    if not stat_module.S_ISREG(pre.st_mode):
        return ("unknown",)
    if index_entry is not None and index_mtime_ns is not None and index_entry.matches(pre) and pre.st_mtime_ns < index_mtime_ns:
        return ("entry", index_entry.mode, index_entry.oid)
    signature = _signature_of(pre)
    for q in reversed(readings):
        if q.finished_ns >= t_ns:
            continue
        if path in q.listed:
            if q.stats.get(path) != signature or q.index_mtime_ns is None or pre.st_mtime_ns >= q.index_mtime_ns:
                continue
            for item in q.part.get("left_out") or ():
                if item["path"] == path:
                    return ("left", item)
            if isinstance(q.part.get("snapshot"), str):
                return ("tree", q.part["snapshot"])
        elif pre.st_ctime_ns < q.started_wall_ns - _TICK_NS:
            return ("commit", q.status.commit) if q.status.commit else ("same",)
    return ("unknown",)


def rewind_plan(
    listed: set[str], left_out: list[dict[str, Any]], head: dict[str, tuple[str, str]],
    snap: dict[str, tuple[str, str]], states: dict[str, tuple[Any, ...]], sizes: dict[str, int],
) -> tuple[bool, list[str], list[tuple[str, str, str]], list[dict[str, Any]]] | None:
    """How a reading's part changes for a cell, given what it saw of the rewound paths.

    ``listed``: the paths the reading's status listed; ``head`` and ``snap``: the entries of
    the commit and of the reading's snapshot for the rewound paths and the files under them
    (the snapshot is built after the status, so it may hold a file the listing lacks).
    Returns ``(dirty, paths to remove from the snapshot, (mode, oid, path) to put in it,
    left_out)``, or None when nothing changes.
    """
    dropped: set[str] = set()  # listed paths whose listing no longer holds
    now_listed = False  # a rewound path differs from the commit
    removals: list[str] = []
    updates: list[tuple[str, str, str]] = []
    left = {item["path"]: item for item in left_out}
    listed_dirs, head_dirs, snap_dirs = folders_of(listed), folders_of(head), folders_of(snap)
    for path, state in sorted(states.items()):
        kind = state[0]
        if kind == "same":
            continue
        if kind == "absent":  # the path, or a folder and everything under it
            under = within(path, listed, listed_dirs)
            tracked = bool(within(path, head, head_dirs))
            held = bool(within(path, snap, snap_dirs))
            if not under and not tracked and not held:
                continue  # absent then, and absent or ignored now: nothing to rewind
            dropped.update(under)
            now_listed = now_listed or tracked
            if held:
                removals.append(path)
            for q in under:
                left.pop(q, None)
        elif kind == "entry":
            entry = (state[1], state[2])
            differs = head.get(path) != entry
            if snap.get(path) == entry and (path in listed) == differs and path not in left:
                continue  # what the cell saw is what the reading saw
            dropped.add(path)
            left.pop(path, None)
            now_listed = now_listed or differs
            updates.append((*entry, path))
        else:  # "left" (an earlier reading's left_out entry) or "unknown" (a file or a folder)
            under = within(path, listed, listed_dirs)
            dropped.update(under)
            dropped.add(path)
            now_listed = True
            if within(path, snap, snap_dirs):
                removals.append(path)
            for q in under:
                left.pop(q, None)
            left[path] = state[1] if kind == "left" else {"path": path, "size": sizes.get(path, 0), "why": "written-later"}
    if not dropped and not removals and not updates and [left[p] for p in sorted(left)] == left_out:
        return None
    dirty = now_listed or bool(listed - dropped)
    return dirty, removals, updates, [left[p] for p in sorted(left)]


def folders_of(paths: Any) -> set[str]:
    """Every folder that holds one of ``paths`` (``a``, ``a/b`` for ``a/b/c``)."""
    out: set[str] = set()
    for q in paths:
        i = q.rfind("/")
        while i > 0:
            folder = q[:i]
            if folder in out:
                break
            out.add(folder)
            i = q.rfind("/", 0, i)
    return out


def within(path: str, paths: Any, folders: set[str]) -> list[str]:
    """Those of ``paths`` that are ``path`` or under it (``folders``: ``folders_of(paths)``)."""
    if path in folders:
        prefix = path + "/"
        return [q for q in paths if q.startswith(prefix)]
    return [path] if path in paths else []


def _remove_stale_indexes(folder: Path, max_age_s: float = 7 * 86400) -> None:
    """Private indexes of sessions that never closed (a killed kernel) are only caches."""
    now = time.time()
    for path in [*folder.glob("index-*"), *folder.glob("variant-*")]:
        try:
            if now - path.stat().st_mtime > max_age_s:
                path.unlink()
        except OSError:
            pass


def _regular(st: os.stat_result | None) -> bool:
    return st is not None and stat_module.S_ISREG(st.st_mode)


def _stat_signature(path: Path) -> tuple[int, ...]:
    try:
        st = path.stat()
    except OSError:
        return (-1,)
    return _signature_of(st)


def _signature_of(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
