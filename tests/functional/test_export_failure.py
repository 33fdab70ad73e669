"""An export that fails leaves nothing behind: not its temporary folder, and not the parent
folders of ``-o`` it created (a real pip-compile that cannot find a pinned distribution)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from inprocess import nbrepro_main

pytestmark = pytest.mark.functional


def test_a_failed_lock_removes_the_folders_export_made(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "empty").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", project], check=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import click\nprint(click.__name__)")])
    nbformat.write(nb, project / "nb.ipynb")
    (project / "kept").mkdir()  # a parent that was there before stays
    before = sorted(p.name for p in project.iterdir())
    code, out, err = nbrepro_main(project, "export", "nb.ipynb", "-o", "kept/a/b/pkg", "--no-index", "--find-links", "empty")
    assert code == 1 and out == ""
    assert err.startswith("nbrepro: error: pip-compile failed: ") and err.count("\n") == 1
    assert sorted(p.name for p in project.iterdir()) == before and list((project / "kept").iterdir()) == []
