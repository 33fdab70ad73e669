"""The notebook a papermill run is writing, read from the papermill process that started us.

papermill tells its kernel nothing about the notebook: no ``JPY_SESSION_NAME`` (a kernel
started by ``!papermill`` in a Jupyter notebook even inherits the *calling* notebook's), and
nothing in the namespace. But papermill starts the kernel itself (jupyter_client's
``Popen``), so the parent process's command line names the input and the output notebook,
and its working directory is where relative paths start (or ``--cwd``, which papermill
changes into before it starts the kernel). The output is the notebook with the injected
parameters and the outputs of this run, so it is the one the records belong to.

The papermill Python API (``papermill.execute_notebook``) leaves no such trace; its records
are linked to the notebook by their contents (``nbrepro.notebook.sessions``).
``nbrepro.capture.launcher`` reads the parent process; this module parses papermill's part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from ..notebook.params import papermill_value

# papermill's options that take values, and how many (papermill 2.x ``papermill --help``);
# every other option is a flag. tests/unit/test_papermill_hint.py checks this against the
# installed papermill's own command.
VALUE_OPTIONS = {
    "--parameters": 2, "-p": 2,
    "--parameters_raw": 2, "-r": 2,
    "--parameters_file": 1, "-f": 1,
    "--parameters_yaml": 1, "-y": 1,
    "--parameters_base64": 1, "-b": 1,
    "--engine": 1,
    "--autosave-cell-every": 1,
    "--kernel": 1, "-k": 1,
    "--language": 1, "-l": 1,
    "--cwd": 1,
    "--stdout-file": 1,
    "--stderr-file": 1,
    "--log-level": 1,
    "--start-timeout": 1, "--start_timeout": 1,
    "--execution-timeout": 1,
}
_SCRIPT_NAMES = {"papermill", "papermill.exe", "papermill-script.py"}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def papermill_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments after ``papermill`` (console script or ``python -m papermill``), or None
    when ``argv`` is not a papermill command."""
    return command_args(argv, _SCRIPT_NAMES, module="papermill")


def command_args(argv: Sequence[str], scripts: set[str], module: str | None) -> list[str] | None:
    """The arguments of a command started as one of the console ``scripts`` (directly or by
    an interpreter) or as ``python -m module``; None when ``argv`` is another command."""
    if argv and PurePath(argv[0]).name.lower() in scripts:
        return list(argv[1:])
    i = 1  # after the interpreter: its options, then the script or -m module
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return list(argv[i + 2:]) if module is not None and argv[i + 1:i + 2] == [module] else None
        if arg in ("-X", "-W"):
            i += 2
        elif arg.startswith("-"):
            if arg.startswith("-c"):
                return None
            i += 1
        else:
            return list(argv[i + 1:]) if PurePath(arg).name.lower() in scripts else None
    return None


def parse(args: Sequence[str]) -> tuple[list[str], dict[str, list[list[str]]]]:
    """papermill's positional arguments and its value options (name -> list of values), the
    way click reads them: ``--opt value``, ``--opt=value``, ``-kvalue``, ``--`` ends options."""
    positional: list[str] = []
    options: dict[str, list[list[str]]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, attached = arg.partition("=")
        elif arg.startswith("-") and len(arg) > 1:  # "-" alone is stdin/stdout
            name, attached = arg[:2], arg[2:]
            eq = "=" if attached else ""
        else:
            positional.append(arg)
            continue
        n = VALUE_OPTIONS.get(name)
        if n is None:
            continue  # a flag
        values = [attached] if eq else []
        values.extend(args[i:i + n - len(values)])
        i += n - (1 if eq else 0)
        options.setdefault(_canonical(name), []).append(values)
    return positional, options


def notebook_from_argv(argv: Sequence[str], cwd: str, environ: Mapping[str, str]) -> str | None:
    """The absolute path of the output notebook of the papermill command ``argv`` whose
    process now runs in ``cwd``, else its input notebook when the output is not a local
    file (``-``, ``s3://…``); None when ``argv`` is not papermill's or names neither."""
    args = papermill_args(argv)
    if args is None:
        return None
    positional, options = parse(args)
    params = _parameters(options)
    cwd_option = [v[0] for v in options.get("--cwd", []) if v]
    bases = _original_cwds(Path(cwd), cwd_option[-1] if cwd_option else None, environ)
    for candidate in positional[1:2] + positional[:1]:  # output first, then input
        local = _local(candidate, params)
        if local is None:
            continue
        if local.is_absolute():
            return str(local)
        paths = [base / local for base in bases]
        return str(next((p for p in paths if p.exists()), paths[0]))
    return None


def _canonical(name: str) -> str:
    aliases = {"-p": "--parameters", "-r": "--parameters_raw", "-k": "--kernel", "-l": "--language",
               "-f": "--parameters_file", "-y": "--parameters_yaml", "-b": "--parameters_base64",
               "--start_timeout": "--start-timeout"}
    return aliases.get(name, name)


def _parameters(options: Mapping[str, list[list[str]]]) -> dict[str, object]:
    """``-p`` values typed as papermill types them, ``-r`` values as strings: output paths
    may be templates such as ``out-{scale}.ipynb``."""
    params: dict[str, object] = {}
    for pair in options.get("--parameters", []):
        if len(pair) == 2:
            params[pair[0]] = papermill_value(pair[1])
    for pair in options.get("--parameters_raw", []):
        if len(pair) == 2:
            params[pair[0]] = pair[1]
    return params


def _local(path: str, params: Mapping[str, object]) -> Path | None:
    if not path or path == "-" or _URL.match(path):
        return None
    if "{" in path:
        try:
            path = path.format(**params)
        except (KeyError, IndexError, ValueError, AttributeError):
            return None  # a template over parameters we cannot see (-y, -f, pm.run_uuid)
    return Path(path).expanduser()


def _original_cwds(now: Path, cwd_option: str | None, environ: Mapping[str, str]) -> list[Path]:
    """Where papermill's relative paths start: its working directory when it began, which is
    ``now`` unless ``--cwd`` moved it (papermill resolves its notebooks from where it began)."""
    if cwd_option is None:
        return [now]
    bases = []
    option = PurePath(os.path.normpath(cwd_option))
    if not option.is_absolute() and ".." not in option.parts:
        depth = 0 if str(option) == "." else len(option.parts)
        if depth <= len(now.parents):
            bases.append(now.parents[depth - 1] if depth else now)
    if environ.get("PWD"):
        bases.append(Path(environ["PWD"]))  # the shell's directory when papermill started
    return bases or [now]
