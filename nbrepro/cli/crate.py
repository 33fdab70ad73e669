"""``nbrepro crate``: a notebook's session as an RO-Crate (Workflow Run Crate profile)."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import UsageError
from ..store.base import Blobs, blob_refs
from ._common import open_project_store
from .prov import session_records


@click.command()
@click.argument("notebook")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="The crate's folder (new, or empty).")
@click.option("--session", default=None, metavar="ID", help="Use this recorded session (an id or a prefix of one).")
@click.option("--report", "reports", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A verify report to include (JSON or HTML); may be given more than once.")
def crate(notebook: str, output: str, session: str | None, reports: tuple[str, ...]) -> None:
    """Write NOTEBOOK's recorded session as an RO-Crate (Workflow Run Crate): the notebook,
    the lock beside it if any, the records and their blobs, the verify reports given, and
    every data file the session used, by hash."""
    from ..export.crate import find_lock, write_crate

    out = Path(output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"-o {output}: exists and is not an empty folder")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"-o {output}: its folder does not exist")
    path = Path(notebook)
    store, root, rel = open_project_store(notebook)
    try:
        records = session_records(session or "", store, root, rel, path)
        blobs: Blobs = {}
        for rec in records:
            for kind, blob_id in blob_refs(rec):
                content = store.get_blob(blob_id)
                if content is not None:
                    blobs[blob_id] = (kind, content)
    finally:
        store.close()
    lock = find_lock(path, root)
    write_crate(path, records, blobs, out, root, lock, tuple(Path(r) for r in reports))
    extra = "".join(f", {what}" for what in ([f"lock {lock.name}"] if lock else []) + [f"report {Path(r).name}" for r in reports])
    click.echo(f"wrote {output}: {path.name}, session {records[0]['session_id'][:8]} ({len(records)} record(s),"
               f" {len(blobs)} blob(s){extra})")
