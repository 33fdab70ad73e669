"""Parameters: the papermill-style parameters cell, its values, and ``-p`` values.

A cell is a parameters cell when the saved notebook tags it ``parameters`` or
``injected-parameters`` (papermill), or when its source starts with papermill's
``# Parameters`` comment (papermill's injected cell, also in notebooks never saved to disk).

Two command lines type a ``-p NAME VALUE`` differently, on purpose: papermill's own CLI
knows only ``True``/``False``/``None``, ints and floats (``papermill_value``, which the
capture side needs to fill in papermill's output path the way papermill does), while
``nbrepro verify -p`` takes any Python literal, so a list or a dict can be passed
(``python_value``). Both, the recorded assignments and the export's defaults rest on one
notion of a literal (``literal``).

Loaded with the extension (the recorder reads parameters cells): stdlib only, no nbformat.
Recorded values are redacted (``assignments``): they reach the store, the stamp and verify's
causes.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .._errors import UsageError
from ..record.redact import redact_value

PARAMETERS_TAG = "parameters"  # the notebook's own parameters cell
INJECTED_TAG = "injected-parameters"  # the cell papermill injected after it
PARAMETER_TAGS = (PARAMETERS_TAG, INJECTED_TAG)
PAPERMILL_COMMENT = "# Parameters"  # the first line of every cell papermill injects

# What ast.literal_eval raises for text or a node that is not a literal: a name or a call
# (ValueError), bad syntax, an unhashable key ({[]: 1}: TypeError), or input deep enough to
# exhaust the parser or the stack.
_NOT_LITERAL = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


# -- finding the cell ----------------------------------------------------------------------


def cell_tags(cell: Mapping[str, Any]) -> list[str]:
    """A cell's tags (``metadata.tags``), the strings among them only."""
    tags = (cell.get("metadata") or {}).get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def has_papermill_comment(source: str) -> bool:
    return source.lstrip().startswith(PAPERMILL_COMMENT)


def is_parameters_cell(source: str, tags: Sequence[str]) -> bool:
    """Whether a cell holds parameters: either tag, or papermill's comment (pass ``""``
    when only the tags are known)."""
    return any(t in PARAMETER_TAGS for t in tags) or has_papermill_comment(source)


def parameters_role(tags: Sequence[str]) -> Literal["parameters", "injected"] | None:
    """What a code cell is to the export: the notebook's own parameters cell (tagged
    ``parameters``, whatever else it is tagged), papermill's injected cell, or neither."""
    if PARAMETERS_TAG in tags:
        return "parameters"
    return "injected" if INJECTED_TAG in tags else None


def injection_point(cells: Sequence[Mapping[str, Any]]) -> tuple[int, bool]:
    """Where papermill puts injected values, as ``(index, replace)``: over the first code
    cell it injected before (``replace``), else into a new cell after the first cell with
    either tag, else into a new cell at the top."""
    tagged = [i for i, cell in enumerate(cells) if set(cell_tags(cell)) & set(PARAMETER_TAGS)]
    for i in tagged:
        if cells[i].get("cell_type") == "code" and INJECTED_TAG in cell_tags(cells[i]):
            return i, True
    return (tagged[0] + 1 if tagged else 0), False


def injected_source(params: Mapping[str, Any], replacing: str | None = None) -> str:
    """The source of papermill's injected cell setting ``params``. ``replacing`` is the
    injected cell already there: its values stay, and those of ``params`` are set after
    them, so ``-p a 1`` reruns a papermill run with only ``a`` changed."""
    assigned = "".join(f"{name} = {value!r}\n" for name, value in params.items())
    if replacing is None:
        return f"{PAPERMILL_COMMENT}\n{assigned}"
    before = replacing if has_papermill_comment(replacing) else f"{PAPERMILL_COMMENT}\n{replacing}"
    return before.rstrip("\n") + "\n\n# nbrepro verify -p\n" + assigned


# -- reading its values --------------------------------------------------------------------


def literal(value: ast.expr | str) -> Any:
    """The value of a Python literal (a node, or source text); ``ValueError`` when it is
    not one."""
    try:
        return ast.literal_eval(value)
    except _NOT_LITERAL as exc:
        raise ValueError(f"not a Python literal: {exc}") from None


def simple_assignment(stmt: ast.stmt) -> tuple[str, ast.expr, ast.expr | None] | None:
    """``(name, value, annotation)`` of ``name = value`` or ``name: annotation = value``;
    None for any other statement (a bare annotation, tuple targets, attributes, ``+=``)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value, None
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return stmt.target.id, stmt.value, stmt.annotation
    return None


def assignments(source: str) -> dict[str, Any]:
    """``name = literal`` and ``name: type = literal`` at the top level, in order, as a
    record holds them: a value whose name says it is a secret is ``REDACTED``, and secrets
    in the others are redacted (``nbrepro.record.redact.redact_value``).

    A value that is not a literal, or not JSON (records are JSON), is kept as its source
    text in ``{"expr": "..."}``.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, Any] = {}
    for stmt in tree.body:
        found = simple_assignment(stmt)
        if found is None:
            continue
        name, value, _annotation = found
        try:
            out[name] = literal(value)
        except ValueError:
            out[name] = {"expr": ast.unparse(value)}
        if not _json_safe(out[name]):
            out[name] = {"expr": ast.unparse(value)}
        out[name] = redact_value(name, out[name])
    return out


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not (isinstance(value, float) and value != value)  # NaN is not JSON
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


# -- values given on a command line --------------------------------------------------------


def papermill_value(text: str) -> object:
    """A ``-p`` value typed as papermill's CLI types it (``papermill.cli._resolve_type``):
    ``True``, ``False``, ``None``, an int, a float, else the text itself."""
    constants: dict[str, object] = {"True": True, "False": False, "None": None}
    if text in constants:
        return constants[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def python_value(text: str) -> Any:
    """A ``nbrepro verify -p`` value: a Python literal if it is one, else the text itself."""
    try:
        return literal(text)
    except ValueError:
        return text


def parse_param(name: str, value: str) -> tuple[str, Any]:
    """``nbrepro verify -p NAME VALUE``: the name checked, the value as ``python_value``."""
    if not name.isidentifier():
        raise UsageError(f"parameter name {name!r} is not a Python identifier")
    return name, python_value(value)
