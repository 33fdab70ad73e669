"""``nbrepro push``: recorded sessions to an MLflow tracking server, one run per session."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click

from .._errors import NbreproError, NotebookError, StoreError, UsageError
from ..capture import describe
from ._common import open_project_store


def mlflow_client(given_uri: str | None) -> tuple[Any, str]:
    """A client for ``--tracking-uri`` (else ``$NBREPRO_MLFLOW_TRACKING_URI``, else MLflow's
    ``$MLFLOW_TRACKING_URI``), and the URI."""
    from ..team.check import tracking_uri

    uri = tracking_uri(given_uri)
    if uri is None:
        raise UsageError("give --tracking-uri URI (or set NBREPRO_MLFLOW_TRACKING_URI)")
    try:
        from ..team import mlflow_run

        return mlflow_run.connect(uri), uri
    except ImportError as exc:
        raise UsageError("MLflow is not installed: pip install 'nbrepro[mlflow]'") from exc


@click.command()
@click.argument("notebook", required=False)
@click.option("--to", "sink", type=click.Choice(["mlflow"]), required=True, help="Where to push.")
@click.option("--tracking-uri", metavar="URI", help="The tracking server [default: $NBREPRO_MLFLOW_TRACKING_URI].")
@click.option("--experiment", metavar="NAME", help="The experiment new runs go to [default: MLflow's Default].")
@click.option("--session", default=None, metavar="ID", help="Push this session of NOTEBOOK (an id or a prefix of one).")
def push(notebook: str | None, sink: str, tracking_uri: str | None, experiment: str | None, session: str | None) -> None:
    """Push NOTEBOOK's recorded session (with its stamp), or every session of the project's
    store, to MLflow: one run per session, found again by its session id, so pushing twice
    never makes two runs and a push cut short is completed by the next."""
    from ..team import mlflow_run

    client, uri = mlflow_client(tracking_uri)
    store, root, rel = open_project_store(notebook)
    try:
        stamp: dict[str, Any] | None = None
        if notebook is not None:
            session_id, stamp = _notebook_session(Path(notebook), store, root, rel, session)
            sessions = [session_id]
        else:
            if session is not None:
                raise UsageError("--session chooses among a notebook's sessions: give the NOTEBOOK too")
            sessions = store.session_ids("")
        for session_id in sessions:
            try:
                done = mlflow_run.push(client, store, session_id, experiment, stamp, notebook=rel)
            except NbreproError:
                raise
            except Exception as exc:  # MLflow's and the network's errors: one line
                raise StoreError(f"push to {uri} failed: {describe(exc)}; push again to complete it") from exc
            what = "up to date" if done.up_to_date else f"updated, {done.blobs} blob(s) uploaded"
            made = " (new run)" if done.created else ""
            click.echo(f"session {session_id[:8]}: mlflow run {done.run_id}{made}, {done.records} record(s); {what}")
    finally:
        store.close()
    if not sessions:
        click.echo("no sessions recorded yet: nothing pushed")


def _notebook_session(
    path: Path, store: Any, root: Path, rel: str | None, session: str | None
) -> tuple[str, dict[str, Any] | None]:
    """The notebook's session (found by content, as every command finds it) and its stamp."""
    from ..notebook.read import read_notebook
    from ..notebook.sessions import choose_session, no_session_message
    from ..notebook.stamp import apply_stamp

    nb = read_notebook(path)
    match = choose_session(store, nb.cells, rel, root, session)
    if match is None:
        raise NotebookError(no_session_message(path, Path(store.location).parent))
    stamped = copy.deepcopy(nb)  # the stamp as `nbrepro stamp` would write it; the file stays as it is
    if not apply_stamp(stamped, path, match.session_id):
        return match.session_id, None
    cells = {str(i): c.metadata["nbrepro"] for i, c in enumerate(stamped.cells) if "nbrepro" in c.get("metadata", {})}
    return match.session_id, {"notebook": stamped.metadata["nbrepro"], "cells": cells}
