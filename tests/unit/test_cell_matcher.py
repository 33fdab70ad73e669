"""The one cell matcher (nbrepro.record.match.CellMatcher): where a recorded cell sits in a
notebook as it is now. Plain cell dicts, as a saved notebook's JSON holds them."""

from __future__ import annotations

from typing import Any

import pytest

from nbrepro.record.hashing import hash_text
from nbrepro.record.match import CellMatcher, cell_source


def code(source: str | list[str], cell_id: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
    if cell_id is not None:
        cell["id"] = cell_id
    if tags is not None:
        cell["metadata"]["tags"] = tags
    return cell


def markdown(source: str, cell_id: str | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "markdown", "source": source, "metadata": {}}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def h(source: str) -> str:
    return hash_text(source)


def recorded(source: str, index: int | None = None, cell_id: str | None = None) -> dict[str, Any]:
    """A record's ``cell`` part."""
    return {"id": cell_id, "index": index, "source": source, "source_hash": h(source)}


# --- locate: id, then hash, then recorded position -------------------------------------


def test_id_beats_hash() -> None:
    m = CellMatcher([code("x = 1", "aaa"), code("y = 2", "bbb")])
    # the record's id names cell 1 though its source (since edited there) is cell 0's
    assert m.locate("bbb", h("x = 1")) == 1
    assert m.locate("bbb", h("something else"), recorded_index=0) == 1
    # an id the notebook does not have: the hash decides
    assert m.locate("zzz", h("y = 2")) == 1
    assert m.locate(None, h("x = 1")) == 0


def test_first_cell_with_an_id_wins_when_ids_repeat() -> None:
    m = CellMatcher([code("a", "dup"), code("b", "dup")])
    assert m.locate("dup", None) == 0


def test_repeated_source_resolved_by_recorded_index() -> None:
    cells = [code("load()"), code("plot()"), code("load()"), code("plot()"), code("load()")]
    m = CellMatcher(cells)
    assert m.locate(None, h("load()"), recorded_index=0) == 0
    assert m.locate(None, h("load()"), recorded_index=2) == 2
    assert m.locate(None, h("load()"), recorded_index=4) == 4
    assert m.locate(None, h("load()"), recorded_index=3) == 2  # a tie: the earlier one
    assert m.locate(None, h("plot()"), recorded_index=9) == 3  # past the end: the last one
    # the recorded position outweighs the cell run before it
    assert m.locate(None, h("load()"), recorded_index=0, after=3) == 0


def test_repeated_source_resolved_by_the_cell_run_before() -> None:
    cells = [code("load()"), code("plot()"), code("load()"), code("plot()")]
    m = CellMatcher(cells)
    assert m.locate(None, h("load()")) == 0  # nothing known: the first
    assert m.locate(None, h("load()"), after=0) == 2
    assert m.locate(None, h("plot()"), after=2) == 3
    assert m.locate(None, h("load()"), after=3) == 2  # none after it: the last one
    assert m.locate(None, h("plot()"), after=-1) == 1


def test_run_all_of_a_notebook_with_duplicated_cells_places_each_run_on_its_own_cell() -> None:
    cells = [markdown("# t"), code("load()"), code("plot()"), markdown("again"), code("load()"), code("plot()")]
    m = CellMatcher(cells)
    runs = [recorded(s) for s in ("load()", "plot()", "load()", "plot()")]
    assert m.place(runs) == [1, 2, 4, 5]
    # then the pair once more: with nothing after the last cell, the last occurrences
    assert m.place(runs + [recorded("load()"), recorded("plot()")]) == [1, 2, 4, 5, 4, 5]


def test_run_all_with_recorded_positions_places_each_run_on_its_own_cell() -> None:
    cells = [code("load()"), code("plot()"), code("load()"), code("plot()")]
    runs = [recorded(s, i) for i, s in enumerate(("load()", "plot()", "load()", "plot()"))]
    assert CellMatcher(cells).place(runs) == [0, 1, 2, 3]


def test_a_cell_inserted_above_duplicated_cells_still_places_each_run_on_its_own_cell() -> None:
    # recorded as [load, plot, load, plot] at 0..3; a title cell was added above since
    cells = [markdown("# title"), code("load()"), code("plot()"), code("load()"), code("plot()")]
    runs = [recorded(s, i) for i, s in enumerate(("load()", "plot()", "load()", "plot()"))]
    assert CellMatcher(cells).place(runs) == [1, 2, 3, 4]


def test_an_edited_code_cell_falls_back_to_its_recorded_position() -> None:
    cells = [code("x = 1"), markdown("notes"), code("y = 2  # edited")]
    m = CellMatcher(cells)
    assert m.locate(None, h("y = 2"), recorded_index=2) == 2
    # the recorded position is a markdown cell now, or past the end: not placed
    assert m.locate(None, h("y = 2"), recorded_index=1) is None
    assert m.locate(None, h("y = 2"), recorded_index=7) is None
    assert m.locate(None, h("y = 2"), recorded_index=-1) is None
    # no recorded position and no such source
    assert m.locate(None, h("y = 2")) is None
    assert m.locate(None, None) is None
    assert m.place([recorded("y = 2", 2), recorded("y = 2", 1), recorded("y = 2")]) == [2, None, None]


def test_markdown_cells_are_never_matched() -> None:
    cells = [markdown("x = 1", "md"), {"cell_type": "raw", "source": "x = 1", "id": "raw", "metadata": {}}]
    m = CellMatcher(cells)
    assert m.locate("md", h("x = 1")) is None
    assert m.locate("raw", h("x = 1"), recorded_index=1) is None
    assert m.locate(None, h("x = 1"), recorded_index=0) is None
    assert not m.has("x = 1")
    assert m.total == 0 and m.by_id == {} and m.hashes == {}
    # a code cell with the source elsewhere is found, the markdown one is not
    m = CellMatcher([markdown("x = 1", "md"), code("x = 1", "c")])
    assert m.locate("md", h("x = 1")) == 1


def test_non_dict_cells_and_odd_sources_are_ignored() -> None:
    m = CellMatcher(["junk", None, {"cell_type": "code", "source": 5}, code("x")])
    assert m.hashes == {2: h(""), 3: h("x")}
    assert m.total == 1


# --- place: records in execution order ------------------------------------------------


def test_place_uses_ids_then_hash_then_position() -> None:
    cells = [code("a = 1", "i0"), code("b = 2", "i1"), code("c = 3  # edited", "i2")]
    m = CellMatcher(cells)
    runs = [
        recorded("changed", 0, "i1"),  # by id
        recorded("a = 1", 5, "gone"),  # by hash
        recorded("c = 3", 2),  # by its recorded position (edited since)
        recorded("never here"),  # nowhere
    ]
    assert m.place(runs) == [1, 0, 2, None]


def test_place_does_not_move_after_an_unplaced_run() -> None:
    cells = [code("load()"), code("load()")]
    runs = [recorded("load()"), recorded("injected = 1"), recorded("load()")]
    assert CellMatcher(cells).place(runs) == [0, None, 1]


def test_tags_are_kept_per_code_cell() -> None:
    m = CellMatcher([markdown("m"), code("x", tags=["parameters", 3]), code("y")])
    assert m.tags == {1: ["parameters"]}


# --- align: a rerun of this notebook, top to bottom ------------------------------------


def test_align_walks_top_to_bottom_with_an_injected_cell() -> None:
    # papermill injected a parameters cell after the tagged one; the rerun ran every cell
    cells = [
        code("scale = 1", tags=["parameters"]), code("scale = 5", tags=["injected-parameters"]),
        markdown("## go"), code("y = scale * 2"), code(""), code("print(y)"),
    ]
    ran = [h("scale = 1"), h("scale = 5"), h("y = scale * 2"), h("print(y)")]
    assert CellMatcher(cells).align(ran) == [0, 1, 3, 5]


def test_align_places_repeated_sources_in_order() -> None:
    cells = [code("load()"), code("plot()"), code("load()"), code("plot()")]
    m = CellMatcher(cells)
    assert m.align([h("load()"), h("plot()"), h("load()"), h("plot()")]) == [0, 1, 2, 3]
    # a run stopped part way (an error)
    assert m.align([h("load()"), h("plot()"), h("load()")]) == [0, 1, 2]
    # a cell skipped: the next one is still found after it, never before
    assert m.align([h("load()"), h("load()"), h("plot()")]) == [0, 2, 3]
    # more runs than cells: the surplus has nowhere to go
    assert m.align([h("load()")] * 3) == [0, 2, None]


def test_align_an_unknown_run_does_not_lose_the_cells_after_it() -> None:
    cells = [code("a = 1"), code("b = 2"), code("c = 3")]
    m = CellMatcher(cells)
    assert m.align([h("a = 1"), h("not in the notebook"), h("b = 2"), h("c = 3")]) == [0, None, 1, 2]
    assert m.align([h("a = 1"), None, h("b = 2")]) == [0, None, 1]


# --- has / covered / total -------------------------------------------------------------


def test_covered_and_total_ignore_empty_cells_and_count_duplicates() -> None:
    cells = [code("import numpy as np"), code("load()"), code("load()"), code(""), markdown("text"), code("plot()")]
    m = CellMatcher(cells)
    assert m.total == 4
    assert m.covered([h("load()")]) == 2
    assert m.covered([h("load()"), h("load()")]) == 2  # a hash given twice counts once
    assert m.covered([h("load()"), h("plot()"), h(""), h("import numpy as np")]) == 4
    assert m.covered([h("text"), h("elsewhere"), None]) == 0
    assert m.covered(iter([h("plot()")])) == 1  # any iterable
    assert sorted(m.distinct_hashes()) == sorted({h("import numpy as np"), h("load()"), h("plot()")})
    assert CellMatcher([]).total == 0 and CellMatcher([code("")]).total == 0


def test_whitespace_only_cells_count_as_empty() -> None:
    m = CellMatcher([code("a = 1"), code("b = 2"), code("\n"), code("   \n\t")])
    assert m.total == 2
    assert m.covered([h("a = 1"), h("b = 2")]) == m.total


def test_has_is_exact_source() -> None:
    m = CellMatcher([code("x = 1\n"), markdown("y = 2")])
    assert m.has("x = 1\n")
    assert not m.has("x = 1")
    assert not m.has("y = 2")


def test_list_of_lines_sources_hash_the_same_as_strings() -> None:
    text = "import os\nprint(os.getcwd())\n"
    as_lines = ["import os\n", "print(os.getcwd())\n"]
    assert cell_source(code(as_lines)) == text
    saved = CellMatcher([markdown("t"), code(as_lines, "c1")])
    live = CellMatcher([markdown("t"), code(text, "c1")])
    assert saved.hashes == live.hashes == {1: h(text)}
    assert saved.has(text)
    assert saved.locate(None, h(text)) == 1
    assert saved.covered([h(text)]) == 1 == saved.total
    assert cell_source({"source": ["a", 3, "b"]}) == "ab"  # stray non-strings dropped
    assert cell_source({}) == "" and cell_source({"source": None}) == ""
