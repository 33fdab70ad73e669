"""The one cell matcher: where a recorded cell run sits in a notebook as it is now.

Capture (placing a cell in the saved notebook), verify and stamp (placing a session's
records), the rerun (placing the cells it ran), export, ``log`` and the save hook all match
through this class. It reads plain cell dicts (nbformat nodes, or JSON as loaded), so the
recorder can use it without importing nbformat.

A recorded cell is placed by its cell id when the notebook has that id; else by its source
hash, choosing among repeated sources the occurrence nearest the recorded position (or, with
no recorded position, the first one after the cell placed before it: a Run All runs cells in
order); else at its recorded position when that is a code cell whose source has since been
edited.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .hashing import hash_text


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as text (a saved notebook may hold it as a list of lines)."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def is_code(cell: Any) -> bool:
    return isinstance(cell, Mapping) and cell.get("cell_type") == "code"


class CellMatcher:
    """The code cells of one notebook, indexed by id and by source hash."""

    def __init__(self, cells: Sequence[Any]) -> None:
        self.by_id: dict[str, int] = {}
        self.by_hash: dict[str, list[int]] = {}
        self.hashes: dict[int, str] = {}  # notebook index -> source hash, code cells only
        self.blank: set[int] = set()  # whitespace-only code cells: no frontend runs them
        self.tags: dict[int, list[str]] = {}
        for index, cell in enumerate(cells):
            if not is_code(cell):
                continue
            if isinstance(cell.get("id"), str) and cell["id"]:
                self.by_id.setdefault(cell["id"], index)
            tags = (cell.get("metadata") or {}).get("tags")
            if isinstance(tags, list):
                self.tags[index] = [t for t in tags if isinstance(t, str)]
            source = cell_source(cell)
            digest = hash_text(source)
            if not source.strip():
                self.blank.add(index)
            self.hashes[index] = digest
            self.by_hash.setdefault(digest, []).append(index)

    def locate(
        self, cell_id: str | None, source_hash: str | None, recorded_index: int | None = None,
        after: int | None = None,
    ) -> int | None:
        """The notebook index of a recorded cell, or None when the notebook does not have it.

        ``recorded_index``: where the record says the cell was; ``after``: the index of the
        cell run just before it, when known.
        """
        if cell_id and cell_id in self.by_id:
            return self.by_id[cell_id]
        candidates = self.by_hash.get(source_hash or "")
        if candidates:
            if isinstance(recorded_index, int):
                # the nearest; between two equally near, the one after the cell run before
                return min(candidates, key=lambda i: (abs(i - recorded_index), after is not None and i <= after, i))
            if after is not None:
                at = bisect_left(candidates, after + 1)
                return candidates[at] if at < len(candidates) else candidates[-1]
            return candidates[0]
        if isinstance(recorded_index, int) and recorded_index in self.hashes:
            return recorded_index  # the same place, its source since edited
        return None

    def place(self, cells: Iterable[Mapping[str, Any]]) -> list[int | None]:
        """The notebook index of each recorded ``cell`` part, in execution order."""
        out: list[int | None] = []
        previous: int | None = None
        for cell in cells:
            recorded = cell.get("index")
            index = self.locate(
                cell.get("id"), cell.get("source_hash"), recorded if isinstance(recorded, int) else None, previous
            )
            out.append(index)
            if index is not None:
                previous = index
        return out

    def align(self, source_hashes: Iterable[str | None]) -> list[int | None]:
        """Cells run top to bottom (a rerun of this very notebook): each hash is placed at
        the next code cell with that source, never before the one placed last."""
        order = sorted(self.hashes)
        out: list[int | None] = []
        at = 0
        for digest in source_hashes:
            found = next((n for n in range(at, len(order)) if self.hashes[order[n]] == digest), None)
            if found is None:  # a cell this notebook lacks: the walk goes on where it was
                out.append(None)
                continue
            out.append(order[found])
            at = found + 1
        return out

    def has(self, source: str) -> bool:
        """Whether one of the code cells has exactly this source."""
        return hash_text(source) in self.by_hash

    def covered(self, source_hashes: Iterable[str | None]) -> int:
        """How many of the notebook's non-blank code cells have their source among these."""
        seen = set(source_hashes)
        return sum(1 for i, h in self.hashes.items() if h in seen and i not in self.blank)

    @property
    def total(self) -> int:
        """The notebook's non-blank code cells (the ones a frontend runs)."""
        return len(self.hashes) - len(self.blank)

    def distinct_hashes(self) -> list[str]:
        """The source hashes of the non-blank code cells."""
        return list(dict.fromkeys(h for i, h in self.hashes.items() if i not in self.blank))
