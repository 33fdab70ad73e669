"""``nbrepro export`` on a terminal names the long step under way (rich), as verify shows its
rerun: a lock can take a minute with nothing else on screen."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

pytestmark = pytest.mark.functional


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a pseudo-terminal; its exit code and output."""
    main, side = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=side, stderr=side)
    os.close(side)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def test_export_names_the_lock_and_the_tests_as_they_run(tmp_path: Path) -> None:
    cell = new_code_cell("print(6 * 7)", execution_count=1, outputs=[new_output("stream", name="stdout", text="42\n")])
    nbformat.write(new_notebook(cells=[cell]), tmp_path / "small.ipynb")
    code, output = on_a_terminal([sys.executable, "-m", "nbrepro", "export", "small.ipynb", "-o", "out", "--no-index"],
                                 tmp_path)
    assert code == 0, output
    assert "locking requirements.in with pip-compile" in output
    assert "running the generated tests" in output
    assert "generated tests passed in this Python" in output

    piped = subprocess.run([sys.executable, "-m", "nbrepro", "export", "small.ipynb", "-o", "piped", "--no-lock"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and "running the generated tests" not in piped.stdout  # no terminal: no spinner
