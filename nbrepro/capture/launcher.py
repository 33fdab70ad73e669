"""The notebook named by the command that started this kernel: papermill, ``jupyter execute``
or ``jupyter nbconvert --execute``.

None of them tells its kernel which notebook it runs (no ``JPY_SESSION_NAME``; one seen in
such a kernel was inherited from the notebook that ran the command). But each starts the
kernel itself, so the parent process's command line names the notebook, and its working
directory is where relative paths start. ``jupyter execute`` and nbconvert take several
notebooks and run them one kernel each: the candidates are all of them, and the recorder
keeps the one whose cells hold the cell that ran (``pick``).

Read once per kernel, in the recorder's worker (psutil stays off the load path).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from .papermill import command_args, notebook_from_argv, papermill_args

# traitlets flags (options without a value) of jupyter-execute (nbclient) and jupyter-nbconvert;
# any other ``--name`` without ``=`` takes the next argument as its value.
_FLAGS = {
    "allow-errors", "inplace", "debug", "y", "generate-config", "show-config", "show-config-json",
    "execute", "stdout", "clear-output", "no-prompt", "no-input", "coalesce-streams", "embed-images",
    "sanitize-html", "allow-chromium-download", "disable-chromium-sandbox", "version", "help", "help-all",
    "show-input",
}
# options whose value is an output path: never the notebook being run
_OUTPUTS = {"output", "output-dir", "NbClientApp.output_base", "NbConvertApp.output_base", "FilesWriter.build_directory"}
_COMMANDS = {"jupyter-execute": "jupyter execute", "jupyter-nbconvert": "jupyter nbconvert"}


@dataclass(frozen=True)
class LauncherHint:
    """The notebooks the launching command names (absolute paths), and which command it was."""

    candidates: tuple[str, ...]
    found_by: str  # "papermill", "jupyter execute" or "jupyter nbconvert"

    def narrowed(self, contains: Callable[[str], bool]) -> LauncherHint:
        """The hint for a cell that ran: the candidates whose cells hold it (``contains(path)``),
        all of them when none does. A kernel runs one notebook, so once one candidate is left
        it stays."""
        if len(self.candidates) <= 1:
            return self
        holding = tuple(c for c in self.candidates if contains(c))
        return LauncherHint(holding, self.found_by) if holding else self

    @property
    def path(self) -> str | None:
        return self.candidates[0] if self.candidates else None


def prefer(
    hint: tuple[str | None, str | None], launcher: str | None, found_by: str = "papermill"
) -> tuple[str | None, str | None]:
    """The launching command's notebook beats every frontend hint but ``%nbrepro notebook``:
    papermill and jupyter's commands set no ``JPY_SESSION_NAME``, so one in a kernel they
    started was inherited, and names the notebook that ran ``!papermill``, not this one."""
    if launcher and hint[1] != "%nbrepro notebook":
        return launcher, found_by
    return hint


def parent_hint() -> LauncherHint | None:
    """What the process that started this kernel says about its notebook; never raises."""
    try:
        import psutil

        parent = psutil.Process(os.getppid())
        return hint_from_argv(parent.cmdline(), parent.cwd(), os.environ)
    except Exception:  # noqa: BLE001 - no parent, no permission, no psutil: no hint
        return None


def hint_from_argv(argv: Sequence[str], cwd: str, environ: Mapping[str, str]) -> LauncherHint | None:
    if papermill_args(argv) is not None:
        path = notebook_from_argv(argv, cwd, environ)
        return LauncherHint((path,), "papermill") if path else None
    found = jupyter_args(argv)
    if found is None:
        return None
    command, args = found
    candidates = tuple(str(p) for p in _notebooks(args, Path(cwd), globs=command == "jupyter nbconvert"))
    return LauncherHint(candidates, command) if candidates else None


def jupyter_args(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """("jupyter execute" | "jupyter nbconvert", its arguments) when ``argv`` is one of those
    commands (``jupyter-execute``, ``jupyter execute``, ``python -m nbconvert``), else None."""
    for script, command in _COMMANDS.items():
        args = command_args(argv, {script, f"{script}.exe", f"{script}-script.py"}, module=None)
        if args is not None:
            return command, args
    args = command_args(argv, {"jupyter", "jupyter.exe", "jupyter-script.py"}, module="jupyter")
    if args and args[0] in ("execute", "nbconvert"):
        return f"jupyter {args[0]}", args[1:]
    args = command_args(argv, set(), module="nbconvert")
    if args is not None:
        return "jupyter nbconvert", args
    args = command_args(argv, set(), module="nbclient")
    if args is not None:
        return "jupyter execute", args
    return None


def _notebooks(args: Sequence[str], cwd: Path, globs: bool) -> list[Path]:
    """The notebook files the arguments name, in order, as existing absolute paths.
    nbconvert expands glob patterns and tries ``NAME.ipynb`` for ``NAME``; nbclient takes
    its paths literally."""
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("-") and len(arg) > 1:
            name = arg.lstrip("-")
            if "=" in name or name in _FLAGS:
                continue
            # traitlets alias with its value in the next argument
            if i < len(args):
                value = args[i]
                if name in _OUTPUTS or not value.lower().endswith(".ipynb"):
                    i += 1
            continue
        positional.append(arg)
    found: list[Path] = []
    for arg in positional:
        base = Path(arg) if PurePath(arg).is_absolute() else cwd / arg
        matches = [base]
        if globs:
            patterns = [arg] if arg.lower().endswith(".ipynb") else [arg, arg + ".ipynb"]
            root = None if PurePath(arg).is_absolute() else str(cwd)
            matches = [Path(cwd, m) for pattern in patterns for m in sorted(glob.glob(pattern, root_dir=root))] or [base]
        for p in matches:
            if p.suffix.lower() == ".ipynb" and p.is_file() and p not in found:
                found.append(p)
    return found
