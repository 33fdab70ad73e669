"""An exported package's requirements (``requirements.in``) and their hash-pinned lock.

Requirements are what the recorded session actually imported, pinned to the versions it
ran with; without a record, the notebook's static imports pinned to what is installed
here. ``%pip install`` specs from the notebook are added. ``pip-compile`` (pip-tools)
then resolves them into ``requirements.lock`` with ``--generate-hashes`` (``nbrepro.notebook.pip``,
which ``nbrepro lock`` and ``verify --recorded-env`` share).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from .._errors import ExportError
from ..notebook import pip
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
    try:
        return pip.compile_lock(folder, find_links=find_links, no_index=no_index, command="nbrepro export")
    except pip.PipFailed as exc:
        raise ExportError(str(exc)) from None



def isolated_python(folder: Path, venv: Path, *, find_links: Path | None = None, no_index: bool = False) -> Path:
    """A fresh virtual environment at ``venv`` with exactly ``folder/requirements.lock``
    installed (hashes required, no dependency resolution); its Python."""
    try:
        python = pip.create_venv(venv)
        pip.install_lock(python, folder / "requirements.lock", find_links=find_links, no_index=no_index)
    except pip.PipFailed as exc:
        raise ExportError(f"--isolated: {exc}") from None
    return python
