"""``verify``: rerun a notebook in a fresh kernel and compare it, cell by cell, with its record.

The recorded side is the latest session of the notebook in the store, else the stamp in the
notebook's metadata, else the saved outputs alone (then no cause can be named). The rerun
runs a copy (the input is never written) in a fresh ipykernel with nbrepro loaded into a
temporary store, with the recorded ``PYTHONHASHSEED``, the global RNG states each recorded cell
started with set again before it, and any ``-p`` parameters injected the way papermill
injects them. With ``recorded_env`` the kernel runs on the Python of a venv built from the
recorded session's lock (``verify.recorded_env``); the report's ``ran_in`` says which.
"""

from __future__ import annotations

import copy
import json
import platform
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .._errors import StoreError, UsageError, VerifyError
from ..capture.files import FileHashes
from ..notebook.facts import SessionFacts, from_records
from ..notebook.params import INJECTED_TAG, assignments, cell_tags, injected_source, injection_point, is_parameters_cell
from ..notebook.read import new_code_cell, read_notebook
from ..notebook.recorded import checked_stamp, recorded_side
from ..notebook.stamp_format import Stamp
from ..project import find_root, relative_path, store_dir
from ..record import outputs as canon
from ..record.compare import SKIP_TAG, compare
from ..record.match import CellMatcher
from ..record.redact import secrets_of
from ..store import SQLiteStore
from .causes import CauseFinder
from .verdict import (
    VERIFY_SCHEMA,
    Cause,
    CellVerdict,
    DataHashes,
    Environment,
    RanIn,
    StampCheck,
    Status,
    Verdict,
    VerifyReport,
    Versions,
)

_LOADS_NBREPRO = re.compile(r"^\s*%(?:re)?load_ext\s+nbrepro\b", re.M)


@dataclass(frozen=True)
class Rerun:
    """What the HTML page needs beyond the report: the notebook, the copy that ran (with
    its outputs), where each of its cells came from, and the recorded side."""

    nb: nbformat.NotebookNode
    run_nb: nbformat.NotebookNode
    origin: list[int | None]
    recorded: SessionFacts


def rerun_copy(nb: nbformat.NotebookNode, params: Mapping[str, Any]) -> tuple[nbformat.NotebookNode, list[int | None]]:
    """A copy to execute, with ``params`` injected where papermill injects them
    (``nbrepro.notebook.params.injection_point``), and for each of its cells the index of
    the cell it came from (None: injected)."""
    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    origin: list[int | None] = list(range(len(run.cells)))
    if params:
        at, replace = injection_point(run.cells)
        if replace:
            # Like papermill, a notebook papermill ran gets its injected cell replaced rather
            # than a second one; the values it injected that -p does not override stay.
            run.cells[at].source = injected_source(params, replacing=run.cells[at].source)
        else:
            run.cells.insert(at, new_code_cell(injected_source(params), tags=[INJECTED_TAG]))
            origin.insert(at, None)
    return run, origin


def verify(
    path: str | Path, *, params: Mapping[str, Any] | None = None, timeout: int = 600,
    kernel_name: str = "python3", on_cell: Callable[[int, int], None] | None = None,
    session: str | None = None, start_timeout: int = 60,
    recorded_env: bool = False, find_links: Path | None = None, no_index: bool = False,
) -> tuple[VerifyReport, Rerun]:
    """Rerun and compare. Returns (the JSON report, what the HTML page shows besides).
    ``recorded_env``: the rerun's kernel runs in a venv built from the recorded session's lock
    (``find_links``, ``no_index``: where its packages come from)."""
    from ..notebook.kernel import RunStopped, check_kernel, execute

    path = Path(path)
    nb = read_notebook(path)
    check_kernel(kernel_name)
    root = find_root(path.resolve().parent)
    recorded, provenance = recorded_side(nb, path, session)
    stamp = checked_stamp(nb, path)
    _check_params(nb, path, recorded, params or {})
    python, ran_in = _recorded_python(recorded, root, find_links, no_index) if recorded_env else (None, _this_python())
    run_nb, origin = rerun_copy(nb, params or {})
    loads_itself = any(c.cell_type == "code" and _LOADS_NBREPRO.search(c.source) for c in nb.cells)
    code_total = sum(1 for c in run_nb.cells if c.cell_type == "code")
    done = {"n": 0}

    def progress(**_: Any) -> None:
        done["n"] += 1
        if on_cell is not None:
            on_cell(done["n"], code_total)

    stopped = None
    with tempfile.TemporaryDirectory(prefix="nbrepro-verify-") as tmp:
        env = {"JPY_SESSION_NAME": str(path.resolve()), "NBREPRO_DIR": tmp}
        if recorded.pythonhashseed and recorded.pythonhashseed.isdigit():
            env["PYTHONHASHSEED"] = recorded.pythonhashseed
        if python is not None:
            from .recorded_env import kernel_env

            env.update(kernel_env(python))
        try:
            execute(
                run_nb, path.resolve().parent, env=env, timeout=timeout, start_timeout=start_timeout,
                kernel_name=kernel_name, extra_arguments=[] if loads_itself else ["--ext=nbrepro"],
                on_cell_executed=progress, before_cell=_rng_replay(recorded, origin), python=python,
            )
        except RunStopped as exc:  # a timeout, a dead kernel: a verdict, not a crash
            stopped = exc
        rerun_facts = _rerun_facts(run_nb, origin, nb, Path(tmp))
    rerun = Rerun(nb, run_nb, origin, recorded)
    if stopped is None:
        report = _compare(rerun, rerun_facts, path, root, provenance, None)
        report["ran_in"] = ran_in
        return _with_stamp(report, stamp, recorded), rerun
    at = origin[stopped.cell] if stopped.cell is not None else None
    where = f"cell {at}" if at is not None else ("the injected parameters cell" if stopped.cell is not None else "")
    report = _compare(rerun, rerun_facts, path, root, provenance, f"{where}: {stopped.reason}" if where else stopped.reason)
    report["ran_in"] = ran_in
    _mark_stopped(report["cells"], at, origin[stopped.cell + 1:] if stopped.cell is not None else origin,
                  stopped.reason, f"the rerun stopped at {where}" if where else stopped.reason)
    return _with_stamp(report, stamp, recorded), rerun


def _this_python() -> RanIn:
    return RanIn(environment="current", lock=None,
                 detail=f"this Python's environment ({platform.python_implementation()} {platform.python_version()})")


def _recorded_python(recorded: SessionFacts, root: Path, find_links: Path | None, no_index: bool) -> tuple[Path, RanIn]:
    """The Python of a venv of the recorded session's lock (built, or found under the store
    folder), and what the report says of it."""
    from ..notebook.lock import session_lock
    from ..notebook.pip import PipFailed
    from .recorded_env import recorded_python

    if recorded.source in ("outputs", "rerun") or not recorded.env:
        raise UsageError("--recorded-env: no recorded session or stamp says what the notebook ran with")
    title = f"session {(recorded.session_id or '?')[:8]}"
    envs = store_dir(root) / "envs"
    try:
        lock = session_lock(recorded.env, title=title, find_links=find_links, no_index=no_index)
        python = recorded_python(lock, envs, find_links=find_links, no_index=no_index)
    except PipFailed as exc:
        raise VerifyError(f"--recorded-env: {exc}") from None
    venv = relative_path(python.parent.parent, root) if python.is_relative_to(root) else str(python.parent.parent)
    unlocked = "; ".join(f"{name} ({origin}) from this environment" for name, origin in sorted(lock.unlocked.items()))
    detail = f"the recorded environment: a venv of {title}'s lock ({lock.hash[:15]}…) in {venv}" + (
        f"; not locked: {unlocked}" if unlocked else "")
    return python, RanIn(environment="recorded", lock=lock.hash, detail=detail)


def _rng_replay(recorded: SessionFacts, origin: list[int | None]) -> Callable[[int], str | None]:
    """Code setting the global RNGs to the states the recorded cell started with, run silently
    just before it, so that a cell that drew without a seed draws the same numbers again."""

    def code(index: int) -> str | None:
        at = origin[index] if index < len(origin) else None
        states = recorded.cells[at].rng_start if at in recorded.cells else None
        if not states:
            return None
        rng = "__import__('nbrepro.record.rng', fromlist=['apply'])"
        return f"{rng}.apply(__import__('json').loads({json.dumps(states)!r}))"

    return code


def _with_stamp(report: VerifyReport, stamp: Stamp | None, recorded: SessionFacts) -> VerifyReport:
    """The stamp's own finding: its state, and each alteration named on the cell it concerns
    (which then differs, where the stamp is what the cell was compared with). An altered
    stamp is never ``reproduced``."""
    if stamp is None:
        return report
    altered = "; ".join(detail for _, detail in stamp.findings)
    detail = f"stamp altered: {altered}" if altered else _STAMP_STATES[stamp.state]
    report["stamp"] = StampCheck(state=stamp.state, detail=detail)
    if altered or recorded.source == "stamp":
        report["recorded"] += f" ({detail})"
    for cell in report["cells"]:
        for index, what in stamp.findings:
            if index == cell["index"]:
                cell["causes"].append({"kind": "stamp", "detail": f"stamp altered: {what}"})
                if recorded.source == "stamp" and cell["status"] == "reproduced":
                    cell["status"] = "differs"
    if altered and report["verdict"] == "reproduced":
        report["verdict"] = "differs"
    return report


_STAMP_STATES = {
    "intact": "stamp intact: it matches its seal",
    "unsigned": "unsigned stamp: written before stamps were sealed, so edits to it cannot be found",
}


def _mark_stopped(cells: list[CellVerdict], at: int | None, after: list[int | None], reason: str, not_run: str) -> None:
    """The cell the rerun stopped at is ``failed`` with the reason (``timeout after 1 s``), the
    cells after it ran not at all: ``not-run``, saying where the rerun stopped. Neither has
    causes or a diff: the outputs, partial or none, are not the cell's."""
    later = {o for o in after if o is not None}
    for cell in cells:
        if cell["index"] == at:
            cell["status"], cell["reason"] = "failed", reason
        elif cell["index"] in later:
            cell["status"], cell["reason"] = "not-run", not_run
        else:
            continue
        cell["causes"], cell["diff"] = [], ""


def _check_params(nb: nbformat.NotebookNode, path: Path, recorded: SessionFacts, params: Mapping[str, Any]) -> None:
    """``-p NAME`` must name a parameter: one the parameters cell assigns, or the recorded
    session had (papermill only warns; a reviewer's typo would otherwise blame other cells)."""
    if not params:
        return
    known = set(recorded.params)
    for cell in nb.cells:
        if cell.cell_type == "code" and is_parameters_cell(cell.source, cell_tags(cell)):
            known.update(assignments(cell.source))
    unknown = sorted(set(params) - known)
    if unknown:
        where = f"its parameters: {', '.join(sorted(known))}" if known else "it has no parameters cell"
        raise UsageError(f"-p {unknown[0]}: not a parameter of {path.name} ({where})")


def _rerun_facts(run_nb: nbformat.NotebookNode, origin: list[int | None], nb: nbformat.NotebookNode, folder: Path) -> SessionFacts:
    if not (folder / "nbrepro.db").is_file():
        return SessionFacts(source="rerun")
    try:
        store = SQLiteStore(folder, create=False)
    except StoreError:  # a rerun kernel killed while it created its store leaves no tables
        return SessionFacts(source="rerun")
    try:
        records = store.records()
        # Records come in execution order: the rerun ran the cells of run_nb top to bottom.
        placed = CellMatcher(run_nb.cells).align((r.get("cell") or {}).get("source_hash") for r in records)
        positions = [origin[i] if i is not None else None for i in placed]
        return from_records(records, nb, store.get_blob, source="rerun", positions=positions)
    finally:
        store.close()


def _compare(
    ran: Rerun, rerun: SessionFacts, path: Path, root: Path, provenance: str, failure: str | None
) -> VerifyReport:
    nb, recorded = ran.nb, ran.recorded
    sources = [c.source if c.cell_type == "code" else "" for c in nb.cells]
    # Redacted in the outputs as the recorder redacts them; the rerun's sources hold -p values too.
    secrets = secrets_of(c.source for c in ran.run_nb.cells if c.cell_type == "code")
    params_cells = {
        i: set(assignments(c.source)) for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and is_parameters_cell(c.source, cell_tags(c))
    }
    finder = CauseFinder(recorded, rerun, sources, root, path.resolve().parent, FileHashes().get, params_cells)
    executed = {o: c for o, c in zip(ran.origin, ran.run_nb.cells, strict=True) if o is not None}
    cells: list[CellVerdict] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        status: Status
        causes: list[Cause] = []
        diff = ""
        rec = recorded.cells.get(index)
        after_cell = executed.get(index)
        if SKIP_TAG in cell_tags(cell):
            status = "skipped"
        elif rec is None:
            status = "new"
        else:
            before = rec.outputs if rec.outputs is not None else canon.canonical(cell.get("outputs", []), secrets)
            after = canon.canonical(after_cell.get("outputs", []), secrets) if after_cell is not None else []
            result = compare(before, after)
            raised = any(o["output_type"] == "error" for o in after)
            if result.equal:
                status = "reproduced"
            else:
                status = "error" if raised and rec.status != "error" else "differs"
                diff = result.diff
                if recorded.source != "outputs":
                    causes = finder.for_cell(index)
        cells.append(CellVerdict(
            index=index, execution_count=_execution_count(cell), cell_id=cell.get("id"),
            status=status, causes=causes, diff=diff,
        ))
    bad = [c for c in cells if c["status"] in ("differs", "error")]
    verdict: Verdict = "failed" if failure else ("differs" if bad else "reproduced")
    report = VerifyReport(
        schema=VERIFY_SCHEMA,
        notebook=str(path),
        verdict=verdict,
        recorded=provenance,
        session=recorded.match or None,
        cells=cells,
        environment=_environment(recorded, rerun),
    )
    if failure:
        report["failure"] = failure
    return report


def _execution_count(cell: nbformat.NotebookNode) -> int | None:
    """The [N] a reader sees beside the cell in the saved notebook (a hand-edited notebook
    may hold anything there)."""
    count = cell.get("execution_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _environment(recorded: SessionFacts, rerun: SessionFacts) -> Environment:
    def last_imported(facts: SessionFacts) -> dict[str, str]:
        out: dict[str, str] = {}
        for index in facts.order:
            out.update(facts.cells[index].imported)
        return out

    before, after = last_imported(recorded), last_imported(rerun)
    packages = [
        Versions(name=n, recorded=before.get(n), rerun=after.get(n))
        for n in sorted(set(before) | set(after), key=str.lower)
    ]
    data_before = {e["path"]: e["hash"] for c in recorded.cells.values() for e in c.data if e.get("mode") == "r"}
    data_after = {e["path"]: e["hash"] for c in rerun.cells.values() for e in c.data if e.get("mode") == "r"}
    data = [
        DataHashes(path=p, recorded=data_before.get(p), rerun=data_after.get(p))
        for p in sorted(set(data_before) | set(data_after))
    ]
    return Environment(
        packages=packages,
        data=data,
        git={"recorded": recorded.git, "rerun": rerun.git},
        hardware={"recorded": recorded.hardware, "rerun": rerun.hardware},
        params={"recorded": recorded.params, "rerun": rerun.params},
    )
