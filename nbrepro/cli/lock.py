"""``nbrepro lock``: a pip-tools lock (with hashes) of what a recorded session ran with."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("notebook", required=False)
@click.option("--session", default=None, metavar="ID",
              help="Lock this recorded session (an id or a prefix of one); without NOTEBOOK, from the store here.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the lock to this file (default: standard output).")
@click.option("--find-links", type=click.Path(exists=True, file_okay=False), default=None,
              help="Also look for packages in this folder.")
@click.option("--no-index", is_flag=True, help="Do not use the package index.")
@click.option("--all", "everything", is_flag=True, help="Lock the whole recorded installed set, not only what the session imported.")
def lock(notebook: str | None, session: str | None, out: str | None, find_links: str | None, no_index: bool,
         everything: bool) -> None:
    """Lock what NOTEBOOK's recorded session ran with: the distributions its cells imported,
    at the versions they loaded, and their dependencies at the recorded versions, hashed
    (pip-compile --generate-hashes), marked for the recorded Python and platform.

    The session comes from the store, else from the notebook's stamp, so a stamped notebook
    alone is enough. Distributions installed from a local folder or a VCS are named in the
    lock's header with their recorded origin. Exit codes: 0, 1 pip-compile failed, 2 bad input.
    """
    from .._errors import UsageError
    from ..notebook.lock import recorded_env, session_lock
    from ..notebook.read import write_atomic

    if out is not None and not Path(out).resolve().parent.is_dir():
        raise UsageError(f"-o {out}: its folder does not exist")
    env, title = recorded_env(Path(notebook) if notebook else None, session, everything=everything)
    made = session_lock(env, title=title, find_links=Path(find_links) if find_links else None, no_index=no_index)
    if out is None:
        click.echo(made.text, nl=False)
        return
    write_atomic(Path(out), made.text)
    requirements = sum(1 for line in made.text.splitlines() if line and not line[0].isspace() and not line.startswith("#"))
    click.echo(f"locked {title}: {requirements} requirement(s) into {out}")
    for name, origin in sorted(made.unlocked.items()):
        click.echo(f"not locked: {name} (installed from {origin}); no index or wheel folder provides it")
