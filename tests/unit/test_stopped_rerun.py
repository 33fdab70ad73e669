"""A rerun that stopped early, as the report carries it: the cell it stopped at is ``failed``
with the reason, the cells after it ``not-run``; the schema, and how the terminal shows them."""

from __future__ import annotations

import io
from typing import Any

import jsonschema
from conftest import assert_report_valid
from rich.console import Console

from nbrepro.verify.report import terminal
from nbrepro.verify.verdict import load_verify_schema


def cell(index: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"index": index, "execution_count": None, "cell_id": None, "status": status, "causes": [], "diff": "", **extra}


def stopped_report() -> dict[str, Any]:
    return {
        "schema": "nbrepro.verify/1", "notebook": "analysis.ipynb", "verdict": "failed",
        "recorded": "store .nbrepro, session 315b1a18", "session": None,
        "failure": "cell 1: timeout after 1 s",
        "cells": [
            cell(0, "reproduced"),
            cell(1, "failed", reason="timeout after 1 s"),
            cell(2, "not-run", reason="the rerun stopped at cell 1"),
        ],
        "environment": {"packages": [], "data": [], "git": {"recorded": {}, "rerun": {}},
                        "hardware": {"recorded": {}, "rerun": {}}, "params": {"recorded": {}, "rerun": {}}},
    }


def test_a_failed_or_not_run_cell_must_say_why() -> None:
    assert_report_valid(stopped_report())
    validator = jsonschema.Draft202012Validator(load_verify_schema())
    for index in (1, 2):
        report = stopped_report()
        del report["cells"][index]["reason"]
        assert not validator.is_valid(report)
    report = stopped_report()
    report["cells"][0]["reason"] = "a reproduced cell may say nothing more, or something"
    assert validator.is_valid(report)


def test_the_terminal_shows_the_reason_beside_the_status() -> None:
    out = io.StringIO()
    terminal(stopped_report(), Console(file=out, width=200, no_color=True, highlight=False, soft_wrap=True))
    lines = out.getvalue().splitlines()
    assert lines[1:4] == [
        "[ ] #0  reproduced",
        "[ ] #1  failed: timeout after 1 s",
        "[ ] #2  not-run: the rerun stopped at cell [ ] #1",
    ]
    assert "the rerun failed: cell 1: timeout after 1 s" in lines
    assert lines[-1] == "failed (1 failed, 1 not-run, 1 reproduced)"
