"""Capture never kills the kernel: a file truncated while the recorder's worker hashes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import git, read_records

pytestmark = pytest.mark.integration


def test_a_file_rewritten_while_it_is_hashed_does_not_kill_the_kernel(tmp_path: Path) -> None:
    """The worker hashes a large file the last cell wrote while the next cell truncates and
    rewrites it. Hashed through a memory map, the truncation raised SIGBUS in the kernel."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write = "with open('big.bin', 'wb') as f:\n    for _ in range(48):\n        f.write(b'x' * (8 << 20))"
    # the next cell truncates the file a moment later, while the worker is reading it
    truncate = "import time\ntime.sleep({})\nopen('big.bin', 'w').close()"
    cells = ["%load_ext nbrepro"]
    for pause in (0.02, 0.06, 0.12):
        cells += [write, truncate.format(pause)]
    cells.append("print('alive')")
    path = root / "big.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    # in a subprocess with a deadline: a kernel killed by SIGBUS once left nbclient waiting
    run = subprocess.run([str(Path(sys.executable).parent / "jupyter-execute"), "--inplace", path.name],
                         cwd=root, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    done = nbformat.read(path, as_version=4)
    assert done.cells[-1].outputs[0]["text"] == "alive\n"
    records = read_records(root / ".nbrepro")
    assert len(records) == len(cells)
    for rec in records[1:-1]:  # each write is recorded, hashed (or left out while it changed), never a crash
        assert isinstance(rec["data"], list), rec["data"]
