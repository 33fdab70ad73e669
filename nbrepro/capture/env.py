"""The software environment: Python, the installed set, and the distributions a cell imported.

The installed set costs 25-65 ms to scan, so it is scanned once and rescanned only when a
site-packages folder's mtime changes (a ``%pip install`` does that); each check is a stat.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import sys
import sysconfig
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..project import relative_path
from ..record.redact import allowed_env
from . import Part

# Distributions that are there because a kernel and nbrepro run, not because the user's code
# imported them. Their closure is left out of ``imported`` (and kept in the installed set).
_INFRASTRUCTURE = ("nbrepro", "ipython", "ipykernel")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class EnvCollector:
    def __init__(self, root: Path, put_blob: Callable[[str, dict[str, Any]], str]) -> None:
        self.root = root
        self._put_blob = put_blob
        self._site_key: tuple[tuple[str, int], ...] | None = None
        self._installed: dict[str, str] = {}
        self._by_module: dict[str, list[str]] = {}
        self._infrastructure: set[str] = set()
        self._first_seen: dict[str, str] = {}
        self._modules: tuple[str, ...] = ()
        self._imported: dict[str, str] = {}
        self._local: dict[str, str] = {}
        self._blob_key: Any = None
        self._blob_id: str | None = None
        self._rescanned = False
        self._kernel: dict[str, str] = {}
        self._part: Part | None = None
        self._variables: dict[str, str] = {}
        self._changes: list[dict[str, str | None]] = []
        self._site_key_seen = False

    def begin_batch(self) -> None:
        """Once per batch of cells: notice a changed installed set or environment variables."""
        self._rescanned = self._rescan_if_changed()
        self._variables = allowed_env(os.environ)

    def capture(self, modules: Iterable[str] | None) -> Part:
        """The env part after a cell; ``modules`` is sys.modules' names, or None if unchanged.

        The same dict is returned while nothing changed: parts are shared, never mutated.
        """
        rescanned, self._rescanned = self._rescanned, False
        changed = rescanned
        if modules is not None:
            tops = tuple(sorted({m.partition(".")[0] for m in modules}))
            if tops != self._modules:
                self._modules = tops
                changed = True
        if changed:
            self._imported, self._local = self._map_modules(self._modules)
        env_id = self._env_id()
        changes, self._changes = self._changes, []
        if changed or self._part is None or self._part["id"] != env_id or "changed" in self._part:
            drift = [
                {"name": name, "imported": seen, "installed": self._installed.get(name)}
                for name, seen in sorted(self._first_seen.items())
                if self._installed.get(name) != seen
            ]
            self._part = {
                "id": env_id,
                "python": platform.python_version(),
                "imported": self._imported,
                "local_modules": self._local,
                "drift": drift,
                "kernel": self._kernel,
            }
            if changes:  # installed or removed since the previous record (a %pip install)
                self._part["changed"] = changes
        return self._part

    # -- installed set -------------------------------------------------------------------
    def _rescan_if_changed(self) -> bool:
        key = tuple(_site_mtimes())
        if key == self._site_key:
            return False
        self._site_key = key
        installed: dict[str, str] = {}
        for dist in md.distributions():
            name = dist.metadata["Name"]
            if name and name not in installed:
                installed[name] = dist.version
        if self._site_key_seen:
            self._changes = [
                {"name": name, "before": self._installed.get(name), "after": installed.get(name)}
                for name in sorted(set(installed) | set(self._installed), key=str.lower)
                if installed.get(name) != self._installed.get(name)
            ]
        self._site_key_seen = True
        self._installed = installed
        by_module = md.packages_distributions()
        self._by_module = {k: list(dict.fromkeys(v)) for k, v in by_module.items()}
        self._infrastructure = _closure(_INFRASTRUCTURE)
        self._kernel = {k: v for k, v in installed.items() if normalize(k) in {"ipython", "ipykernel"}}
        return True

    def _map_modules(self, tops: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        imported: dict[str, str] = {}
        local: dict[str, str] = {}
        stdlib = sys.stdlib_module_names | set(sys.builtin_module_names)
        for top in tops:
            if top in stdlib or top == "__main__":
                continue
            dists = self._by_module.get(top)
            if not dists:
                path = _module_file(top)
                if path is not None and _is_local(path, self.root):
                    local[top] = relative_path(path, self.root)
                continue
            for dist in dists:
                if normalize(dist) in self._infrastructure or dist not in self._installed:
                    continue
                # The version loaded is the one seen at first import, whatever is installed now.
                imported[dist] = self._first_seen.setdefault(dist, self._installed[dist])
        return dict(sorted(imported.items())), dict(sorted(local.items()))

    def _env_id(self) -> str:
        variables = self._variables
        key = (id(self._installed), tuple(variables.items()))
        if key != self._blob_key or self._blob_id is None:
            blob = {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": sysconfig.get_platform(),
                "virtualenv": sys.prefix != sys.base_prefix,
                "installed": dict(sorted(self._installed.items())),
                "variables": variables,
            }
            self._blob_id = self._put_blob("env", blob)
            self._blob_key = key
        return self._blob_id


def _site_mtimes() -> Iterable[tuple[str, int]]:
    for entry in sys.path:
        if "-packages" not in entry:
            continue
        try:
            yield entry, os.stat(entry).st_mtime_ns
        except OSError:
            continue


def _closure(roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = [normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req.replace("'", '"'):
                continue
            m = _REQ_NAME.match(req)
            if m:
                todo.append(normalize(m.group(1)))
    return seen


def _module_file(top: str) -> str | None:
    module = sys.modules.get(top)
    path = getattr(module, "__file__", None)
    return path if isinstance(path, str) else None


def _is_local(path: str, root: Path) -> bool:
    real = os.path.realpath(path)
    if "-packages" in real:
        return False
    try:
        Path(real).relative_to(root)
    except ValueError:
        return False
    return True
