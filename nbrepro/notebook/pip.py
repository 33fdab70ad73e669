"""pip-tools and pip, run as subprocesses: the one place a lock is compiled and installed.

Shared by ``nbrepro export`` (a package's requirements.lock and ``--isolated``), ``nbrepro
lock`` and ``nbrepro verify --recorded-env``. Every failure is a ``PipFailed`` carrying the
tool's last error line; callers that have their own error class re-raise it as theirs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .._errors import CheckFailed

_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}


class PipFailed(CheckFailed):
    """pip-compile, venv or pip install failed; the message is one line."""


def compile_lock(folder: Path, *, find_links: Path | None = None, no_index: bool = False, command: str) -> str:
    """Run pip-compile on ``folder/requirements.in`` (``--generate-hashes``); write and return
    ``folder/requirements.lock``. ``command`` is what its header says made it. The lock
    names no index URL, find-links folder or local path."""
    argv = [
        sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--no-emit-index-url",
        "--no-emit-find-links", "--strip-extras", *index_options(find_links, no_index),
        "-o", "requirements.lock", "requirements.in",
    ]  # fmt: skip
    env = {**os.environ, **_ENV, "CUSTOM_COMPILE_COMMAND": command}
    proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise PipFailed(f"pip-compile failed: {last_error(proc.stderr + proc.stdout)}")
    text = (folder / "requirements.lock").read_text(encoding="utf-8")
    local = [p for p in (folder, find_links) if p is not None and str(p.resolve()) in text]
    if local or "file:" in text:
        raise PipFailed("pip-compile wrote a local path into requirements.lock; use index packages only")
    return text


def index_options(find_links: Path | None, no_index: bool) -> list[str]:
    """The pip options that say where packages come from, for pip-compile and pip install."""
    return [*(["--no-index"] if no_index else []), *(["--find-links", str(find_links.resolve())] if find_links else [])]


def create_venv(venv: Path) -> Path:
    """A new virtual environment at ``venv`` from this Python, without pip (``ensurepip`` takes
    seconds; ``install_lock`` runs this process's pip into it); its Python."""
    created = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                             capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise PipFailed(f"cannot create a virtual environment: {last_error(created.stderr)}")
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_lock(python: Path, lockfile: Path, *, find_links: Path | None = None, no_index: bool = False) -> None:
    """Install exactly ``lockfile`` into the environment of ``python``: hashes required, no
    dependency resolution (the lock is the resolution). A lock with no requirement (a
    standard-library notebook) installs nothing."""
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lockfile.read_text().splitlines()):
        return
    argv = [
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--require-hashes", "--no-deps",
        *index_options(find_links, no_index), "-r", str(lockfile),
    ]  # fmt: skip
    # Without PYTHONPATH: pip would take a distribution found there for one installed in the venv.
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **_ENV}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise PipFailed(f"pip install from {lockfile.name} failed: {last_error(proc.stderr + proc.stdout)}")


def last_error(output: str) -> str:
    """pip's own last ``ERROR:`` line (pip-compile indents it above its traceback), else the
    last unindented line (past any traceback), without an exception's module path."""
    errors = [line.strip()[len("ERROR: "):] for line in output.splitlines() if line.strip().startswith("ERROR: ")]
    if errors:
        return errors[-1]
    lines = [line.rstrip() for line in output.splitlines() if line.strip() and not line[0].isspace()]
    return re.sub(r"^[\w.]+\.(\w+: )", r"\1", (lines or ["no output"])[-1])
