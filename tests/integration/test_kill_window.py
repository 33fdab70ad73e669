"""A kernel killed with SIGKILL loses at most the cells that ended in the last 0.25 s plus one
git reading (docs/capture.md): from the very first cells, while other kernels load the
machine, and while the cell that gets killed is still running (the worker records in the
kernel's idle time, but never waits past that window for it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from conftest import git, read_records

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

CELLS = [
    "%load_ext nbrepro",
    "x = 1",
    "y = x + 1",
    # Killed mid-cell, 1.0 s after the cells above ended: far more than the window.
    "import os, signal, time\ntime.sleep(1.0)\nos.kill(os.getpid(), signal.SIGKILL)",
]


def _run(project: Path) -> Path:
    project.mkdir()
    (project / "README.md").write_text("x\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "init")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    with pytest.raises(kernel.RunStopped, match="the kernel died"):
        kernel.execute(nb, project, timeout=60)
    return project


def test_cells_that_ended_before_the_window_survive_a_kill(tmp_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:  # four kernels starting at once on the suite's 2 cores
        projects = list(pool.map(_run, [tmp_path / f"p{i}" for i in range(4)]))
    for project in projects:
        records = read_records(project / ".nbrepro")
        assert [r["cell"]["source"] for r in records] == CELLS[:3], project
