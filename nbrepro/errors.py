"""The exceptions nbrepro raises on purpose.

    NbreproError            exit_code 2: bad input, reported as one line
     ├── UsageError          a command or magic used the wrong way
     ├── NotebookError       a notebook that cannot be read
     └── StoreError          a store that is missing, unreadable or has no such run

Each class carries the exit code the CLI maps it to, so the mapping lives in one place.
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
