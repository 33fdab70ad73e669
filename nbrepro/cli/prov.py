"""``nbrepro prov``: one session's provenance as a W3C PROV document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._errors import NotebookError, UsageError
from ..store import SQLiteStore
from ._common import open_project_store


def session_records(session: str, store: SQLiteStore, root: Path, rel: str | None, notebook: Path | None) -> list[dict[str, Any]]:
    """The records of ``session`` (an id or a prefix of one), else of ``notebook``'s session found by content."""
    if notebook is not None:
        from ..notebook.read import read_notebook
        from ..notebook.sessions import choose_session, no_session_message

        match = choose_session(store, read_notebook(notebook).cells, rel, root, session or None)
        if match is None:
            raise NotebookError(no_session_message(notebook, Path(store.location).parent))
        return store.session_records(match.session_id)
    prefix = session.strip().lower()
    if len(prefix) < 4:
        raise UsageError(f"session {session!r} is too short: give at least 4 characters of its id")
    ids = store.session_ids(prefix)
    if len(ids) != 1:
        raise UsageError(f"session {session}: {'no such session' if not ids else f'{len(ids)} sessions start with it'}"
                         f" in {store.location}")
    return store.session_records(ids[0])


@click.command()
@click.argument("session", metavar="SESSION|NOTEBOOK")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="The file to write: PROV-N for a .provn name, PROV-JSON otherwise.")
def prov(session: str, output: str) -> None:
    """Write SESSION's provenance (an id or a prefix of one; or a NOTEBOOK's session, found by
    content) as W3C PROV: cells as activities; the notebook, its git snapshot, data files
    (with their hashes) and outputs as entities; the author as agent."""
    from ..export.prov import serialize, session_document
    from ..notebook.read import write_atomic

    out = Path(output)
    if not out.resolve().parent.is_dir():
        raise UsageError(f"-o {output}: its folder does not exist")
    notebook = Path(session) if session.endswith(".ipynb") else None
    store, root, rel = open_project_store(str(notebook) if notebook is not None else None)
    try:
        records = session_records("" if notebook is not None else session, store, root, rel, notebook)
    finally:
        store.close()
    write_atomic(out, serialize(session_document(records, root), out.suffix))
    click.echo(f"wrote {output}: session {records[0]['session_id'][:8]}, {len(records)} cell run(s)")
