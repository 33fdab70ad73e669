"""Parameters: the values a papermill-style parameters cell assigned.

A cell is a parameters cell when the saved notebook tags it ``parameters`` or
``injected-parameters`` (papermill), or when its source starts with papermill's
``# Parameters`` comment (papermill's injected cell, also in notebooks never saved to disk).
"""

from __future__ import annotations

import ast
from typing import Any

PARAMETER_TAGS = ("parameters", "injected-parameters")


def is_parameters_cell(source: str, tags: list[str] | tuple[str, ...]) -> bool:
    return any(t in PARAMETER_TAGS for t in tags) or source.lstrip().startswith("# Parameters")


def assignments(source: str) -> dict[str, Any]:
    """``name = literal`` and ``name: type = literal`` at the top level, in order.

    A value that is not a literal is kept as its source text in ``{"expr": "..."}``.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[name] = {"expr": ast.unparse(value)}
        if not _json_safe(out[name]):
            out[name] = {"expr": ast.unparse(value)}
    return out


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not (isinstance(value, float) and value != value)  # NaN is not JSON
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False
