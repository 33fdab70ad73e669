"""What ``nbrepro verify`` prints for a person, piped as CI or a reviewer's shell pipes it: the
cell as ``[execution count] #position``, short hashes, and no line padded with spaces."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import git

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

CELLS = [
    "%load_ext nbrepro",
    "import csv\nwith open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]",
    "print(sum(values))",
    "len(values)",
]
HASH = r"blake3:[0-9a-f]{12}…"


def test_the_terminal_report_labels_cells_as_jupyter_and_log_do(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "values.csv").write_text("1.5\n2.5\n4\n")
    v4 = nbformat.v4
    path = root / "analysis.ipynb"
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("# Values"), *(v4.new_code_cell(c) for c in CELLS)]), path)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "analysis")
    # run under its path and saved, as in Jupyter
    nbformat.write(kernel.execute(nbformat.read(path, as_version=4), root, env={"JPY_SESSION_NAME": str(path)}), path)
    (root / "data" / "values.csv").write_text("1.5\n2.5\n5\n")

    proc = subprocess.run([sys.executable, "-m", "nbrepro", "verify", path.name], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    assert lines[:5] == [
        "cell    status      causes",
        "[1] #1  reproduced",
        "[2] #2  reproduced",
        lines[3],
        "[4] #4  reproduced",
    ]
    assert re.fullmatch(rf"\[3\] #3  differs     data: via cell \[2\] #2: data/values\.csv: {HASH} -> {HASH}", lines[3]), lines[3]
    assert lines[5].startswith("recorded side: store .nbrepro, session ")
    assert lines[6] == f"ran in: this Python's environment ({platform.python_implementation()} {platform.python_version()})"
    assert lines[7] == "differs (1 differs, 3 reproduced)"

    log = subprocess.run([sys.executable, "-m", "nbrepro", "log", "--json"], cwd=root, capture_output=True, text=True, timeout=60)
    runs = json.loads(log.stdout)
    assert [(r["cell"]["execution_count"], r["cell"]["index"]) for r in runs] == [(1, 1), (2, 2), (3, 3), (4, 4)]
