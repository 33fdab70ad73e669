"""Real ipykernels driven by nbclient, the way papermill and nbrepro verify run notebooks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, assert_valid, git, read_records

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration


def copy_examples(dest: Path) -> Path:
    shutil.copytree(REPO / "notebooks", dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "examples")
    return dest


def test_every_code_cell_of_a_notebook_is_recorded(tmp_path: Path, record_validator) -> None:
    project = copy_examples(tmp_path / "project")
    path = project / "quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    kernel.execute(nb, project, env={"JPY_SESSION_NAME": str(path)})
    records = read_records(project / ".nbrepro")
    assert_valid(records, record_validator)
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    assert [r["cell"]["source"] for r in records] == [c.source for _, c in code_cells]
    # nbclient sends no cell id: the index comes from the saved notebook, by source
    assert [r["cell"]["index"] for r in records] == [i for i, _ in code_cells]
    assert [r["cell"]["execution_count"] for r in records] == [c.execution_count for _, c in code_cells]
    assert {r["notebook"]["path"] for r in records} == {"quickstart.ipynb"}
    assert all(r["git"]["dirty"] is False for r in records)
    assert len({r["session_id"] for r in records}) == 1
    assert records[-1]["status"] == "ok"
    assert nb.cells[-1].outputs[0]["text"].endswith("readings at threshold 2.5\n")


def test_status_is_an_html_table_in_a_notebook(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext nbrepro"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("%nbrepro status"),
    ])
    kernel.execute(nb, tmp_path)
    (output,) = nb.cells[2].outputs
    assert output["output_type"] == "display_data"
    html = output["data"]["text/html"]
    assert html.startswith("<table class='nbrepro-status'>") and "records this session" in html
    assert "recording" in output["data"]["text/plain"]


def test_four_kernels_writing_one_store_lose_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    cells = 30
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%load_ext nbrepro")] + [
        nbformat.v4.new_code_cell(f"value_{i} = {i} * 2\nvalue_{i}") for i in range(cells)
    ])

    def run(n: int) -> None:
        copy = nbformat.from_dict(json.loads(json.dumps(nb)))
        kernel.execute(copy, project, env={"JPY_SESSION_NAME": str(project / f"nb{n}.ipynb")})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, range(4)))
    records = read_records(project / ".nbrepro")
    assert len(records) == 4 * (cells + 1)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    per_notebook = {f"nb{n}.ipynb": [r for r in records if r["notebook"]["path"] == f"nb{n}.ipynb"] for n in range(4)}
    for recs in per_notebook.values():
        assert [r["cell"]["execution_count"] for r in recs] == list(range(1, cells + 2))
    check = subprocess.run([sys.executable, "-m", "nbrepro", "log", "--check"], cwd=project,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_demo_records_the_examples_and_logs_them(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "nbrepro", "demo", "--dir", str(target)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "quickstart.ipynb" in proc.stdout and "churn_model.ipynb" in proc.stdout
    records = read_records(target / ".nbrepro")
    notebooks = {r["notebook"]["path"] for r in records}
    assert notebooks == {"quickstart.ipynb", "churn_model.ipynb"}
    assert all(r["status"] == "ok" for r in records)
    again = subprocess.run([sys.executable, "-m", "nbrepro", "demo", "--dir", str(target)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
