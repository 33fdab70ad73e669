"""The ``nbrepro`` command run in this process, through click's CliRunner isolation: the
same ``nbrepro.cli.main`` (its one error line and exit codes) without a new interpreter."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from click.testing import CliRunner


def nbrepro_main(cwd: Path, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``nbrepro ARGS`` run in ``cwd``."""
    from nbrepro.cli import main

    before = Path.cwd()
    # main() installs its own SIGINT/SIGTERM handling; this process (and the kernels later
    # tests start from it, which inherit an ignored SIGINT) keeps its own
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with CliRunner().isolation() as (out, err, _both):
        os.chdir(cwd)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os.chdir(before)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return code, out.getvalue().decode(), err.getvalue().decode()
