"""``%nbrepro``: thin line magics over the recorder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class

from ..capture.seeds import seeded_at_import
from .status import StatusReport

if TYPE_CHECKING:
    from argparse import Namespace

    from ..recorder import Recorder

    _F = TypeVar("_F", bound=Callable[..., Any])

    class _Decorator(Protocol):
        def __call__(self, func: _F, /) -> _F: ...

    # IPython.core.magic_arguments carries no annotations, and line_magic's say it may return
    # a decorator (it does when given a name); as used here, these are their signatures.
    def magic_arguments() -> _Decorator: ...
    def argument(*args: Any, **kwargs: Any) -> _Decorator: ...
    def parse_argstring(magic_func: Callable[..., Any], argstring: str) -> Namespace: ...
    def line_magic(func: _F, /) -> _F: ...
else:
    from IPython.core.magic import line_magic
    from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

_COMMANDS = {
    "status": "what is being recorded, and any capture problem",
    "off": "pause recording",
    "on": "resume recording",
    "notebook": "name the notebook (PATH) when nothing else does",
    "seed": "seed random, numpy, torch and tensorflow with N, and record it",
    "track": "record a data file or folder (PATH, recursive) with every cell",
}
_VALUE = {"notebook": "PATH", "seed": "N", "track": "PATH"}


@magics_class
class NbreproMagics(Magics):
    def __init__(self, shell: Any, recorder: Recorder) -> None:
        super().__init__(shell)
        self.recorder = recorder

    @magic_arguments()
    @argument("command", choices=list(_COMMANDS), help="; ".join(f"{k}: {v}" for k, v in _COMMANDS.items()))
    @argument("value", nargs="?", help="PATH for notebook and track, N (an integer in [0, 2**32)) for seed")
    @line_magic
    def nbrepro(self, line: str) -> None:
        """Control nbrepro's recording."""
        args = parse_argstring(self.nbrepro, line)  # a UsageError with the usage on bad input
        wanted = _VALUE.get(args.command)
        if wanted is None and args.value is not None:
            raise UsageError(f"%nbrepro {args.command} takes no argument, got {args.value!r}")
        if wanted is not None and args.value is None:
            raise UsageError(f"usage: %nbrepro {args.command} {wanted}")
        getattr(self, f"_cmd_{args.command}")(args.value)

    def _cmd_status(self, _value: None) -> None:
        from IPython.display import display

        self.recorder.flush(timeout=5.0)
        display(StatusReport.of(self.recorder))  # type: ignore[no-untyped-call]

    def _cmd_off(self, _value: None) -> None:
        self.recorder.paused = True
        print("nbrepro: recording paused; %nbrepro on resumes it")

    def _cmd_on(self, _value: None) -> None:
        self.recorder.paused = False
        print("nbrepro: recording")

    def _cmd_notebook(self, path: str) -> None:
        if not path.endswith(".ipynb"):
            raise UsageError(f"%nbrepro notebook: {path!r} is not a .ipynb path")
        self.recorder.notebook_override = path

    def _cmd_seed(self, value: str) -> None:
        if not value.isdigit():
            raise UsageError("usage: %nbrepro seed N   (N an integer in [0, 2**32))")
        try:
            done = self.recorder.seed(int(value))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        later = seeded_at_import(sys.modules)
        print(f"nbrepro: seeded {_and(list(done))} with {value}"
              + (f"; {_and(later)} will be seeded with it when imported" if later else ""))

    def _cmd_track(self, path: str) -> None:
        try:
            shown = self.recorder.track(path)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
        print(f"nbrepro: tracking {shown}")


def _and(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
