"""Chain heads anchored outside the store, and the store compared with them.

The hash chain finds an edited, deleted or reordered record, but whoever holds the database
can recompute every hash after rewriting it. An anchor remembers elsewhere what the chain
was: *in store S, session X's last record was seq N with hash H*. Every hash covers the
one before it, so that one pair pins the whole store up to seq N; a store rewritten with
recomputed hashes, or restored from an older copy, no longer has it.

Git anchors live in ``refs/nbrepro/anchors/<store>/<session>`` (``capture.refs``): a chain
of commits on the empty tree, each the parent of the next, whose messages carry the head:

    nbrepro anchor: session 1a2b3c4d seq 42

    Nbrepro-Store: <store id>
    Nbrepro-Session: <session id>
    Nbrepro-Seq: 42
    Nbrepro-Hash: blake3:…
    Nbrepro-Records: 12

Pushed with ``git push origin 'refs/nbrepro/*'`` to a remote that refuses non-fast-forward
updates, the author alone can no longer rewrite them. Where ``commit.gpgsign`` is set, each
anchor is signed with the user's key (``git commit-tree -S``: gpg or ssh, as
``gpg.format`` says). MLflow anchors are the tags of the session's run (``mlflow_run``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..capture.git import _POPEN
from ..capture.refs import ANCHORS, anchor_ref

_TIMEOUT_S = 10.0  # a signing agent that waits for a passphrase must not hold the worker
_IDENTITY = {  # the anchor's author is nbrepro; a signature, where configured, says whose key
    "GIT_AUTHOR_NAME": "nbrepro",
    "GIT_AUTHOR_EMAIL": "nbrepro@localhost",
    "GIT_COMMITTER_NAME": "nbrepro",
    "GIT_COMMITTER_EMAIL": "nbrepro@localhost",
}
_TRAILERS = {"Nbrepro-Store": "store_id", "Nbrepro-Session": "session_id", "Nbrepro-Seq": "seq",
             "Nbrepro-Hash": "hash", "Nbrepro-Records": "records"}


@dataclass(frozen=True)
class Anchor:
    """One remembered chain head: session ``session_id``'s last record in store ``store_id``
    was seq ``seq`` with hash ``hash``, its ``records``-th record. ``where`` names it in
    reports; ``signature`` is git's ``%G?`` letter for a git anchor (G good, N none, B bad…)."""

    where: str
    store_id: str
    session_id: str
    seq: int
    hash: str
    records: int
    signature: str = ""


def short(digest: str) -> str:
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}" if hexdigest else digest[:12]


class Comparison:
    """The store's chain items (records and gc's pruned-range markers), indexed for anchors."""

    def __init__(self, items: Iterable[dict[str, Any]]) -> None:
        self._by_seq: dict[int, dict[str, Any]] = {}
        self._ranges: list[dict[str, Any]] = []
        self.last_seq = 0
        for item in items:
            seq = item.get("seq")
            if not isinstance(seq, int):
                continue
            if item.get("schema") == "nbrepro.pruned/1":
                self._ranges.append(item)
            self._by_seq[seq] = item
            self.last_seq = max(self.last_seq, seq)

    def problem(self, anchor: Anchor) -> str | None:
        """What is wrong with the store against ``anchor``, in one line; None if it holds."""
        who = f"session {anchor.session_id[:8]}"
        if anchor.seq < 0:
            return f"{who}: {anchor.where} cannot be read (its message lacks the head: it was altered)"
        if anchor.signature == "B":
            return f"{who}: {anchor.where} has a bad signature (the anchor itself was forged or altered)"
        item = self._by_seq.get(anchor.seq)
        if item is None:
            pruned = next((r for r in self._ranges if r.get("first_seq", 0) <= anchor.seq <= r["seq"]), None)
            if pruned is not None:
                return None  # gc pruned the range: its marker stands for it, the chain check covers it
            if anchor.seq > self.last_seq:
                return (f"{who}: truncated: {anchor.where} says the chain reached seq {anchor.seq}"
                        f" ({anchor.records} record(s) of the session), but the store ends at seq {self.last_seq}")
            return f"{who}: truncated: {anchor.where} names seq {anchor.seq}, which the store no longer has"
        if item.get("schema") == "nbrepro.pruned/1":
            held = item.get("last_hash")
        else:
            if item.get("session_id") != anchor.session_id:
                return (f"{who}: rewritten: {anchor.where} says seq {anchor.seq} is a record of this session,"
                        f" the store's seq {anchor.seq} is one of session {str(item.get('session_id'))[:8]}")
            held = item.get("hash")
        if held != anchor.hash:
            return (f"{who}: rewritten: {anchor.where} says seq {anchor.seq} has hash {short(anchor.hash)},"
                    f" the store's seq {anchor.seq} has {short(str(held))}")
        return None


# -- git ---------------------------------------------------------------------------------
def _git(root: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    streams: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=_TIMEOUT_S,
        env={**os.environ, **(env or {})}, check=False, **streams, **_POPEN,
    )
    if done.returncode != 0:
        why = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise GitFailed(f"git {args[0]} failed: {why[-1]}")
    return str(done.stdout)


class GitFailed(Exception):
    pass


class GitAnchors:
    """Writes one session's anchors into the repository at ``root``; used by the recorder's
    worker (``hook``), so every git call is bounded and none starts before it is needed."""

    def __init__(self, root: Path, store_id: str, session_id: str) -> None:
        self.root = root
        self.ref = anchor_ref(store_id, session_id)
        self.store_id = store_id
        self.session_id = session_id
        self._tree: str | None = None
        self._parent: str | None = None
        self._sign: bool | None = None  # read from commit.gpgsign at the first anchor
        self.sign_failure: str | None = None  # why signing failed once (anchors are unsigned from then on)

    def write(self, seq: int, digest: str, records: int) -> str:
        """Anchor the session's head at (``seq``, ``digest``); returns the anchor commit."""
        if self._tree is None:  # the empty tree, written so that a push carries it
            self._tree = _git(self.root, "mktree", stdin="").strip()
            self._sign = _git_bool(self.root, "commit.gpgsign")
        message = (
            f"nbrepro anchor: session {self.session_id[:8]} seq {seq}\n\n"
            f"Nbrepro-Store: {self.store_id}\nNbrepro-Session: {self.session_id}\n"
            f"Nbrepro-Seq: {seq}\nNbrepro-Hash: {digest}\nNbrepro-Records: {records}\n"
        )
        args = ["commit-tree", self._tree, *(["-p", self._parent] if self._parent else []), "-m", message]
        stamp = {"GIT_AUTHOR_DATE": f"@{int(time.time())} +0000", "GIT_COMMITTER_DATE": f"@{int(time.time())} +0000"}
        env = {**_IDENTITY, **stamp}
        commit = None
        if self._sign:
            try:
                commit = _git(self.root, args[0], "-S", *args[1:], env=env).strip()
            except (GitFailed, subprocess.TimeoutExpired) as exc:
                self._sign = False
                self.sign_failure = str(exc) if isinstance(exc, GitFailed) else "the signing program did not answer"
        if commit is None:
            commit = _git(self.root, *args, env=env).strip()
        _git(self.root, "update-ref", "-m", "nbrepro anchor", self.ref, commit)
        self._parent = commit
        return commit


def _git_bool(root: Path, key: str) -> bool:
    try:
        return _git(root, "config", "--bool", key).strip() == "true"
    except GitFailed:  # unset
        return False


def read_git(root: Path) -> list[Anchor]:
    """The newest anchor of every store and session in the repository at ``root`` (none
    outside a repository). Raises ``GitFailed`` when git does."""
    if not (root / ".git").exists():
        return []
    listing = _git(root, "for-each-ref", "--format=%(objectname) %(refname)", ANCHORS).splitlines()
    refs = dict(line.split(" ", 1)[::-1] for line in listing if " " in line)
    if not refs:
        return []
    # One git call for all of them; %G? is the signature's state (N: unsigned).
    log = _git(root, "log", "--no-walk=unsorted", "--stdin", "--format=%H%x1f%G?%x1f%B%x1e", stdin="\n".join(refs.values()) + "\n")
    by_commit: dict[str, tuple[str, str]] = {}
    for entry in log.split("\x1e"):
        parts = entry.strip("\n").split("\x1f")
        if len(parts) == 3:
            by_commit[parts[0]] = (parts[1], parts[2])
    anchors = []
    for ref, commit in sorted(refs.items()):
        signature, body = by_commit.get(commit, ("N", ""))
        fields = _trailers(body)
        try:
            anchors.append(Anchor(
                where=f"git anchor {ref}", store_id=fields["store_id"], session_id=fields["session_id"],
                seq=int(fields["seq"]), hash=fields["hash"], records=int(fields["records"]), signature=signature,
            ))
        except (KeyError, ValueError):
            anchors.append(Anchor(f"git anchor {ref}", ref[len(ANCHORS):].split("/")[0], ref.rsplit("/", 1)[-1], -1, "", 0, "?"))
    return anchors


def _trailers(body: str) -> dict[str, str]:
    out = {}
    for line in body.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in _TRAILERS:
            out[_TRAILERS[key]] = value.strip()
    return out
