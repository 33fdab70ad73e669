"""Causes on the right cells only, in a real kernel (issue 16, items 1, 2 and 4): a parameter
reaches the cells that read it, and a folder listing names the cell that wrote into it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import assert_report_valid, notebook_project

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

CELLS = [
    "%load_ext nbrepro",
    "markup = 1.0\nn_samples = 2",
    "import os\nos.makedirs('out', exist_ok=True)",
    "!ls out",
    "price = 10 * markup\nprint(price)",
    "print(list(range(n_samples)))",
    "with open('out/result.txt', 'w') as f:\n    f.write(str(price))",
]


def test_causes_land_only_on_the_cells_that_use_them(tmp_path: Path) -> None:
    path = notebook_project(tmp_path / "p", CELLS, "analysis.ipynb", {"README.md": "x\n"})
    # The author wrote the result before listing the folder: cells 0, 1, 2, 4, 6, then 3 and 5.
    nb = nbformat.read(path, as_version=4)
    nb.cells = [nbformat.v4.new_code_cell(CELLS[i]) for i in (0, 1, 2, 4, 6, 3, 5)]
    kernel.execute(nb, path.parent)
    (path.parent / "out" / "result.txt").unlink()  # a reviewer's checkout has no outputs of the run
    proc = subprocess.run(
        [sys.executable, "-m", "nbrepro", "verify", str(path), "--json", "-p", "markup", "2.0"],
        capture_output=True, text=True, cwd=path.parent, env=dict(os.environ), timeout=300,
    )
    report = assert_report_valid(json.loads(proc.stdout))
    assert proc.returncode == 1, proc.stderr
    cells: dict[int, dict[str, Any]] = {c["index"]: c for c in report["cells"]}

    listing = cells[3]
    assert listing["status"] == "differs" and "result.txt" in listing["diff"]
    assert [c["kind"] for c in listing["causes"]] == ["data"], listing["causes"]
    assert listing["causes"][0]["detail"].startswith("out/result.txt: written by cell 6")

    priced = cells[4]
    assert priced["status"] == "differs"
    assert priced["causes"] == [{"kind": "parameters", "detail": "via cell 1: markup: 1.0 -> 2.0"}]

    assert cells[5]["status"] == "reproduced"  # reads n_samples only
