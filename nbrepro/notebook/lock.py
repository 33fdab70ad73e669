"""The lock of a recorded session: what it ran with, as a pip-tools lock with hashes.

The input is a session's environment (``facts.session_env``, from the store's records or
from the stamp, which carries the same): the distributions its cells imported, pinned to
the versions they loaded, become ``requirements.in``; everything they require, pinned to
the recorded installed set, becomes a constraints file, so pip-compile resolves the
dependencies to the recorded versions. ``everything`` locks the whole recorded installed set
instead. Every requirement carries the environment markers of the recorded Python and
platform. A distribution installed from a local folder or a VCS (PEP 610) cannot come from
an index or a wheel folder: it is left out and named in the header with its recorded origin.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import NotebookError, StoreError, UsageError
from ..project import find_root, store_dir
from ..record.hashing import hash_text
from ..store import DB_NAME, SQLiteStore
from . import pip
from .facts import session_env
from .read import read_notebook
from .recorded import recorded_side
from .sessions import project_store, resolve_session_id

CONSTRAINTS = "recorded-versions.txt"  # named in the lock's "via" lines
_MARKER_KEYS = ("python_version", "sys_platform", "platform_machine", "implementation_name")
_NOT_FROM_AN_INDEX = ("folder", "vcs")


@dataclass(frozen=True)
class SessionLock:
    text: str
    hash: str  # hash_text(text): the lock's identity (verify --recorded-env caches its venv by it)
    unlocked: dict[str, str]  # distribution -> its recorded origin, in words (also in the header)


def recorded_env(notebook: Path | None, session: str | None, *, everything: bool = False) -> tuple[dict[str, Any], str]:
    """The environment to lock, and the session's title for the header: of the notebook's
    recorded session (store, else stamp; ``session`` chooses one), or of ``session`` in the
    working directory's store when no notebook is given. ``everything``: the whole installed
    set of the session's last record, which only the store holds."""
    if notebook is not None:
        facts, _described = recorded_side(read_notebook(notebook), notebook, session)
        if facts.source == "outputs":
            raise NotebookError(f"{notebook}: no recorded session and no stamp say what it ran with")
        session_id = facts.session_id or ""
        if not everything:
            return _checked(facts.env, session_id), f"session {session_id[:8]}"
        if facts.source != "store":
            raise UsageError("--all: the whole installed set is in the store; a stamp carries what the session imported and what that requires")
        store, _root, _folder = project_store(notebook)
    else:
        if session is None:
            raise UsageError("give a notebook, or --session ID")
        folder = store_dir(find_root())
        store = SQLiteStore(folder, create=False) if (folder / DB_NAME).is_file() else None
        session_id = resolve_session_id(store, session) if store is not None else ""
    if store is None:
        raise StoreError(f"--session {session}: no store here ({store_dir(find_root())})")
    try:
        records = store.session_records(session_id)
        env = session_env(records, store.get_blob)
        if everything:
            last = next((e["id"] for r in reversed(records) if isinstance((e := r.get("env") or {}).get("id"), str)), None)
            blob = (store.get_blob(last) if last else None) or {}
            installed: dict[str, str] = dict(blob.get("installed") or {})
            env = {**env, "imported": sorted(installed, key=str.lower), "pins": installed, "origins": dict(blob.get("origins") or {})}
    finally:
        store.close()
    return _checked(env, session_id), f"session {session_id[:8]}" + (", its whole installed set" if everything else "")


def _checked(env: dict[str, Any], session_id: str) -> dict[str, Any]:
    if not env:
        raise StoreError(f"session {session_id[:8]}: its records say nothing of its environment")
    return env


def session_lock(
    env: Mapping[str, Any], *, title: str, find_links: Path | None = None, no_index: bool = False
) -> SessionLock:
    """Compile the lock of ``env``; ``title`` names the session in the header. A
    ``UsageError`` when this Python is not the recorded one (pip-compile resolves for the
    interpreter it runs in); a ``PipFailed`` when pip-compile cannot resolve it."""
    markers = _check_markers(env)
    pins: dict[str, str] = dict(env.get("pins") or {})
    origins: dict[str, dict[str, Any]] = dict(env.get("origins") or {})
    unlocked = {name: describe(origins[name]) for name in pins if origins.get(name, {}).get("kind") in _NOT_FROM_AN_INDEX}
    wanted = [name for name in env.get("imported") or [] if name in pins and name not in unlocked]
    condition = " and ".join(f'{key} == "{markers[key]}"' for key in _MARKER_KEYS if key in markers)
    suffix = f" ; {condition}" if condition else ""
    with tempfile.TemporaryDirectory(prefix="nbrepro-lock-") as tmp:
        folder = Path(tmp)
        # the rest of the pins as constraints (a requirement pinned twice, when pip finds no
        # such version, reads as a conflict instead)
        (folder / CONSTRAINTS).write_text("".join(f"{n}=={v}\n" for n, v in pins.items() if n not in unlocked and n not in wanted))
        (folder / "requirements.in").write_text(
            f"-c {CONSTRAINTS}\n" + "".join(f"{name}=={pins[name]}{suffix}\n" for name in wanted)
        )
        try:
            compiled = pip.compile_lock(folder, find_links=find_links, no_index=no_index, command="nbrepro lock")
        except pip.PipFailed as exc:
            if any(name in str(exc) for name in unlocked):  # a dependency on one of them cannot resolve
                raise pip.PipFailed(f"{exc} (not locked, as no index provides them: {', '.join(unlocked)})") from None
            raise
    text = _header(env, title, unlocked, condition) + _with_markers(compiled, suffix)
    return SessionLock(text, hash_text(text), unlocked)


def describe(origin: Mapping[str, Any]) -> str:
    """A recorded origin in words: ``folder ../mylib (editable)``, ``git https://…@<commit>``."""
    kind = origin.get("kind")
    where = origin.get("path") or origin.get("url") or "?"
    if kind == "vcs":
        commit = origin.get("commit")
        return f"{origin.get('vcs') or 'vcs'} {where}" + (f" at {commit}" if commit else "")
    if kind == "folder":
        return f"folder {where}" + (" (editable)" if origin.get("editable") else "")
    return f"archive {where}"


def _check_markers(env: Mapping[str, Any]) -> dict[str, str]:
    """The recorded markers, once checked against this Python's (an older record has none)."""
    from packaging.markers import default_environment

    recorded: dict[str, str] = dict(env.get("markers") or {})
    here = {key: str(value) for key, value in default_environment().items()}
    differ = [key for key in _MARKER_KEYS if key in recorded and recorded[key] != here.get(key)]
    if differ:
        then = ", ".join(f"{key} {recorded[key]}" for key in differ)
        now = ", ".join(f"{key} {here.get(key)}" for key in differ)
        raise UsageError(
            f"the session ran with {then}, this Python has {now}: pip-compile resolves for the Python it runs in, "
            "so lock with a Python like the recorded one"
        )
    return recorded


def _header(env: Mapping[str, Any], title: str, unlocked: Mapping[str, str], condition: str) -> str:
    ran = " ".join(str(env[key]) for key in ("implementation", "python") if env.get(key)) or "an unrecorded Python"
    lines = [
        f"# nbrepro lock of {title}",
        f"# recorded with {ran}" + (f" on {env['platform']}" if env.get("platform") else "")
        + (f"; every requirement is marked {condition}" if condition else ""),
        "# install: pip install --require-hashes --no-deps -r <this file>",
    ]
    if unlocked:
        lines.append("# not locked, as no index or wheel folder provides them (their recorded origin):")
        lines.extend(f"#   {name} {env['pins'][name]}: {origin}" for name, origin in sorted(unlocked.items()))
    return "\n".join(lines) + "\n"


def _with_markers(lock: str, suffix: str) -> str:
    """pip-compile keeps the markers of requirements.in's lines only: the dependencies it
    added get the same ones."""
    if not suffix:
        return lock
    out = []
    for line in lock.splitlines():
        if line and not line[0].isspace() and not line.startswith(("#", "-")) and ";" not in line:
            requirement, continued, _ = line.partition(" \\")
            line = f"{requirement}{suffix}" + (" \\" if continued else "")
        out.append(line)
    return "\n".join(out) + "\n"
