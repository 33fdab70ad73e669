"""``verify --recorded-env``: a virtual environment built from the recorded session's lock.

The venv holds exactly the lock (``pip install --require-hashes --no-deps``), and is kept
under the store folder by the lock's hash (``envs/<hash>``), so a second verify of the same
session starts at once. The kernel's own stack (ipykernel, IPython, nbrepro and what they
require) is not in the lock, which holds what the user's code imported: a ``.pth`` file
puts this nbrepro's source root and this environment's site-packages folders on the venv's
``sys.path`` *after* its own site-packages, the way pip's editable installs add a folder.
That needs no build and no network, and a locked distribution always comes first: one the
session imported is the locked one, whatever this environment holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import site
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from ..notebook import pip
from ..notebook.lock import SessionLock

PTH = "nbrepro-kernel-stack.pth"
_READY = "nbrepro-env.json"  # written last: a venv without it is unfinished


def recorded_python(lock: SessionLock, envs: Path, *, find_links: Path | None = None, no_index: bool = False) -> Path:
    """The Python of the venv of ``lock`` under ``envs``, built if it is not there yet
    (``pip.PipFailed`` when that fails)."""
    key = lock.hash.partition(":")[2][:32]
    venv = envs / key
    ready = {"lock": lock.hash, "python": sys.version, "base": sys.base_prefix}
    envs.mkdir(parents=True, exist_ok=True)
    ignore = envs / ".gitignore"
    if not ignore.exists():  # out of git status and snapshots, where no store made the folder first
        ignore.write_text("# created by nbrepro\n*\n", encoding="utf-8")
    with _exclusive(envs / f".{key}.flock"):
        python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if not _ready(venv, ready):
            shutil.rmtree(venv, ignore_errors=True)
            python = pip.create_venv(venv)
            (venv / "requirements.lock").write_text(lock.text, encoding="utf-8")
            pip.install_lock(python, venv / "requirements.lock", find_links=find_links, no_index=no_index)
            (venv / _READY).write_text(json.dumps(ready), encoding="utf-8")
        _write_pth(venv)  # this nbrepro's place may have moved since the venv was built
    return python


def kernel_env(python: Path) -> dict[str, str]:
    """The variables the venv's kernel runs with: the venv first on PATH, as activated, and no
    PYTHONPATH, whose folders would come before the venv's own site-packages."""
    venv = python.parent.parent
    return {"VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": ""}


def _ready(venv: Path, expected: dict[str, str]) -> bool:
    try:
        return bool(json.loads((venv / _READY).read_text(encoding="utf-8")) == expected)
    except (OSError, ValueError):
        return False


def _write_pth(venv: Path) -> None:
    """The kernel's stack from this environment, after the venv's own site-packages."""
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix" if os.name == "posix" else "nt"
    purelib = sysconfig.get_path("purelib", scheme, vars={"base": str(venv), "platbase": str(venv)})
    root = str(Path(__file__).resolve().parents[2])  # the folder this nbrepro is imported from
    folders = list(dict.fromkeys([root, *site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]))
    line = "import site; " + "; ".join(f"site.addsitedir({folder!r})" for folder in folders if os.path.isdir(folder))
    (Path(purelib) / PTH).write_text(line + "\n", encoding="utf-8")


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One builder per venv at a time (two verifies of one session in parallel)."""
    with open(path, "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; the last builder wins
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
