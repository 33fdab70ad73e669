"""``nbrepro verify``: rerun a notebook in a fresh kernel; a verdict and causes per cell."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .._errors import CheckFailed, UsageError
from ..notebook.read import write_atomic
from ._common import console


@click.command()
@click.argument("notebook")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (schema nbrepro.verify/1).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report.")
@click.option("--timeout", type=click.IntRange(min=1), default=600, show_default=True, help="Seconds per cell.")
@click.option("--start-timeout", type=click.IntRange(min=1), default=60, show_default=True,
              help="Seconds the kernel has to start.")
@click.option("--kernel", "kernel_name", default="python3", show_default=True, help="Kernel to run the notebook in.")
@click.option("-p", "--parameter", "parameters", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Run with this parameter value instead of the recorded one (papermill style).")
@click.option("--session", default=None, metavar="ID",
              help="Compare with this recorded session (an id or a prefix of one) instead of the one found.")
@click.option("--recorded-env", is_flag=True,
              help="Rerun in a venv built from the recorded session's lock (nbrepro lock), kept under the store folder.")
@click.option("--find-links", type=click.Path(exists=True, file_okay=False), default=None,
              help="With --recorded-env: also look for packages in this folder.")
@click.option("--no-index", is_flag=True, help="With --recorded-env: do not use the package index.")
def verify(notebook: str, as_json: bool, html_file: str | None, timeout: int, start_timeout: int, kernel_name: str,
           parameters: tuple[tuple[str, str], ...], session: str | None, recorded_env: bool, find_links: str | None,
           no_index: bool) -> None:
    """Rerun NOTEBOOK in a fresh kernel and compare every cell with its record.

    The recorded session is found by the notebook's cell contents, whatever ran it (the
    recorded path is a hint), else taken from the notebook's stamp. With --recorded-env the
    rerun runs in a venv of the session's lock (see nbrepro lock), so a difference that
    disappears there is a package cause, and one that persists is not.

    Exit codes: 0 every cell reproduced, 1 differences (or the rerun failed), 2 bad input,
    130 and 143 stopped by SIGINT and SIGTERM (the kernel is shut down first).
    """
    from ..notebook.params import parse_param
    from ..verify.report import terminal
    from ..verify.runner import verify as run_verify

    params = dict(parse_param(name, value) for name, value in parameters)
    if (find_links or no_index) and not recorded_env:
        raise UsageError("--find-links and --no-index say where --recorded-env's packages come from: add --recorded-env")
    run = functools.partial(
        run_verify, notebook, params=params, timeout=timeout, start_timeout=start_timeout, kernel_name=kernel_name,
        session=session, recorded_env=recorded_env, find_links=Path(find_links) if find_links else None, no_index=no_index,
    )
    if html_file is not None and not Path(html_file).resolve().parent.is_dir():
        raise UsageError(f"--html {html_file}: its folder does not exist")
    out = console()
    show_progress = not as_json and sys.stdout.isatty()
    if show_progress:
        from rich.progress import Progress

        with Progress(console=out, transient=True) as progress:
            task = progress.add_task(f"rerunning {notebook}", total=None)
            report, rerun = run(on_cell=lambda done, total: progress.update(task, completed=done, total=total))
    else:
        report, rerun = run()
    if html_file is not None:
        from ..verify.html import page

        write_atomic(Path(html_file), page(report, rerun))  # a new file gets the umask's mode
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        terminal(report, out)
    if report["verdict"] != "reproduced":
        raise CheckFailed("")  # the report says what differs

