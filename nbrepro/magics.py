"""``%nbrepro``: thin line magics over the recorder."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .status import StatusReport

if TYPE_CHECKING:
    from .recorder import Recorder

USAGE = """\
%nbrepro status          what is being recorded, and any capture problem
%nbrepro off | on        pause or resume recording
%nbrepro notebook PATH   name the notebook when the frontend does not
%nbrepro seed N          seed random, numpy, torch and tensorflow, and record it
%nbrepro track PATH      record a data file or folder (recursive) with every cell"""


@magics_class
class NbreproMagics(Magics):
    def __init__(self, shell: Any, recorder: Recorder) -> None:
        super().__init__(shell)
        self.recorder = recorder

    @line_magic
    def nbrepro(self, line: str) -> None:
        """Control nbrepro's recording. Subcommands:

        %nbrepro status          what is being recorded, and any capture problem
        %nbrepro off | on        pause or resume recording
        %nbrepro notebook PATH   name the notebook when the frontend does not
        %nbrepro seed N          seed random, numpy, torch and tensorflow, and record it
        %nbrepro track PATH      record a data file or folder (recursive) with every cell
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%nbrepro: {exc}\n{USAGE}") from None
        if not words:
            raise UsageError(f"%nbrepro needs a subcommand\n{USAGE}")
        command, args = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(f"%nbrepro: unknown subcommand {command!r}\n{USAGE}")
        handler(args)

    def _cmd_status(self, args: list[str]) -> None:
        _no_args("status", args)
        from IPython.display import display

        self.recorder.flush(timeout=5.0)
        display(StatusReport.of(self.recorder))

    def _cmd_off(self, args: list[str]) -> None:
        _no_args("off", args)
        self.recorder.paused = True
        print("nbrepro: recording paused; %nbrepro on resumes it")

    def _cmd_on(self, args: list[str]) -> None:
        _no_args("on", args)
        self.recorder.paused = False
        print("nbrepro: recording")

    def _cmd_notebook(self, args: list[str]) -> None:
        if len(args) != 1:
            raise UsageError("usage: %nbrepro notebook PATH")
        if not args[0].endswith(".ipynb"):
            raise UsageError(f"%nbrepro notebook: {args[0]!r} is not a .ipynb path")
        self.recorder.notebook_override = args[0]

    def _cmd_seed(self, args: list[str]) -> None:
        if len(args) != 1 or not args[0].isdigit():
            raise UsageError("usage: %nbrepro seed N   (N an integer in [0, 2**32))")
        try:
            done = self.recorder.seed(int(args[0]))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(f"nbrepro: seeded {', '.join(done)} with {args[0]}")

    def _cmd_track(self, args: list[str]) -> None:
        if len(args) != 1:
            raise UsageError("usage: %nbrepro track PATH")
        try:
            shown = self.recorder.track(args[0])
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
        print(f"nbrepro: tracking {shown}")


def _no_args(command: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"%nbrepro {command} takes no arguments, got {' '.join(args)!r}")
