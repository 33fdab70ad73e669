"""``nbrepro stamp``: the provenance of a notebook's latest recorded session, into its metadata.

Only ``metadata.nbrepro`` and each code cell's ``metadata.nbrepro`` change; sources and
outputs are left exactly as they were, and the file is replaced atomically.
"""

from __future__ import annotations

import click

from .._errors import NotebookError


@click.command()
@click.argument("notebook")
@click.option("--session", default=None, metavar="ID", help="Stamp this recorded session (an id or a prefix of one).")
def stamp(notebook: str, session: str | None) -> None:
    """Write NOTEBOOK's recorded provenance into its metadata, for reviewers without the store.

    The session is found by the notebook's cell contents (the recorded path is a hint).
    """
    from pathlib import Path

    from ..notebook.sessions import no_session_message, project_store
    from ..notebook.stamp import stamp_notebook

    done = stamp_notebook(notebook, session)
    if not done:
        store, _root, folder = project_store(Path(notebook))
        if store is not None:
            store.close()
        raise NotebookError(no_session_message(notebook, folder if store is not None else None))
    click.echo(f"stamped {notebook}: {done.cells} cell(s) from session {done.session_id[:8]}, found {done.found}")
