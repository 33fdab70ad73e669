"""``nbrepro stamp``: the provenance of a notebook's latest recorded session, into its metadata.

Only ``metadata.nbrepro`` and each code cell's ``metadata.nbrepro`` change; sources and
outputs are left exactly as they were, and the file is replaced atomically.
"""

from __future__ import annotations

import click

from ..errors import NotebookError


@click.command()
@click.argument("notebook")
def stamp(notebook: str) -> None:
    """Write NOTEBOOK's recorded provenance into its metadata, for reviewers without the store."""
    from ..verify.stamp import stamp_notebook

    cells, session = stamp_notebook(notebook)
    if not cells:
        raise NotebookError(f"{notebook}: no recorded runs of it in its project's store to stamp")
    click.echo(f"stamped {notebook}: {cells} cell(s) from session {session[:8]}")
