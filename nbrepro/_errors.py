"""The exceptions nbrepro raises on purpose, each carrying the exit code the CLI maps it to.

    NbreproError             exit_code 2: bad input, reported as one line
     ├── UsageError           a command or magic used the wrong way
     ├── NotebookError        a notebook that cannot be read
     ├── StoreError           a store that is missing, unreadable or has no such run
     ├── CheckFailed          exit_code 1: a check ran and failed (verify found differences,
     │    │                   export's generated tests failed, the hash chain is broken)
     │    ├── ExportError     the export could not finish: pip-compile or its venv failed
     │    └── VerifyError     the rerun could not run to its end
     └── InternalError        exit_code 3: a bug in nbrepro, not the user's input

    NotebookRepaired         a warning (not an error): a notebook read with its cell ids
                             repaired; the CLI prints it as one line

``str(err)`` is the one-line message; a ``CheckFailed`` whose report was already printed
carries an empty message and prints nothing more. The CLI maps the classes in one place
(``nbrepro.cli.main``).
"""

from __future__ import annotations


class NbreproError(Exception):
    """Base class; ``str(err)`` is the one-line message shown to the user."""

    exit_code = 2


class UsageError(NbreproError):
    pass


class NotebookError(NbreproError):
    pass


class StoreError(NbreproError):
    pass


class CheckFailed(NbreproError):
    exit_code = 1


class ExportError(CheckFailed):
    pass


class VerifyError(CheckFailed):
    pass


class InternalError(NbreproError):
    exit_code = 3


class NotebookRepaired(UserWarning):
    pass
