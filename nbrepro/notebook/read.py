"""Reading notebooks given on the command line: one clear error for every way they can be bad.

Also the one typed door to nbformat's untyped reader, writer and constructors, so the rest
of the package type-checks without ignores.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import nbformat

from .._errors import NotebookError, NotebookRepaired

# Deeper than any notebook a tool writes (widget state and JSON outputs stay far below it),
# and shallow enough that every recursive reader after this one (nbformat's, deepcopy, the
# canonical JSON of outputs) stays inside Python's recursion limit.
MAX_DEPTH = 100


class NotebookFile(NamedTuple):
    nb: nbformat.NotebookNode
    raw: dict[str, Any]  # the file's JSON as it is
    text: str  # the file's text


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` as nbformat v4; a ``NotebookError`` (exit 2) if it is not one."""
    return read_notebook_json(path).nb


def read_notebook_json(path: str | Path) -> NotebookFile:
    """The notebook at ``path`` as nbformat v4, with the file's JSON and text as they are
    (for a writer that must change nothing else: nbformat repairs cell ids in what it reads).

    Repaired cell ids are said in one ``NotebookRepaired`` warning; the CLI prints it as one
    line, or folds it into the error line when the command then fails."""
    p = Path(path)
    if not p.exists():
        raise NotebookError(f"{path}: no such file")
    if p.is_dir():
        raise NotebookError(f"{path} is a directory, not a notebook")
    if not p.is_file():  # a FIFO or a device would block the read, or never end
        raise NotebookError(f"{path} is not a regular file")
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
    except RecursionError:
        raise NotebookError(f"{path}: not a Jupyter notebook (JSON nested more than {MAX_DEPTH} levels deep)") from None
    _check_structure(path, text, raw)
    with warnings.catch_warnings(), _quiet_nbformat():
        # nbformat warns (several lines each) about the ids it adds or repairs: said in one line below
        warnings.simplefilter("ignore")
        try:
            nb: nbformat.NotebookNode = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for malformed input
            raise NotebookError(f"{path}: not a Jupyter notebook ({_first_line(exc)})") from None
        repaired = _repair_ids(nb, raw)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            raise NotebookError(f"{path}: not a valid notebook ({_first_line(exc)})") from None
    if repaired:
        warnings.warn(f"{path}: {repaired}, as Jupyter does when it opens it", NotebookRepaired, stacklevel=2)
    return NotebookFile(nb, raw, text)


def _check_structure(path: str | Path, text: str, raw: Any) -> None:
    """What nbformat would not refuse but get wrong: without a top-level ``nbformat`` it
    reads the file as version 1 and drops every source; an old version it upgrades (stamp
    would then rewrite the file); lone surrogates it keeps, and writing them fails later."""
    if not isinstance(raw, dict):
        raise NotebookError(f"{path}: not a Jupyter notebook (its JSON is not an object)")
    major = raw.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise NotebookError(f"{path}: not a Jupyter notebook (no integer \"nbformat\" version at its top level)")
    if major < 4:
        # cell ids, parameters tags and recorded positions do not exist before v4
        raise NotebookError(
            f"{path}: nbformat {major} notebook; convert it first: jupyter nbconvert --to notebook --nbformat 4 {path}"
        )
    if _depth_over(raw, MAX_DEPTH):
        raise NotebookError(f"{path}: not a Jupyter notebook (JSON nested more than {MAX_DEPTH} levels deep)")
    if _SURROGATE_ESCAPE.search(text):  # only an escape can put one there: the text itself is UTF-8
        try:
            json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise NotebookError(f"{path}: not a Jupyter notebook (a string holds a lone surrogate, not text)") from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iterative: a recursive
    walk would itself fail on what it is meant to catch)."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                todo.append((child, depth + 1))
    return False


# -- nbformat, typed: its functions carry no annotations ------------------------------------


def from_json(content: Mapping[str, Any]) -> nbformat.NotebookNode:
    """A notebook as loaded JSON (a contents model's ``content``), as a new NotebookNode."""
    nb: nbformat.NotebookNode = nbformat.from_dict(content)  # type: ignore[no-untyped-call]
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as nbformat writes it (its own version, indent 1, no trailing newline)."""
    text: str = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    return text


def read_file(path: Path) -> nbformat.NotebookNode:
    """nbformat's own read of a notebook file as v4, without ``read_notebook``'s checks: for
    notebooks nbrepro ships or wrote itself."""
    nb: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return nb


def write_file(nb: nbformat.NotebookNode, path: Path) -> None:
    """nbformat's own write, in place."""
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]


def new_code_cell(source: str, tags: list[str]) -> nbformat.NotebookNode:
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(source, metadata={"tags": tags})  # type: ignore[no-untyped-call]
    return cell


def _repair_ids(nb: nbformat.NotebookNode, raw: Any) -> str:
    """Cell ids as Jupyter reads them: a notebook of nbformat 4.0-4.4 whose cells carry ids
    (written by a newer script) is read as 4.5, missing ids are added and duplicate ones
    replaced. Returns what was repaired ("" for nothing)."""
    cells = nb.get("cells") or []
    said = []
    if nb.get("nbformat_minor", 0) < 5 and any(isinstance(c.get("id"), str) for c in cells):
        nb.nbformat_minor = 5
        said.append("read as nbformat 4.5 (its cells carry ids)")
    if nb.get("nbformat_minor", 0) < 5:
        return "; ".join(said)
    raw_cells = [c for c in (raw.get("cells") if isinstance(raw, dict) else None) or [] if isinstance(c, dict)]
    missing = sum(1 for c in raw_cells if not c.get("id"))
    raw_ids = [c["id"] for c in raw_cells if isinstance(c.get("id"), str) and c["id"]]
    duplicate = len(raw_ids) - len(set(raw_ids))  # nbformat may have replaced them already
    seen: set[str] = set()
    for cell in cells:
        if not isinstance(cell.get("id"), str) or not cell["id"] or cell["id"] in seen:
            cell["id"] = _new_id(seen)
        seen.add(cell["id"])
    if missing:
        said.append(f"{missing} missing cell id(s) added")
    if duplicate:
        said.append(f"{duplicate} duplicate cell id(s) replaced")
    return "; ".join(said)


def _new_id(taken: set[str]) -> str:
    while True:
        candidate = uuid.uuid4().hex[:8]
        if candidate not in taken:
            return candidate


@contextmanager
def _quiet_nbformat() -> Iterator[None]:
    """nbformat also logs its repairs (through traitlets' logger, or its own); they are
    reported in one line instead."""
    logs = [logging.getLogger(name) for name in ("nbformat", "traitlets")]
    before = [log.disabled for log in logs]
    for log in logs:
        log.disabled = True
    try:
        yield
    finally:
        for log, was in zip(logs, before, strict=True):
            log.disabled = was


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename: a reader never sees half a file.

    A symlink is written through (its target is replaced), and the file keeps its mode; a new
    file gets the mode the umask gives, not the temporary file's 0600."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
