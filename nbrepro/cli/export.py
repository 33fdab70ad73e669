"""``nbrepro export``: a notebook → an installable package with a lock and its own tests."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click


@click.command()
@click.argument("notebook")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to create (absent or empty).")
@click.option("--name", default=None, help="Package name (a Python identifier); default: from the notebook's name.")
@click.option("--no-lock", is_flag=True, help="Write requirements.in only; do not run pip-compile.")
@click.option("--isolated", is_flag=True, help="Run the generated tests in a fresh venv installed from the lock.")
@click.option("--find-links", type=click.Path(exists=True, file_okay=False), default=None,
              help="Also look for packages in this folder (pip-compile and --isolated).")
@click.option("--no-index", is_flag=True, help="Do not use the package index (pip-compile and --isolated).")
@click.option("--session", default=None, metavar="ID",
              help="Export from this recorded session (an id or a prefix of one) instead of the one found.")
def export(notebook: str, out: str, name: str | None, no_lock: bool, isolated: bool, find_links: str | None,
           no_index: bool, session: str | None) -> None:
    """Export NOTEBOOK as a Python package with a hash-pinned lock and tests that check
    it reproduces the recorded outputs; then run those tests.

    Exit codes: 0 the generated tests pass, 1 they fail, 2 bad input.
    """
    from .._errors import CheckFailed, UsageError
    from ..export.package import export as make
    from ..export.package import run_tests
    from ..record.redact import redact_value

    if isolated and no_lock:
        raise UsageError("--isolated installs from requirements.lock; drop --no-lock")
    links = Path(find_links) if find_links else None
    with _progress(f"exporting {notebook}") as step:
        done = make(notebook, out, name=name, make_lock=not no_lock, find_links=links, no_index=no_index,
                    session=session, on_step=step)
    echo = click.echo
    echo(f"exported {notebook} to {done.folder} as package {done.package}")
    echo(f"recorded side: {done.recorded}")
    for rel in done.files:
        echo(f"  made {rel}")
    for rewrite in done.transformed.rewrites:
        detail = rewrite.detail.removeprefix(f"cell {rewrite.cell}: ")
        echo(f"cell {rewrite.cell}: {rewrite.kind}: {detail}")
    steps, explicit = len(done.transformed.steps), done.transformed.explicit
    echo(f"steps: {steps}, {explicit} of them explicit (names passed as arguments and return values only)")
    params = done.transformed.parameters
    if params:
        echo("parameters: " + ", ".join(f"{p.name}: {p.type} = {redact_value(p.name, p.source)}" for p in params))
    else:
        echo("no parameters cell: run() takes no parameters")
    for where, cells in done.outputs_from.items():
        if cells:
            label = "the store" if where == "store" else "the notebook's saved outputs"
            echo(f"recorded outputs from {label}: cells {', '.join(map(str, cells))}")
    for module, where in done.local_modules.items():
        echo(f"local module {module} ({where}) copied into {done.package}.local; its imports now name it there")
    for note in done.missing:
        echo(f"not carried over: {note}")
    with _progress("running the generated tests") as step:
        passed, output = run_tests(done.folder, isolated=isolated, find_links=links, no_index=no_index, on_step=step)
    where = "in a fresh venv" if isolated else "in this Python"
    if not passed:
        echo(output[-3000:].rstrip())
        echo(f"generated tests FAILED {where}")
        raise CheckFailed("")  # the output above says which
    echo(f"generated tests passed {where}")


@contextlib.contextmanager
def _progress(first: str) -> Iterator[Callable[[str], None]]:
    """A spinner naming the step under way (the lock, a venv install, the tests: each can take a
    minute), as verify shows its rerun; nothing when stdout is not a terminal."""
    if not sys.stdout.isatty():
        yield lambda step: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ._common import console

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console(),
                  transient=True) as progress:
        task = progress.add_task(first, total=None)
        yield lambda step: progress.update(task, description=step)
