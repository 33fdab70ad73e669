"""``verify``: rerun a notebook in a fresh kernel and compare it, cell by cell, with its record.

The recorded side is the latest session of the notebook in the store, else the stamp in the
notebook's metadata, else the saved outputs alone (then no cause can be named). The rerun
runs a copy (the input is never written) in a fresh ipykernel with nbrepro loaded into a
temporary store, with the recorded ``PYTHONHASHSEED`` and any ``-p`` parameters injected the
way papermill injects them.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from .._errors import UsageError
from ..capture.files import FileHashes
from ..notebook.facts import SessionFacts, from_records
from ..notebook.params import PARAMETER_TAGS
from ..notebook.read import read_notebook
from ..notebook.recorded import recorded_side
from ..project import find_root
from ..record import outputs as canon
from ..record.compare import SKIP_TAG, compare
from ..record.hashing import hash_text
from ..record.match import CellMatcher
from ..store import SQLiteStore
from . import flow
from .causes import CauseFinder, upstream_of
from .verdict import VERIFY_SCHEMA

_LOADS_NBREPRO = re.compile(r"^\s*%(?:re)?load_ext\s+nbrepro\b", re.M)


def rerun_copy(nb: nbformat.NotebookNode, params: Mapping[str, Any]) -> tuple[nbformat.NotebookNode, list[int | None]]:
    """A copy to execute, with ``params`` injected after the parameters cell (papermill's
    convention), or added to the cell papermill injected when there is one, and for each of
    its cells the index of the cell it came from (None: injected)."""
    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    origin: list[int | None] = list(range(len(run.cells)))
    if params:
        assigned = "".join(f"{k} = {v!r}\n" for k, v in params.items())
        tagged = [i for i, c in enumerate(run.cells) if _tags(c) & set(PARAMETER_TAGS)]
        injected = next((i for i in tagged if _is_injected(run.cells[i])), None)
        if injected is not None:
            # A notebook papermill ran already has its injected cell: like papermill, replace it
            # rather than add a second one, but keep the values it injected that -p does not
            # override, so that `-p a 1` reruns the recorded run with only `a` changed.
            cell = run.cells[injected]
            before = cell.source if cell.source.lstrip().startswith("# Parameters") else "# Parameters\n" + cell.source
            cell.source = before.rstrip("\n") + "\n\n# nbrepro verify -p\n" + assigned
        else:
            at = tagged[0] + 1 if tagged else 0
            new = nbformat.v4.new_code_cell("# Parameters\n" + assigned, metadata={"tags": ["injected-parameters"]})
            run.cells.insert(at, new)
            origin.insert(at, None)
    return run, origin


def _is_injected(cell: Any) -> bool:
    return cell.cell_type == "code" and "injected-parameters" in _tags(cell)


def _tags(cell: Any) -> set[str]:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return {t for t in tags if isinstance(t, str)}


def verify(
    path: str | Path, *, params: Mapping[str, Any] | None = None, timeout: int = 600,
    kernel_name: str = "python3", on_cell: Callable[[int, int], None] | None = None,
    session: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rerun and compare. Returns (the JSON report, extras for the HTML page)."""
    from ..notebook.kernel import execute

    path = Path(path)
    nb = read_notebook(path)
    root = find_root(path.resolve().parent)
    recorded, provenance = recorded_side(nb, path, session)
    run_nb, origin = rerun_copy(nb, params or {})
    loads_itself = any(c.cell_type == "code" and _LOADS_NBREPRO.search(c.source) for c in nb.cells)
    code_total = sum(1 for c in run_nb.cells if c.cell_type == "code")
    done = {"n": 0}

    def progress(**_: Any) -> None:
        done["n"] += 1
        if on_cell is not None:
            on_cell(done["n"], code_total)

    failure = None
    with tempfile.TemporaryDirectory(prefix="nbrepro-verify-") as tmp:
        env = {"JPY_SESSION_NAME": str(path.resolve()), "NBREPRO_DIR": tmp}
        if recorded.pythonhashseed and recorded.pythonhashseed.isdigit():
            env["PYTHONHASHSEED"] = recorded.pythonhashseed
        try:
            execute(
                run_nb, path.resolve().parent, env=env, timeout=timeout, kernel_name=kernel_name,
                extra_arguments=[] if loads_itself else ["--ext=nbrepro"], on_cell_executed=progress,
            )
        except Exception as exc:  # noqa: BLE001 - a dead kernel or a timeout is a verdict, not a crash
            failure = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        rerun = _rerun_facts(run_nb, origin, nb, Path(tmp))
    report = _compare(nb, path, root, recorded, rerun, run_nb, origin, provenance, failure)
    return report, {"nb": nb, "run_nb": run_nb, "origin": origin, "recorded": recorded}


def _rerun_facts(run_nb: nbformat.NotebookNode, origin: list[int | None], nb: nbformat.NotebookNode, folder: Path) -> SessionFacts:
    if not (folder / "nbrepro.db").is_file():
        return SessionFacts(source="rerun")
    store = SQLiteStore(folder, create=False)
    try:
        records = store.records()
        # Records come in execution order: the rerun ran the cells of run_nb top to bottom.
        placed = CellMatcher(run_nb.cells).align((r.get("cell") or {}).get("source_hash") for r in records)
        positions = [origin[i] if i is not None else None for i in placed]
        return from_records(records, nb, store.get_blob, source="rerun", positions=positions)
    finally:
        store.close()


def _compare(
    nb: nbformat.NotebookNode, path: Path, root: Path, recorded: SessionFacts, rerun: SessionFacts,
    run_nb: nbformat.NotebookNode, origin: list[int | None], provenance: str, failure: str | None,
) -> dict[str, Any]:
    sources = [c.source if c.cell_type == "code" else "" for c in nb.cells]
    deps = flow.dependencies(sources)
    hashes = FileHashes()
    finder = CauseFinder(
        recorded, rerun, {i: hash_text(s) for i, s in enumerate(sources) if nb.cells[i].cell_type == "code"},
        root, hashes.get,
    )
    executed = {o: c for o, c in zip(origin, run_nb.cells, strict=True) if o is not None}
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        entry: dict[str, Any] = {"index": index, "cell_id": cell.get("id"), "status": "", "causes": [], "diff": ""}
        tags = cell.get("metadata", {}).get("tags", [])
        rec = recorded.cells.get(index)
        ran = executed.get(index)
        if SKIP_TAG in tags:
            entry["status"] = "skipped"
        elif rec is None:
            entry["status"] = "new"
        else:
            before = rec.outputs if rec.outputs is not None else canon.canonical(cell.get("outputs", []))
            after = canon.canonical(ran.get("outputs", [])) if ran is not None else []
            result = compare(before, after)
            raised = any(o["output_type"] == "error" for o in after)
            if result.equal:
                entry["status"] = "reproduced"
            else:
                entry["status"] = "error" if raised and rec.status != "error" else "differs"
                entry["diff"] = result.diff
                if recorded.source != "outputs":
                    entry["causes"] = finder.for_cell(index, upstream_of(deps, index))
        cells.append(entry)
    bad = [c for c in cells if c["status"] in ("differs", "error")]
    verdict = "failed" if failure else ("differs" if bad else "reproduced")
    report: dict[str, Any] = {
        "schema": VERIFY_SCHEMA,
        "notebook": str(path),
        "verdict": verdict,
        "recorded": provenance,
        "session": recorded.match or None,
        "cells": cells,
        "environment": _environment(recorded, rerun),
    }
    if failure:
        report["failure"] = failure
    return report


def _environment(recorded: SessionFacts, rerun: SessionFacts) -> dict[str, Any]:
    def last_imported(facts: SessionFacts) -> dict[str, str]:
        out: dict[str, str] = {}
        for index in facts.order:
            out.update(facts.cells[index].imported)
        return out

    before, after = last_imported(recorded), last_imported(rerun)
    packages = [
        {"name": n, "recorded": before.get(n), "rerun": after.get(n)}
        for n in sorted(set(before) | set(after), key=str.lower)
    ]
    data_before = {e["path"]: e["hash"] for c in recorded.cells.values() for e in c.data if e.get("mode") == "r"}
    data_after = {e["path"]: e["hash"] for c in rerun.cells.values() for e in c.data if e.get("mode") == "r"}
    data = [
        {"path": p, "recorded": data_before.get(p), "rerun": data_after.get(p)}
        for p in sorted(set(data_before) | set(data_after))
    ]
    return {
        "packages": packages,
        "data": data,
        "git": {"recorded": recorded.git, "rerun": rerun.git},
        "hardware": {"recorded": recorded.hardware, "rerun": rerun.hardware},
        "params": {"recorded": recorded.params, "rerun": rerun.params},
    }


def parse_param(name: str, value: str) -> tuple[str, Any]:
    """``-p NAME VALUE`` as papermill reads it: a Python literal if it is one, else a string."""
    import ast

    if not name.isidentifier():
        raise UsageError(f"parameter name {name!r} is not a Python identifier")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value

