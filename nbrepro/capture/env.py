"""The software environment: Python, the installed set, and the distributions a cell imported.

The installed set costs tens of milliseconds to scan (``capture.installed``), so it is scanned once and rescanned only when a
site-packages folder's mtime changes (a ``%pip install`` does that); each check is a stat.
The same rescan reads each distribution's origin (PEP 610) for the environment blob; the env
part carries, as ``files``, the digest of the installed files of each distribution the cell
imported (``installed.files_digest``: one stat per file, in the worker thread, once per
distribution and installed set).
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..project import relative_path
from ..record.redact import allowed_env, redact
from . import Part
from . import installed as installed_set

# Distributions that are there because a kernel and nbrepro run, not because the user's code
# imported them. Their closure is left out of ``imported`` (and kept in the installed set).
_INFRASTRUCTURE = ("nbrepro", "ipython", "ipykernel")


def normalize(name: str) -> str:
    """A distribution name as a comparison key (PEP 503: ``Foo_Bar`` -> ``foo-bar``)."""
    # Imported here: packaging.utils loads packaging.tags (~10 ms), and the extension's load
    # path never calls this; the worker thread does.
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


class EnvCollector:
    def __init__(self, root: Path, put_blob: Callable[[str, dict[str, Any]], str]) -> None:
        self.root = root
        self._put_blob = put_blob
        self._site_key: SiteKey | None = None
        # The installed set before the last rescan: (its site key, installed, env blob id, its scan).
        self._previous: tuple[SiteKey | None, dict[str, str], str, installed_set.Installed] = (
            None, {}, "", installed_set.Installed())
        self._installed: dict[str, str] = {}
        self._scanned = installed_set.Installed()
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
        self.own_modules: set[str] = set()  # top-level modules nbrepro's collectors imported themselves
        self._environ_raw: dict[Any, Any] | None = None  # os.environ._data when _variables was made
        self._changes: list[dict[str, str | None]] = []
        self._site_key_seen = False

    def begin_batch(self) -> None:
        """Once per batch of cells: notice a changed installed set or environment variables."""
        self._rescanned = self._rescan_if_changed()
        # os.environ decodes every variable on iteration (0.3 ms a batch); its raw dict
        # compares in microseconds, so the allowlist is applied only when it changed.
        raw = getattr(os.environ, "_data", None)
        if raw is None or raw != self._environ_raw:
            self._environ_raw = dict(raw) if raw is not None else None
            self._variables = allowed_env(os.environ)

    def capture(self, modules: Iterable[str] | None, seen_key: SiteKey | None = None) -> Part:
        """The env part after a cell; ``modules`` is sys.modules' names, or None if unchanged.
        ``seen_key`` is the site-packages state at the cell's end (``site_key()``, taken by
        the hot path when the cell imported something): when the installed set has been
        rescanned since, the cell's imports are mapped against the set it saw.

        The same dict is returned while nothing changed: parts are shared, never mutated.
        """
        if seen_key is not None and seen_key != self._site_key and seen_key == self._previous[0]:
            # The cell ended before a later cell changed the installed set: its own view.
            _key, installed, env_id, scanned = self._previous
            self._modules = _tops(modules) or self._modules
            imported, local = self._map_modules(self._modules, installed)
            return self._make_part(env_id, imported, local, installed, scanned)
        rescanned, self._rescanned = self._rescanned, False
        changed = rescanned
        if modules is not None:
            tops = _tops(modules)
            if tops != self._modules:
                self._modules = tops
                changed = True
        if changed:
            self._imported, self._local = self._map_modules(self._modules, self._installed)
        env_id = self._env_id()
        changes, self._changes = self._changes, []
        if changed or self._part is None or self._part["id"] != env_id or "changed" in self._part:
            self._part = self._make_part(env_id, self._imported, self._local, self._installed, self._scanned)
            if changes:  # installed or removed since the previous record (a %pip install)
                self._part["changed"] = changes
        return self._part

    def _make_part(
        self, env_id: str, imported: dict[str, str], local: dict[str, str], installed: dict[str, str],
        scanned: installed_set.Installed,
    ) -> Part:
        drift = [
            {"name": name, "imported": seen, "installed": installed.get(name)}
            for name, seen in sorted(self._first_seen.items())
            if installed.get(name) != seen
        ]
        # The files of the version loaded: none where another is installed now (drift).
        files = {name: digest for name, version in imported.items()
                 if installed.get(name) == version and (digest := scanned.files_digest(name)) is not None}
        return {
            "id": env_id,
            "python": platform.python_version(),
            "imported": imported,
            "files": files,
            "local_modules": local,
            "drift": drift,
            "kernel": self._kernel,
        }

    # -- installed set -------------------------------------------------------------------
    def _rescan_if_changed(self) -> bool:
        key = site_key()
        if key == self._site_key:
            return False
        if self._site_key is not None:
            self._previous = (self._site_key, self._installed, self._blob_id or "", self._scanned)
        self._site_key = key
        scanned = installed_set.scan()
        installed = scanned.versions
        if self._site_key_seen:
            self._changes = [
                {"name": name, "before": self._installed.get(name), "after": installed.get(name)}
                for name in sorted(set(installed) | set(self._installed), key=str.lower)
                if installed.get(name) != self._installed.get(name)
            ]
        self._site_key_seen = True
        self._installed = installed
        self._scanned = scanned
        self._by_module = scanned.by_module
        self._infrastructure = _closure(_INFRASTRUCTURE, scanned.requires)
        self._kernel = {k: v for k, v in installed.items() if normalize(k) in {"ipython", "ipykernel"}}
        return True

    def _map_modules(self, tops: Iterable[str], installed: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        imported: dict[str, str] = {}
        local: dict[str, str] = {}
        stdlib = sys.stdlib_module_names | set(sys.builtin_module_names)
        for top in tops:
            if top in stdlib or top == "__main__" or top in self.own_modules:
                continue
            dists = self._by_module.get(top)
            if not dists:
                path = _module_file(top)
                if path is not None and _is_local(path, self.root):
                    local[top] = relative_path(path, self.root)
                continue
            for dist in dists:
                if normalize(dist) in self._infrastructure or dist not in installed:
                    continue
                # The version loaded is the one seen at first import, whatever is installed now.
                if dist not in self._first_seen:
                    self._first_seen[dist] = _loaded_version(top, dists, installed[dist])
                imported[dist] = self._first_seen[dist]
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
                "markers": _markers(),
                "installed": dict(sorted(self._installed.items())),
                "requires": dict(sorted(self._scanned.requires.items())),
                "origins": {name: _origin(o, self.root) for name, o in sorted(self._scanned.origins.items())},
                "variables": variables,
            }
            self._blob_id = self._put_blob("env", blob)
            self._blob_key = key
        return self._blob_id


def _markers() -> dict[str, str]:
    """The environment markers a lock of this environment is for (PEP 508)."""
    from packaging.markers import default_environment

    keys = ("implementation_name", "platform_machine", "python_version", "sys_platform")
    return {key: str(value) for key, value in default_environment().items() if key in keys}


def _origin(direct_url: dict[str, Any], root: Path) -> dict[str, Any]:
    """Where a distribution was installed from, from its direct_url.json: ``kind`` ``vcs``
    (``url``, ``vcs``, ``commit``), ``folder`` (``path``, ``editable``) or ``archive``
    (``url``, or ``path`` for a local file). Credentials in URLs are redacted; a local path
    is written relative to the project root, else to the home folder (``~/…``)."""
    url = redact(direct_url["url"])
    vcs, folder = direct_url.get("vcs_info"), direct_url.get("dir_info")
    if isinstance(vcs, dict):
        return {"kind": "vcs", "url": url, "vcs": str(vcs.get("vcs", "")), "commit": str(vcs.get("commit_id", ""))}
    where: dict[str, Any] = {"path": _local_path(url, root)} if url.startswith("file:") else {"url": url}
    if isinstance(folder, dict):
        return {"kind": "folder", **where, "editable": bool(folder.get("editable"))}
    return {"kind": "archive", **where}


def _local_path(url: str, root: Path) -> str:
    from urllib.parse import unquote, urlparse

    path = Path(unquote(urlparse(url).path))
    for base, prefix in ((root, ""), (Path.home(), "~/")):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def _loaded_version(top: str, dists: list[str], installed: str) -> str:
    """The version of the code in memory. The worker maps a cell's imports after the cell, and
    by then a later cell may have installed another version (``%pip install -U``): a module's
    own ``__version__`` says what was imported, where the module has one and belongs to one
    distribution."""
    # Only a plain attribute: a module-level __getattr__ (a deprecated __version__) may warn
    # or run code, and this runs in the worker thread.
    loaded = getattr(sys.modules.get(top), "__dict__", {}).get("__version__")
    if len(dists) != 1 or not isinstance(loaded, str) or not loaded or loaded == installed:
        return installed
    from packaging.version import InvalidVersion, Version

    try:
        return installed if Version(loaded) == Version(installed) else loaded
    except InvalidVersion:
        return installed


SiteKey = tuple[tuple[str, int], ...]


def _tops(modules: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({m.partition(".")[0] for m in modules or ()}))


def site_key() -> SiteKey:
    """The mtime of every site-packages folder on sys.path: an install changes one."""
    out = []
    for entry in sys.path:
        if "-packages" not in entry:
            continue
        try:
            out.append((entry, os.stat(entry).st_mtime_ns))
        except OSError:
            continue
    return tuple(out)


def _closure(roots: Iterable[str], requires: dict[str, list[str]]) -> set[str]:
    """The canonical names of ``roots`` and of everything they require, transitively."""
    by_name = {normalize(name): reqs for name, reqs in requires.items()}
    seen: set[str] = set()
    todo = [normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(normalize(r) for r in by_name.get(name, ()))
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
