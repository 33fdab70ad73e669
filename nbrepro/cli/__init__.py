"""The ``nbrepro`` command: a click group, one thin module per subcommand.

Every error leaves as one line on stderr, ``nbrepro: error: …``, with the exit code its
exception class carries (2 for bad input).
"""

from __future__ import annotations

import os
import signal
import sys
import warnings

import click

from .._errors import NbreproError, NotebookRepaired
from .._version import __version__
from .crate import crate
from .demo import demo
from .export import export
from .gc import gc
from .lock import lock
from .log import log
from .prov import prov
from .pull import pull
from .push import push
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
cli.add_command(gc)
cli.add_command(push)
cli.add_command(pull)
cli.add_command(prov)
cli.add_command(crate)
cli.add_command(lock)


class _Stopped(BaseException):
    """SIGINT or SIGTERM, raised in the main thread so every cleanup on the way out runs (a
    kernel's shutdown, temporary folders). Not a KeyboardInterrupt, which click turns into an
    Abort after printing an empty line; not an Exception, which handlers would take for an error."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: object) -> None:
    # The cleanups are bounded (a kernel's shutdown: docs/verify.md), so a second signal
    # waits for them rather than cutting them short and leaving a kernel behind.
    _ignore_signals()
    raise _Stopped(signum)


def _ignore_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    # A notebook read with repaired cell ids warns (NotebookRepaired): one line after the
    # command, or folded into its one error line; other warnings show as Python shows them.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotebookRepaired)
        code, message = _run(argv)
        _ignore_signals()  # what is left is a line to print: a signal now would be a traceback
    notes = [str(w.message) for w in caught if issubclass(w.category, NotebookRepaired)]
    for w in caught:
        if not issubclass(w.category, NotebookRepaired):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if message is None:
        for note in notes:
            click.echo(f"nbrepro: warning: {note}", err=True)
        sys.exit(code)
    if message.strip():  # a failed check whose report is printed already says nothing more
        line = message.strip().splitlines()[0]
        click.echo(f"nbrepro: error: {line}" + "".join(f" (warning: {note})" for note in notes), err=True)
    sys.exit(code)


def _run(argv: list[str] | None) -> tuple[int, str | None]:
    """The exit code, and the error message (None: no error)."""
    try:
        code = cli.main(args=argv, prog_name="nbrepro", standalone_mode=False)
    except NbreproError as exc:
        return exc.exit_code, str(exc)
    except click.ClickException as exc:
        return exc.exit_code, exc.format_message()
    except _Stopped as stop:
        return 128 + stop.signum, "interrupted" if stop.signum == signal.SIGINT else "terminated"
    except click.exceptions.Abort:
        return 130, "aborted"
    except KeyboardInterrupt:
        return 130, "interrupted"
    except Exception as exc:
        if os.environ.get("NBREPRO_DEBUG"):
            raise
        return 3, f"internal error: {type(exc).__name__}: {exc} (set NBREPRO_DEBUG=1 for a traceback)"
    return (code if isinstance(code, int) else 0), None
