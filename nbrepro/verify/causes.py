"""Why a cell's outputs differ: the causes that reach that cell, and no others.

Each kind compares one fact of the recorded run with the same fact of the rerun, in the cell
where it applies (its *origin*): the cell that loaded a package, read a file, changed its
source, drew unseeded randomness, ran out of order, or the parameters cell. A cause then
travels only along the names that carry it (``notebook.flow``), in notebook order, the order
the rerun runs in:

- a package (or a project module) rides on the names its import statement binds
  (``pd`` after ``import pandas as pd``), and on everything the loading cell computed from
  them; a distribution a cell loaded without binding it (``pd.read_parquet`` loading pyarrow)
  rides on everything that cell computed;
- a parameter rides on its own name only, so ``-p a 1`` never reaches a cell that reads ``b``;
- every other cause rides on all the names its cell defines apart from import bindings;
- a cell that reads a name gets the causes that name carries, and passes them on to what it
  computes.

Files written by the session are facts too: a cell that reads, lists or names a path another
cell wrote gets a ``data`` cause naming the writing cell, when the write differs or happened
on the other side of this cell in one run only. Each cause is named once per cell (its own
first, then ``via cell N`` for the nearest origin); ``hardware`` applies to every differing
cell; ``nondeterminism`` is named only when nothing else explains a difference.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from ..notebook import flow
from ..notebook.facts import CellFacts, SessionFacts
from ..record.hashing import hash_text
from .verdict import Cause, CauseKind

_HARDWARE_KEYS = ("cpu", "cores", "gpus", "blas", "arch")

# How a cause reaches names: through the import bindings of these modules, or through every
# other name its cell defines.
_COMPUTED = "computed"


@dataclass(frozen=True)
class _Found:
    kind: CauseKind
    detail: str
    subject: tuple[str, ...]  # what the cause is about: one per cell however it arrives
    origin: int  # the cell it was found in
    modules: frozenset[str] = frozenset()  # import channel: top-level modules that carry it
    param: str | None = None  # a parameter: carried by this name alone
    computed: bool = True  # carried by the names the origin cell computes

    def cause(self, at: int) -> Cause:
        if self.origin in (at, -1) or self.detail.startswith(f"cell {self.origin}"):
            return {"kind": self.kind, "detail": self.detail}
        return {"kind": self.kind, "detail": f"via cell {self.origin}: {self.detail}"}


class CauseFinder:
    """Causes for the cells of one notebook; ``sources`` are its cells' sources ("" for
    markdown), ``params_cells`` the parameters cells and the names each assigns."""

    def __init__(
        self, recorded: SessionFacts, rerun: SessionFacts, sources: list[str], root: Path, notebook_dir: Path,
        hash_file: Callable[[str], tuple[str, int] | None], params_cells: Mapping[int, Iterable[str]] = {},
    ) -> None:
        self.recorded = recorded
        self.rerun = rerun
        self.sources = sources
        self.root = root
        self.notebook_dir = notebook_dir
        self.hash_file = hash_file
        self.params_cells = {i: frozenset(names) for i, names in params_cells.items()}
        self._hardware = _hardware_diff(recorded.hardware, rerun.hardware)
        self._module_changes: dict[tuple[str, str | None], bool | None] = {}
        self._flows = [flow.cell_flow(s) for s in sources]
        self._deps = flow.dependencies(sources)
        self._writes = {
            side: {i: {e["path"]: e.get("hash") for e in c.data if e.get("mode") == "w"} for i, c in facts.cells.items()}
            for side, facts in (("recorded", recorded), ("rerun", rerun))
        }
        self._reaching: list[list[_Found]] | None = None
        self._recorded_deps: list[dict[str, int]] | None = None  # name flow of the recorded runs, in their order

    # -- public --------------------------------------------------------------------------
    def for_cell(self, index: int) -> list[Cause]:
        """Every cause that reaches a differing cell, each named once, then hardware."""
        causes = [found.cause(index) for found in self._reach()[index]]
        if self._hardware:
            causes.append({"kind": "hardware", "detail": self._hardware})
        if not causes:
            causes.append({"kind": "nondeterminism", "detail": "same code, data, packages, parameters, seeds, order and hardware"})
        return causes

    # -- propagation ---------------------------------------------------------------------
    def _reach(self) -> list[list[_Found]]:
        """For each cell, the causes that reach it, its own first; computed once, in notebook order."""
        if self._reaching is not None:
            return self._reaching
        carried: list[dict[str, list[_Found]]] = []
        reaching: list[list[_Found]] = []
        unassigned = self._unassigned_params()
        for index, cell in enumerate(self._flows):
            found: dict[tuple[str, ...], _Found] = {}
            for item in self._direct(index):
                found.setdefault(item.subject, item)
            arriving: list[_Found] = []
            for name, definer in sorted(self._deps[index].items(), key=lambda kv: -kv[1]):  # nearest origin first
                arriving.extend(carried[definer].get(name, ()))
            arriving.extend(unassigned[name] for name in sorted(cell.uses) if name in unassigned and name not in self._deps[index])
            for item in sorted(arriving, key=lambda f: -f.origin):
                found.setdefault(item.subject, item)
            reaching.append(list(found.values()))
            carried.append(self._carry(index, cell, found.values()))
        self._reaching = reaching
        return reaching

    def _carry(self, index: int, cell: flow.CellFlow, found: Iterable[_Found]) -> dict[str, list[_Found]]:
        """The causes each name this cell defines carries to later cells."""
        mine = [f for f in found if f.origin == index]
        arrived = [f for f in found if f.origin != index]
        params = self.params_cells.get(index, frozenset())
        reads = cell.reads
        computed = [
            f for f in mine
            if f.param is None and (f.computed or any(name in reads for name, module in cell.imports.items() if _top(module) in f.modules))
        ] + arrived
        out: dict[str, list[_Found]] = {}
        for name in cell.defines:
            if name in cell.imports:
                top = _top(cell.imports[name])
                out[name] = [f for f in mine if top in f.modules] + [f for f in mine if f.kind == "code" and not f.modules]
            elif name in params:
                out[name] = [f for f in mine if f.param == name] + arrived
            else:
                out[name] = computed
        return out

    def _unassigned_params(self) -> dict[str, _Found]:
        """Parameters no cell of the notebook assigns (papermill injected them): their cause
        goes to the cells that read the name."""
        assigned = set().union(*self.params_cells.values()) if self.params_cells else set()
        before, after = self.recorded.params, self.rerun.params
        return {
            name: _Found("parameters", f"{name}: {before.get(name)!r} -> {after.get(name)!r}", ("parameters", name), -1, param=name)
            for name in sorted(set(before) | set(after))
            if name not in assigned and before.get(name) != after.get(name)
        }

    # -- kinds, in the cell they come from -------------------------------------------------
    def _direct(self, index: int) -> list[_Found]:
        rec = self.recorded.cells.get(index)
        if rec is None:
            return []
        new = self.rerun.cells.get(index)
        out: list[_Found] = []
        if rec.source_hash and rec.source_hash != hash_text(self.sources[index]):
            out.append(_Found("code", f"cell {index}: source changed since the recorded run", ("code", str(index)), index))
        out.extend(self._modules(index, rec, new))
        out.extend(self._data(index, rec, new))
        out.extend(self._packages(index, rec, new))
        out.extend(self._params(index))
        if rec.unseeded:
            out.append(_Found(
                "seed", f"the recorded run drew from unseeded randomness: {', '.join(rec.unseeded)}", ("seed", str(index)), index
            ))
        order = self._order(index, rec)
        if order:
            out.append(_Found("order", order, ("order", str(index)), index))
        return out

    def _packages(self, index: int, rec: CellFacts, new: CellFacts | None) -> list[_Found]:
        if new is None:
            return []
        mine = rec.imported if rec.imported_here is None else rec.imported_here
        imports = {_top(m) for m in self._flows[index].imports.values()}
        out = []
        for name, version in sorted(mine.items()):
            if name not in new.imported:
                continue
            if new.imported[name] != version:
                detail = f"{name}: {version} -> {new.imported[name]}"
            elif name in rec.files and name in new.files and rec.files[name] != new.files[name]:
                detail = f"{name} {version}: installed files differ"  # same version, other files (patched, rebuilt)
            else:
                continue
            modules = _modules_of(name) & imports
            # Loaded without being bound here (a dependency of what the cell imported or
            # called): every name the cell defines may hold what it made.
            out.append(_Found(
                "package", detail, ("package", str(canonicalize_name(name))), index,
                modules=modules or frozenset(imports), computed=not modules,
            ))
        return out

    def _params(self, index: int) -> list[_Found]:
        names = self.params_cells.get(index)
        if not names:
            return []
        before, after = self.recorded.params, self.rerun.params
        return [
            _Found("parameters", f"{name}: {before.get(name)!r} -> {after.get(name)!r}", ("parameters", name), index, param=name)
            for name in sorted(names)
            if before.get(name) != after.get(name)
        ]

    def _data(self, index: int, rec: CellFacts, new: CellFacts | None) -> list[_Found]:
        out: list[_Found] = []
        now = {e["path"]: e["hash"] for e in (new.data if new else []) if e.get("mode") == "r"}
        read = set()
        for entry in rec.data:
            if entry.get("mode") != "r":
                continue
            path, before = entry["path"], entry["hash"]
            read.add(path)
            after = now.get(path)
            if after is None:
                hashed = self.hash_file(str(self._local_path(path)))
                after = hashed[0] if hashed else "missing"
            if after != before:
                writer = self._writer(path, index)
                by = f" (written by cell {writer})" if writer is not None else ""
                out.append(_Found("data", f"{path}: {before} -> {after}{by}", ("data", path), index))
        out.extend(self._written(index, rec, read))
        return out

    def _written(self, index: int, rec: CellFacts, read: set[str]) -> list[_Found]:
        """Files other cells of the session wrote that this cell named or read, where what it
        could see of them differs between the runs."""
        if not any(self._writes["recorded"].values()) and not any(self._writes["rerun"].values()):
            return []
        mentioned = self._mentioned(index)
        out = []
        seen = set()
        for writer in sorted(set(self._writes["recorded"]) | set(self._writes["rerun"])):
            if writer == index:
                continue
            before_w = self._writes["recorded"].get(writer, {})
            after_w = self._writes["rerun"].get(writer, {})
            for path in sorted(set(before_w) | set(after_w)):
                if path in seen or path in read or not _names(path, mentioned):
                    continue
                recorded_saw = writer in rec.order[:-1] and path in before_w
                rerun_saw = writer < index and writer in self.rerun.cells and path in after_w
                detail = None
                if recorded_saw and not rerun_saw:
                    detail = f"{path}: written by cell {writer}, which the recorded session ran before this cell (the rerun runs it after)"
                elif rerun_saw and not recorded_saw:
                    detail = f"{path}: written by cell {writer}, which the recorded session ran after this cell (the rerun runs it before)"
                elif recorded_saw and before_w[path] != after_w[path]:
                    detail = f"{path}: written by cell {writer}: {before_w[path]} -> {after_w[path]}"
                if detail is not None:
                    seen.add(path)
                    out.append(_Found("data", detail, ("data", path), index))
        return out

    def _mentioned(self, index: int) -> set[str]:
        """Root-relative forms of the paths this cell's source names in string literals and
        shell commands (``!ls data``)."""
        out = set()
        for text in self._flows[index].strings:
            for word in text.split():
                word = word.strip("'\"")
                if not word or word.startswith("-") or len(word) > 4096:
                    continue
                local = os.path.normpath(self._local_path(word, relative_to=self.notebook_dir))
                relative = os.path.relpath(local, self.root)
                if not relative.startswith(".." + os.sep) and relative != "..":
                    out.add(PurePosixPath(Path(relative)).as_posix())
        return out

    def _writer(self, path: str, index: int) -> int | None:
        """The cell that last wrote ``path`` before this cell's recorded run."""
        rec = self.recorded.cells[index]
        for cell in reversed(rec.order[:-1]):
            if cell != index and path in self._writes["recorded"].get(cell, {}):
                return cell
        return None

    def _order(self, index: int, rec: CellFacts) -> str:
        """Names this cell read that came, in the recorded run, from another cell than the
        one notebook order gives them from (a later cell, a rerun, a cell not run). The
        recorded runs are read by the same name flow as the notebook, as one sequence."""
        if self._recorded_deps is None:
            self._recorded_deps = flow.dependencies([self._source(c) for c in self.recorded.order])
        position = len(rec.order) - 1
        if not 0 <= position < len(self._recorded_deps) or self.recorded.order[position] != index:
            return ""
        wrong = []
        for name, at in sorted(self._recorded_deps[position].items()):
            recorded_definer = self.recorded.order[at]
            notebook_definer = self._deps[index].get(name)
            if recorded_definer == notebook_definer:
                continue
            came = "its own earlier run" if recorded_definer == index else f"cell {recorded_definer}"
            wrong.append(
                f"{name} from {came}"
                + (f" (in notebook order: cell {notebook_definer})" if notebook_definer is not None else " (no earlier cell defines it)")
            )
        if not wrong:
            return ""
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        shown = ", ".join(str(i) for i in self.recorded.order[-20:])
        return f"the recorded run read {', '.join(wrong[:5])}{more}; recorded order of cell runs: {shown}"

    def _source(self, index: int) -> str:
        return self.sources[index] if 0 <= index < len(self.sources) else ""

    def _modules(self, index: int, rec: CellFacts, new: CellFacts | None) -> list[_Found]:
        out: list[_Found] = []
        for module, path in sorted(rec.local_modules.items()):
            if self._module_changed(path, rec.snapshot, new.snapshot if new else None):
                out.append(_Found(
                    "code", f"local module {module} ({path}) changed since the recorded snapshot", ("module", module), index,
                    modules=frozenset({_top(module)}), computed=False,
                ))
        return out

    def _module_changed(self, path: str, before: str | None, after: str | None) -> bool | None:
        key = (path, before)
        if key not in self._module_changes:
            self._module_changes[key] = _git_changed(self.root, path, before, after)
        return self._module_changes[key]

    def _local_path(self, path: str, relative_to: Path | None = None) -> Path:
        if path.startswith("~/"):
            return Path.home() / path[2:]
        candidate = Path(path)
        return candidate if candidate.is_absolute() else (relative_to or self.root) / candidate


def _names(path: str, mentioned: set[str]) -> bool:
    """Whether a mentioned path is ``path`` or a folder holding it."""
    return any(m == path or (m in ("", ".") or path.startswith(m.rstrip("/") + "/")) for m in mentioned)


def _top(module: str) -> str:
    return module.split(".")[0]


@lru_cache(maxsize=1)
def _distributions() -> dict[str, frozenset[str]]:
    """Canonical distribution name -> the top-level modules it provides, as installed here."""
    out: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            out.setdefault(str(canonicalize_name(dist)), set()).add(module)
    return {name: frozenset(modules) for name, modules in out.items()}


def _modules_of(distribution: str) -> frozenset[str]:
    """The top-level modules of a distribution; its own name when it is not installed here."""
    name = str(canonicalize_name(distribution))
    return _distributions().get(name) or frozenset({name.replace("-", "_")})


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
