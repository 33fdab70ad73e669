"""How records read to people, the same in every command: a cell, a hash, a table on a pipe."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_HASH = re.compile(r"\b(blake3:[0-9a-f]{12})[0-9a-f]{52}\b")


def cell_label(execution_count: int | None, index: int | None) -> str:
    """``[5] #3``: the execution count Jupyter shows beside the cell (``[ ]`` when it has none)
    and the cell's position in the notebook, from 0, markdown cells counted (as in the JSON of
    records and reports; left out when not known)."""
    count = "[ ]" if execution_count is None else f"[{execution_count}]"
    return count if index is None else f"{count} #{index}"


def data_verb(entry: dict[str, Any]) -> str:
    """What a cell did with a ``data`` entry: ``read``, ``wrote`` or ``tracked``."""
    if entry.get("seen_by") == "track":
        return "tracked"
    return {"r": "read", "w": "wrote"}.get(entry.get("mode", ""), str(entry.get("mode")))


def short_hashes(text: str) -> str:
    """``text`` with every ``blake3:<64 hex>`` cut to its first 12 hex digits: enough to tell
    two apart by eye, short enough for a line (the JSON keeps them whole)."""
    return _HASH.sub(r"\1…", text)


def print_unpadded(console: Console, renderable: Any) -> None:
    """Print ``renderable``; to a pipe or a file without the spaces rich pads every table cell
    with to its column's width (rich has no option for it), so no line ends in spaces."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    console.out("\n".join(line.rstrip() for line in captured.get().splitlines()), highlight=False)


def duration(seconds: float) -> str:
    """A time as a person reads it: ``193 ms``, ``4.20 s``, ``2 min 5 s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
