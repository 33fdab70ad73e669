"""Reading notebooks given on the command line: one clear error for every way they can be bad."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import nbformat

from .errors import NotebookError


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` as nbformat v4; a ``NotebookError`` (exit 2) if it is not one."""
    p = Path(path)
    if not p.exists():
        raise NotebookError(f"{path}: no such file")
    if p.is_dir():
        raise NotebookError(f"{path} is a directory, not a notebook")
    if p.suffix != ".ipynb":
        raise NotebookError(f"{path} is not a .ipynb notebook")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    major = raw.get("nbformat") if isinstance(raw, dict) else None
    if isinstance(major, int) and major < 4:
        # nbformat would upgrade it in memory; stamp would then rewrite the file as v4, and
        # cell ids, parameters tags and recorded positions do not exist before v4.
        raise NotebookError(
            f"{path}: nbformat {major} notebook; convert it first: jupyter nbconvert --to notebook --nbformat 4 {path}"
        )
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for malformed input
        raise NotebookError(f"{path}: not a Jupyter notebook ({_first_line(exc)})") from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise NotebookError(f"{path}: not a valid notebook ({_first_line(exc)})") from None
    return nb


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
