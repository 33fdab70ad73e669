"""The ``nbrepro`` command: a click group, one thin module per subcommand.

Every error leaves as one line on stderr, ``nbrepro: error: …``, with the exit code its
exception class carries (2 for bad input).
"""

from __future__ import annotations

import os
import sys

import click

from .._errors import NbreproError
from .._version import __version__
from .demo import demo
from .export import export
from .log import log
from .show import show
from .stamp import stamp
from .verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="nbrepro")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Reproducible Jupyter: record every cell run, export, verify."""
    if ctx.invoked_subcommand is None:  # plain `nbrepro`: the help, exit 0
        click.echo(ctx.get_help())


cli.add_command(log)
cli.add_command(show)
cli.add_command(demo)
cli.add_command(verify)
cli.add_command(export)
cli.add_command(stamp)


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="nbrepro", standalone_mode=False)
    except NbreproError as exc:
        _fail(str(exc), exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("NBREPRO_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set NBREPRO_DEBUG=1 for a traceback)", 3)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    if message.strip():  # a failed check whose report is printed already says nothing more
        click.echo(f"nbrepro: error: {message.strip().splitlines()[0]}", err=True)
    sys.exit(code)
