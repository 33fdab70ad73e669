"""``nbrepro pull mlflow:RUN_ID``: a colleague's session into this project's store."""

from __future__ import annotations

import click

from .._errors import CheckFailed, NbreproError, StoreError, UsageError
from ..capture import describe
from ..project import find_root, relative_path, store_dir
from ..store import SQLiteStore
from .push import mlflow_client


@click.command()
@click.argument("source", metavar="mlflow:RUN_ID")
@click.option("--tracking-uri", metavar="URI", help="The tracking server [default: $NBREPRO_MLFLOW_TRACKING_URI].")
def pull(source: str, tracking_uri: str | None) -> None:
    """Bring the session pushed as MLflow run RUN_ID into this project's store (made if
    missing), so that `nbrepro verify` finds it and names causes as with the author's store.

    The run is checked first, and nothing is written unless it holds a whole session: every
    record's hash, every blob's id, and the run's anchor against its last record. Records
    the store holds already are not added twice.
    """
    from ..team import mlflow_run

    kind, sep, run_id = source.partition(":")
    if kind != "mlflow" or not sep or not run_id.strip():
        raise UsageError(f"{source!r}: give mlflow:RUN_ID")
    client, uri = mlflow_client(tracking_uri)
    try:
        fetched = mlflow_run.fetch(client, run_id.strip())
    except NbreproError:
        raise
    except Exception as exc:  # MLflow's and the network's errors: one line
        raise StoreError(f"cannot read mlflow:{run_id} from {uri}: {describe(exc)}") from exc
    if fetched.problems:
        for line in fetched.problems:
            click.echo(f"broken: {line}")
        raise CheckFailed(f"mlflow:{run_id} does not hold a whole session ({len(fetched.problems)} problem(s)); nothing pulled")
    root = find_root()
    folder = store_dir(root)
    store = SQLiteStore(folder)
    try:
        added = mlflow_run.pull(fetched, store)
    finally:
        store.close()
    already = len(fetched.records) - added
    last = fetched.records[-1]
    click.echo(
        f"pulled session {fetched.session_id[:8]} from mlflow run {run_id}: {added} record(s) into"
        f" {relative_path(folder, root)}{f' ({already} already there)' if already else ''};"
        f" every hash checked, the run's anchor (seq {last['seq']}) is its last record"
    )
