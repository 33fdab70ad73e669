"""``nbrepro log``: the recorded runs, oldest first, and a check of their hash chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from .._errors import CheckFailed, NotebookError
from ..notebook.read import read_notebook
from ..notebook.sessions import SessionMatch, find_sessions, no_session_message
from ..record import is_unavailable
from ..record.display import cell_label, print_unpadded
from ..store import SQLiteStore
from ._common import console, open_project_store


@click.command()
@click.argument("notebook", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of records, oldest first.")
@click.option("--check", is_flag=True,
              help="Verify the hash chain and compare it with its anchors (git, MLflow); exit 1 if either fails.")
@click.option("--tracking-uri", metavar="URI",
              help="With --check: also compare with the MLflow runs' anchors [default: $NBREPRO_MLFLOW_TRACKING_URI].")
def log(notebook: str | None, as_json: bool, check: bool, tracking_uri: str | None) -> None:
    """List recorded cell runs, of one NOTEBOOK or of the whole project.

    A notebook's runs are those of the sessions found by its cell contents (whatever ran it,
    and under whatever name), and those recorded under its path.
    """
    nb = read_notebook(notebook) if notebook is not None and Path(notebook).exists() else None
    store, root, rel = open_project_store(notebook)
    sessions: list[SessionMatch] = []
    try:
        if check:
            _check(store, root, tracking_uri)
            return
        if notebook is None:
            records = store.records()
        elif nb is not None:
            sessions = find_sessions(store, nb.cells, rel, root)
            records = sorted((r for m in sessions for r in store.session_records(m.session_id)), key=lambda r: r["seq"])
        else:  # renamed or deleted since: what was recorded under this name
            records = store.records(rel)
            if not records:
                raise NotebookError(f"{notebook}: no such notebook, and no runs recorded for it")
    finally:
        store.close()
    if notebook is not None and not records:
        click.echo(no_session_message(notebook, Path(store.location).parent), err=as_json)
        if as_json:
            click.echo("[]")
        return
    if as_json:
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        return
    for match in sessions:
        click.echo(f"session {match.session_id[:8]}: found {match.describe()}")
    _table(records)


def _check(store: SQLiteStore, root: Path, tracking_uri: str | None) -> None:
    """The chain within the store, then the store against every anchor it can reach."""
    from ..team.check import check_anchors
    from ..team.check import tracking_uri as resolve_uri

    problems = store.check()
    uri = resolve_uri(tracking_uri)
    anchored = check_anchors(store, root, uri)
    for line in [*problems, *anchored.problems]:
        click.echo(f"broken: {line}")
    for note in anchored.notes:
        click.echo(f"nbrepro: note: {note}", err=True)
    if anchored.others:
        ids = ", ".join(sorted(i[:8] for i in anchored.others))
        click.echo(f"nbrepro: note: the repository also holds anchors of other stores ({ids}), not compared", err=True)
    if problems:
        raise CheckFailed(f"the hash chain of {store.location} is broken ({len(problems)} problem(s))")
    if anchored.problems:
        raise CheckFailed(
            f"the history in {store.location} was rewritten or truncated: it fails {len(anchored.problems)} anchor(s)"
        )
    marks = store.marks()
    pruned = sum(m["records"] for m in marks)
    gc = f", {len(marks)} pruned range(s) in place of {pruned} record(s)" if marks else ""
    click.echo(f"ok: {len(store.records())} record(s){gc}, hash chain intact")
    git, remote = anchored.compared.get("git", 0), anchored.compared.get("mlflow")
    if not (root / ".git").exists() and remote is None:
        return  # nothing outside the store to compare with
    signed = f", {anchored.signed} signed" if anchored.signed else ""
    where = f"; {remote} MLflow anchor(s) at {uri}" if remote is not None else ""
    store_id = anchored.store_id[:8] if anchored.store_id else "none yet"
    click.echo(f"anchors hold: {git} git anchor(s){signed}{where} (store id {store_id})")


def _table(records: list[dict[str, Any]]) -> None:
    out = console()
    if not records:
        out.print("no runs recorded yet")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("seq", "run", "started", "notebook", "cell", "status", "time", "git", "source"):
        table.add_column(name, no_wrap=name != "source", overflow="ellipsis")
    for r in records:
        cell = r.get("cell") or {}
        first = (cell.get("source") or "").strip().splitlines()
        table.add_row(*map(Text, (  # Text: a source like df[col] is not markup
            str(r.get("seq")),
            r["run_id"][:8],
            r.get("started_at", "")[:19].replace("T", " "),
            (r.get("notebook") or {}).get("path") or "-",
            cell_label(cell.get("execution_count"), cell.get("index")),
            r.get("status", ""),
            f"{r.get('duration_s', 0):.3f}s",
            _git(r.get("git")),
            (first[0][:60] if first else ""),
        )))
    print_unpadded(out, table)


def _git(part: object) -> str:
    if not isinstance(part, dict) or is_unavailable(part):
        return "-"
    commit = (part.get("commit") or "none")[:8]
    return commit + ("*" if part.get("dirty") else "")
