"""The hidden refs that keep each session's snapshots reachable: named, listed, dropped.

``GitCollector`` writes ``refs/nbrepro/sessions/<session>``; ``nbrepro gc`` drops the refs of
the sessions it prunes, and those of sessions no record in the store knows (a ``verify``
rerun's, whose records lived in a temporary store) once their kernel is gone. A session's
kernel is taken to be running while its private index (``.git/nbrepro/index-<session>``) is
there: the collector hands it back when the kernel closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SESSIONS = "refs/nbrepro/sessions/"
# Chain-head anchors (``nbrepro.team.anchors``), one ref per store and session. gc never drops
# them: they are the record of what the store held, checked by ``nbrepro log --check``.
ANCHORS = "refs/nbrepro/anchors/"


def session_ref(session_id: str) -> str:
    return SESSIONS + session_id


def anchor_ref(store_id: str, session_id: str) -> str:
    return f"{ANCHORS}{store_id}/{session_id}"


def _repo(root: Path) -> Any:
    import git  # gitpython, off the extension's load path

    return git.Repo(root)


def session_refs(root: Path) -> dict[str, str]:
    """Session id -> ref name, for every snapshot ref of the repository at ``root``.
    Raises gitpython's errors outside a repository or without git."""
    listing = _repo(root).git.for_each_ref("--format=%(refname)", SESSIONS)
    return {line[len(SESSIONS):]: line for line in listing.splitlines() if line.startswith(SESSIONS)}


def live_sessions(root: Path) -> set[str]:
    """The sessions whose kernel may still be running (their private index is there)."""
    private = Path(_repo(root).git_dir) / "nbrepro"
    return {p.name[len("index-"):] for p in private.glob("index-*")}


def drop(root: Path, refs: list[str]) -> None:
    repo = _repo(root)
    for ref in refs:
        repo.git.update_ref("-d", ref)
