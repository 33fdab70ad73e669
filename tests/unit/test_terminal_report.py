"""How cells, hashes and tables read in a terminal and through a pipe: the shared formatters
(``nbrepro.record.display``) and verify's terminal report."""

from __future__ import annotations

import io
from typing import Any

from conftest import assert_report_valid
from rich.console import Console
from rich.table import Table

from nbrepro.record.display import cell_label, data_verb, duration, print_unpadded, short_hashes
from nbrepro.verify.report import terminal

OLD, NEW = "blake3:" + "1f0c" * 16, "blake3:" + "9ab2" * 16


def piped() -> tuple[Console, io.StringIO]:
    """The console the CLI makes when stdout is not a terminal (nbrepro.cli._common.console)."""
    out = io.StringIO()
    return Console(file=out, width=200, no_color=True, highlight=False, soft_wrap=True), out


def test_a_cell_reads_as_its_execution_count_and_its_position() -> None:
    assert cell_label(5, 3) == "[5] #3"
    assert cell_label(None, 3) == "[ ] #3"  # never run, or saved without counts: as Jupyter shows it
    assert cell_label(5, None) == "[5]"  # the position is not known
    assert cell_label(0, 0) == "[0] #0"


def test_hashes_are_cut_to_twelve_hex_digits_wherever_they_are() -> None:
    assert short_hashes(f"data/x.csv: {OLD} -> {NEW}") == "data/x.csv: blake3:1f0c1f0c1f0c… -> blake3:9ab29ab29ab2…"
    assert short_hashes("blake3:abc and 1f0c" * 2) == "blake3:abc and 1f0c" * 2  # nothing that is not a whole hash


def test_times_are_rounded_for_a_reader() -> None:
    assert [duration(s) for s in (0.0004, 0.1934, 4.2049, 125.4)] == ["0 ms", "193 ms", "4.20 s", "2 min 5 s"]


def test_data_entries_say_what_the_cell_did() -> None:
    assert [data_verb({"mode": m, "seen_by": s}) for m, s in (("r", "open"), ("w", "pandas"), ("r", "track"))] == [
        "read", "wrote", "tracked",
    ]


def test_a_piped_table_has_no_trailing_spaces() -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("name")
    table.add_column("value")
    table.add_row("a long first name", "x")
    table.add_row("b", "")
    console, out = piped()
    console.print(table)
    assert any(line != line.rstrip() for line in out.getvalue().splitlines()), "rich pads cells: the reason for print_unpadded"
    console, out = piped()
    print_unpadded(console, table)
    lines = out.getvalue().splitlines()
    assert lines == ["name               value", "a long first name  x", "b"]


def report(**extra: Any) -> dict[str, Any]:
    cells = [
        {"index": 1, "execution_count": 1, "cell_id": None, "status": "reproduced", "causes": [], "diff": ""},
        {"index": 2, "execution_count": 2, "cell_id": None, "status": "reproduced", "causes": [], "diff": ""},
        {"index": 4, "execution_count": 5, "cell_id": None, "status": "differs", "diff": "…", "causes": [
            {"kind": "data", "detail": f"via cell 2: data/values[1].csv: {OLD} -> {NEW}"},
            {"kind": "code", "detail": "cell 4: source changed since the recorded run"},
            {"kind": "parameters", "detail": "via cell 9: n: 3 -> 4"},  # a cell the report does not list
        ]},
        {"index": 5, "execution_count": None, "cell_id": None, "status": "new", "causes": [], "diff": ""},
    ]
    base = {
        "schema": "nbrepro.verify/1", "notebook": "analysis.ipynb", "verdict": "differs",
        "recorded": "store .nbrepro, session 315b1a18, found by content: 3 of 4 cells [renamed]",
        "session": None, "cells": cells,
        "environment": {"packages": [], "data": [], "git": {"recorded": {}, "rerun": {}},
                        "hardware": {"recorded": {}, "rerun": {}}, "params": {"recorded": {}, "rerun": {}}},
    }
    return assert_report_valid({**base, **extra})


def test_the_verify_table_labels_cells_as_log_does_with_short_hashes_and_no_padding() -> None:
    console, out = piped()
    terminal(report(failure="CellTimeoutError: [cell 4] took over 1 s"), console)
    lines = out.getvalue().splitlines()
    assert lines == [
        "cell    status      causes",
        "[1] #1  reproduced",
        "[2] #2  reproduced",
        "[5] #4  differs     data: via cell [2] #2: data/values[1].csv: blake3:1f0c1f0c1f0c… -> blake3:9ab29ab29ab2…",
        "                    code: cell [5] #4: source changed since the recorded run",
        "                    parameters: via cell #9: n: 3 -> 4",  # no execution count known for it
        "[ ] #5  new",
        "recorded side: store .nbrepro, session 315b1a18, found by content: 3 of 4 cells [renamed]",
        "the rerun failed: CellTimeoutError: [cell 4] took over 1 s",  # brackets are text, not markup
        "differs (1 differs, 1 new, 2 reproduced)",
    ]
