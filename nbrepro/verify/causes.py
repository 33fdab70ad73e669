"""Why a cell's outputs differ: every cause that applies, its own and its upstream cells'.

Each kind compares one fact of the recorded run with the same fact of the rerun. A cause
found in a cell is also named in every cell whose state came from it (``flow``), marked
``via cell N``. ``nondeterminism`` is named only when nothing else explains a difference.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..notebook.facts import CellFacts, SessionFacts
from .verdict import Cause

_HARDWARE_KEYS = ("cpu", "cores", "gpus", "blas", "arch")


class CauseFinder:
    def __init__(
        self, recorded: SessionFacts, rerun: SessionFacts, source_hashes: dict[int, str],
        root: Path, hash_file: Callable[[str], tuple[str, int] | None],
    ) -> None:
        self.recorded = recorded
        self.rerun = rerun
        self.source_hashes = source_hashes
        self.root = root
        self.hash_file = hash_file
        self._module_changes: dict[tuple[str, str | None], bool | None] = {}
        self._hardware = _hardware_diff(recorded.hardware, rerun.hardware)

    def direct(self, index: int) -> list[Cause]:
        """Causes found in the cell itself (before any propagation)."""
        rec = self.recorded.cells.get(index)
        if rec is None:
            return []
        new = self.rerun.cells.get(index)
        out: list[Cause] = []
        if rec.source_hash and self.source_hashes.get(index) and rec.source_hash != self.source_hashes[index]:
            out.append({"kind": "code", "detail": f"cell {index}: source changed since the recorded run"})
        out.extend(self._modules(rec, new))
        out.extend(self._data(rec, new))
        out.extend(self._packages(rec, new))
        out.extend(self._params(rec, new))
        if rec.unseeded:
            names = ", ".join(rec.unseeded)
            out.append({"kind": "seed", "detail": f"the recorded run drew from unseeded randomness: {names}"})
        if _out_of_order(rec.order):
            shown = ", ".join(str(i) for i in rec.order[-20:])
            out.append({"kind": "order", "detail": f"recorded order of cell runs: {shown}"})
        return out

    def for_cell(self, index: int, upstream: set[int]) -> list[Cause]:
        """Every cause of a differing cell: its own, then its upstream cells', then hardware."""
        seen: set[tuple[str, str]] = set()
        causes: list[Cause] = []
        for cause in self.direct(index):
            _add(causes, seen, cause)
        for u in sorted(upstream):
            for cause in self.direct(u):
                detail = cause["detail"] if cause["detail"].startswith(f"cell {u}") else f"via cell {u}: {cause['detail']}"
                _add(causes, seen, {"kind": cause["kind"], "detail": detail})
        if self._hardware:
            _add(causes, seen, {"kind": "hardware", "detail": self._hardware})
        if not causes:
            causes.append({"kind": "nondeterminism", "detail": "same code, data, packages, parameters, seeds, order and hardware"})
        return causes

    # -- kinds ---------------------------------------------------------------------------
    def _data(self, rec: CellFacts, new: CellFacts | None) -> list[Cause]:
        now = {e["path"]: e["hash"] for e in (new.data if new else []) if e.get("mode") == "r"}
        out: list[Cause] = []
        for entry in rec.data:
            if entry.get("mode") != "r":
                continue
            path, before = entry["path"], entry["hash"]
            after = now.get(path)
            if after is None:
                local = self._local_path(path)
                hashed = self.hash_file(str(local)) if local is not None else None
                after = hashed[0] if hashed else "missing"
            if after != before:
                out.append({"kind": "data", "detail": f"{path}: {before} -> {after}"})
        return out

    def _packages(self, rec: CellFacts, new: CellFacts | None) -> list[Cause]:
        # A package is a cell's own cause where the cell loaded it; cells that use what it
        # bound or computed get it through name flow ("via cell N").
        if new is None:
            return []
        mine = rec.imported if rec.imported_here is None else rec.imported_here
        return [
            {"kind": "package", "detail": f"{name}: {version} -> {new.imported[name]}"}
            for name, version in sorted(mine.items())
            if name in new.imported and new.imported[name] != version
        ]

    def _params(self, rec: CellFacts, new: CellFacts | None) -> list[Cause]:
        if not rec.params and not (new and new.params):
            return []
        after = self.rerun.params
        before = self.recorded.params
        return [
            {"kind": "parameters", "detail": f"{name}: {before.get(name)!r} -> {after.get(name)!r}"}
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        ]

    def _modules(self, rec: CellFacts, new: CellFacts | None) -> list[Cause]:
        out: list[Cause] = []
        for module, path in sorted(rec.local_modules.items()):
            changed = self._module_changed(path, rec.snapshot, new.snapshot if new else None)
            if changed:
                out.append({"kind": "code", "detail": f"local module {module} ({path}) changed since the recorded snapshot"})
        return out

    def _module_changed(self, path: str, before: str | None, after: str | None) -> bool | None:
        key = (path, before)
        if key not in self._module_changes:
            self._module_changes[key] = _git_changed(self.root, path, before, after)
        return self._module_changes[key]

    def _local_path(self, path: str) -> Path | None:
        if path.startswith("~/"):
            return Path.home() / path[2:]
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.root / candidate


def upstream_of(dependencies: list[dict[str, int]], index: int) -> set[int]:
    """Every cell whose state reached cell ``index`` (transitively)."""
    seen: set[int] = set()
    todo = list(dependencies[index].values()) if index < len(dependencies) else []
    while todo:
        u = todo.pop()
        if u in seen:
            continue
        seen.add(u)
        if u < len(dependencies):
            todo.extend(dependencies[u].values())
    return seen


def _out_of_order(order: list[int]) -> bool:
    return any(b <= a for a, b in pairwise(order))


def _hardware_diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    if not before or not after:
        return ""
    parts = []
    for key in _HARDWARE_KEYS:
        if key in before and key in after and before[key] != after[key]:
            parts.append(f"{key}: {_short(before[key])} -> {_short(after[key])}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _git_changed(root: Path, path: str, before: str | None, after: str | None) -> bool | None:
    """Whether ``path`` differs between two snapshot commits (None: cannot tell, git missing
    or failing, or a snapshot unknown to this repository)."""
    if not before or not after:
        return None
    try:
        import git  # gitpython, as capture runs git; it raises ImportError when git is missing
    except ImportError:
        return None
    try:
        status, _out, _err = git.Git(root).execute(
            ["git", "diff", "--quiet", before, after, "--", path],
            with_exceptions=False, with_extended_output=True, kill_after_timeout=30,
        )
    except (git.GitError, OSError):  # GitCommandNotFound: git gone since gitpython loaded
        return None
    return {0: False, 1: True}.get(status)


def _add(causes: list[Cause], seen: set[tuple[str, str]], cause: Cause) -> None:
    key = (cause["kind"], cause["detail"])
    if key not in seen:
        seen.add(key)
        causes.append(cause)
