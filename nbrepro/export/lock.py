"""An exported package's requirements (``requirements.in``) and their hash-pinned lock.

Requirements are what the recorded session actually imported, pinned to the versions it
ran with; without a record, the notebook's static imports pinned to what is installed
here. ``%pip install`` specs from the notebook are added. ``pip-compile`` (pip-tools)
then resolves them into ``requirements.lock`` with ``--generate-hashes``.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from .._errors import ExportError
from ..notebook.facts import SessionFacts

_LOCAL_SPEC = re.compile(r"^(?:\.|/|~|file:)|[/\\]|://")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Requirements:
    """``lines`` for requirements.in; ``origin`` says where they came from; ``missing``
    lists what could not become a requirement."""

    lines: list[str]
    origin: str
    missing: list[str] = field(default_factory=list)


def requirements(
    facts: SessionFacts, static_imports: Iterable[str], pip_specs: Iterable[str], *, extra: Iterable[str] = ()
) -> Requirements:
    """Pinned distributions the notebook needs, then ``%pip install`` specs and ``extra``
    (each kept only when no pin names the same distribution). With a record (store or
    stamp) the pins are what the session imported; with saved outputs only, the static
    imports pinned to the versions installed here."""
    imported: dict[str, str] = {}
    for index in facts.order or sorted(facts.cells):
        imported.update(facts.cells[index].imported)
    missing: list[str] = []
    if facts.source != "outputs":  # a record: what the session imported is what it needed
        pins: dict[str, str] = {canonicalize_name(name): f"{name}=={version}" for name, version in sorted(imported.items())}
        origin = "the recorded session's imports"
    else:
        pins, missing = _static_pins(static_imports, pip_specs)
        origin = "the notebook's import statements, pinned to the versions installed here"
    for spec in [*pip_specs, *extra]:
        if _LOCAL_SPEC.search(spec):
            missing.append(f"requirement {spec!r} is a local path or URL; install it yourself")
            continue
        match = _NAME.match(spec)
        if match and canonicalize_name(match.group(1)) not in pins:
            pins[canonicalize_name(match.group(1))] = spec
    return Requirements(list(pins.values()), origin, missing)


def _static_pins(modules: Iterable[str], pip_specs: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    by_module = md.packages_distributions()
    stdlib = sys.stdlib_module_names | set(sys.builtin_module_names)
    wanted = {canonicalize_name(m.group(1)) for m in map(_NAME.match, pip_specs) if m}
    pins: dict[str, str] = {}
    missing: list[str] = []
    for module in modules:
        if module in stdlib:
            continue
        dists = by_module.get(module)
        if not dists:
            if canonicalize_name(module) not in wanted:
                missing.append(f"module {module!r} belongs to no installed distribution (a local module?)")
            continue
        for dist in dict.fromkeys(dists):
            pins[canonicalize_name(dist)] = f"{dist}=={md.version(dist)}"
    return pins, missing


def installed_pin(dist: str) -> str:
    """``dist==<installed version>``."""
    return f"{dist}=={md.version(dist)}"


def lock(folder: Path, *, find_links: Path | None = None, no_index: bool = False) -> str:
    """Run pip-compile on ``folder/requirements.in``; write and return ``requirements.lock``.
    A failure is an ``ExportError`` (exit 1) with pip-compile's last error line."""
    command = [
        sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--no-emit-index-url",
        "--no-emit-find-links", "--strip-extras", *index_options(find_links, no_index),
        "-o", "requirements.lock", "requirements.in",
    ]  # fmt: skip
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "nbrepro export", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise ExportError(f"pip-compile failed: {_last_error(proc.stderr + proc.stdout)}")
    text = (folder / "requirements.lock").read_text(encoding="utf-8")
    local = [p for p in (folder, find_links) if p is not None and str(p.resolve()) in text]
    if local or "file:" in text:
        raise ExportError("pip-compile wrote a local path into requirements.lock; use index packages only")
    return text


def index_options(find_links: Path | None, no_index: bool) -> list[str]:
    """The pip options that say where packages come from, for pip-compile and pip install."""
    return [*(["--no-index"] if no_index else []), *(["--find-links", str(find_links.resolve())] if find_links else [])]


def isolated_python(folder: Path, venv: Path, *, find_links: Path | None = None, no_index: bool = False) -> Path:
    """A fresh virtual environment at ``venv`` with exactly ``folder/requirements.lock``
    installed (hashes required, no dependency resolution); its Python."""
    created = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise ExportError(f"--isolated: cannot create a virtual environment: {_last_error(created.stderr)}")
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    lockfile = folder / "requirements.lock"
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lockfile.read_text().splitlines()):
        return python  # nothing to install: a standard-library notebook
    command = [
        str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps",
        *index_options(find_links, no_index), "-r", str(lockfile),
    ]  # fmt: skip
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        why = _last_error(proc.stderr + proc.stdout)
        raise ExportError(f"--isolated: pip install from requirements.lock failed: {why}")
    return python


def _last_error(output: str) -> str:
    """The last unindented line (past any traceback), without an exception's module path."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip() and not line[0].isspace()]
    return re.sub(r"^[\w.]+\.(\w+: )", r"\1", (lines or ["no output"])[-1])
