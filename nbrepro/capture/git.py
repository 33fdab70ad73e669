"""Git state of the working tree: commit, branch, dirty flag, and a snapshot commit.

The snapshot is a commit of the whole working tree (untracked files included, ignored ones
not) built in a private index and kept under ``refs/nbrepro/sessions/<session>``. The user's
branch, index, stash and files are never touched: every command runs with a private
``GIT_INDEX_FILE`` or ``--no-optional-locks``.

Cost: one ``git status`` per batch of cells. The snapshot is rebuilt only when the status
listing or the stat of a listed file changed, and skipped when the tree is clean.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from . import CaptureUnavailable, Part, unavailable

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


class GitCollector:
    def __init__(self, root: Path, session_id: str, max_bytes: int = DEFAULT_SNAPSHOT_MAX_BYTES) -> None:
        self.root = root
        self.session_id = session_id
        self.max_bytes = max_bytes
        self.ref = f"refs/nbrepro/sessions/{session_id}"
        self._git: Any = None
        self._index: Path | None = None
        self._shared_index: Path | None = None
        self._last_signature: Any = None
        self._last_part: Part | None = None
        self._last_snapshot: str | None = None
        self._head_trees: dict[str, str] = {}

    # -- setup ---------------------------------------------------------------------------
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

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        out = self._git.execute(
            ["git", *args], env=env, stdout_as_string=False, strip_newline_in_stdout=False
        )
        return out.decode("utf-8", "surrogateescape")

    # -- capture -------------------------------------------------------------------------
    def capture(self) -> Part:
        try:
            self._open()
        except NotInRepo as exc:
            return unavailable(str(exc))
        listing = self._run(
            # one thread: the cores belong to the user's cells, not to provenance
            "--no-optional-locks", "-c", "core.preloadIndex=false", "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all"
        )
        status = parse_status(listing)
        signature = (listing, tuple(_stat_signature(self.root / p) for p in status.paths))
        if signature == self._last_signature and self._last_part is not None:
            return self._last_part
        left_out = self._left_out(status.untracked)
        part: Part = {
            "commit": status.commit,
            "branch": status.branch,
            "dirty": status.dirty,
            "snapshot": self._snapshot_guarded(status, left_out),
            "left_out": left_out,
        }
        self._last_signature, self._last_part = signature, part
        return part

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
        if status.commit and tree == self._head_tree(status.commit):
            return status.commit
        parents: list[str] = []
        if status.commit:
            parents += ["-p", status.commit]
        if self._last_snapshot and self._last_snapshot != status.commit:
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


def _remove_stale_indexes(folder: Path, max_age_s: float = 7 * 86400) -> None:
    """Private indexes of sessions that never closed (a killed kernel) are only caches."""
    now = time.time()
    for path in folder.glob("index-*"):
        try:
            if now - path.stat().st_mtime > max_age_s:
                path.unlink()
        except OSError:
            pass


def _stat_signature(path: Path) -> tuple[int, ...]:
    try:
        st = path.stat()
    except OSError:
        return (-1,)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
