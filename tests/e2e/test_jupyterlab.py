"""JupyterLab end to end: run the quickstart in a real JupyterLab 4 from headless Chromium, save
it, and check what nbrepro recorded, what the server extension stamped, and what verify says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbrepro.record.hashing import hash_text

from .conftest import Lab, screenshot_path, wait_for

pytestmark = pytest.mark.e2e


def nbrepro(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbrepro", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def store_records(lab: Lab) -> list[dict[str, Any]]:
    if not (lab.root / ".nbrepro" / "nbrepro.db").is_file():
        return []
    done = nbrepro(lab.root, lab.env, "log", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open ``name`` in JupyterLab and wait until all its cells show and its kernel is idle."""
    cells = len(nbformat.read(lab.root / name, as_version=4).cells)
    page.goto(lab.page_url(name))
    page.wait_for_function(
        "n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length === n",
        arg=cells, timeout=120_000,
    )
    wait_for(lambda: any(s["path"] == name and s["kernel"]["execution_state"] == "idle" for s in lab.api("sessions")),
             f"the kernel of {name} to be idle")


def menu(page: Any, top: str, item: str) -> None:
    """Click ``top`` > ``item`` in JupyterLab's menu bar, as a user would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def run_all(page: Any, lab: Lab, name: str) -> None:
    """Run > Run All Cells, then wait until every code cell has an execution count."""
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
            return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
        }""",
        timeout=120_000,
    )
    wait_for(lambda: all(s["kernel"]["execution_state"] == "idle" for s in lab.api("sessions") if s["path"] == name),
             f"the kernel of {name} to be idle after running all")


@pytest.fixture(scope="module")
def ran(lab: Lab, browser: Any) -> dict[str, Any]:
    """The quickstart run top to bottom in JupyterLab and saved: the saved notebook, and the
    store's records as they were right after the save."""
    path = lab.root / "quickstart.ipynb"
    original = nbformat.read(path, as_version=4)
    code_cells = sum(1 for c in original.cells if c.cell_type == "code")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        open_notebook(page, lab, "quickstart.ipynb")
        run_all(page, lab, "quickstart.ipynb")
        # The kernel writes records from a worker thread, within a fraction of a second.
        wait_for(lambda: len(store_records(lab)) >= code_cells, "the records of every cell to be written")
        menu(page, "File", "Save Notebook")

        def saved() -> nbformat.NotebookNode | None:
            nb = nbformat.read(path, as_version=4)
            return nb if all(c.execution_count for c in nb.cells if c.cell_type == "code") else None

        nb = wait_for(saved, "the save to land on disk")
    finally:
        page.close()
    return {"original": original, "saved": nb, "records": store_records(lab)}


def test_every_record_carries_the_jupyterlab_cell_id_and_the_notebook_path(ran: dict[str, Any]) -> None:
    saved, records = ran["saved"], ran["records"]
    code = [(i, c) for i, c in enumerate(saved.cells) if c.cell_type == "code"]
    assert len({r["session_id"] for r in records}) == 1, "one JupyterLab kernel, one session"
    assert len(records) == len(code)
    for rec, (index, cell) in zip(records, code):
        assert rec["cell"]["source_hash"] == hash_text(cell.source), "records come in run order"
        assert rec["cell"]["index"] == index
        assert rec["cell"]["id"] == cell.id and cell.id, f"cell {index}: JupyterLab's cell id"
        assert rec["notebook"] == {"path": "quickstart.ipynb", "found_by": "JPY_SESSION_NAME"}
        assert rec["status"] == "ok"


def test_the_saved_notebook_verifies_as_reproduced(lab: Lab, ran: dict[str, Any]) -> None:
    done = nbrepro(lab.root, lab.env, "verify", "quickstart.ipynb", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    assert report["verdict"] == "reproduced"
    assert report["recorded"].startswith("store .nbrepro, session " + ran["records"][0]["session_id"][:8])
    assert {c["status"] for c in report["cells"]} == {"reproduced"}


def test_the_server_stamps_on_save_and_a_reviewer_verifies_without_the_store(
    lab: Lab, ran: dict[str, Any], tmp_path: Path,
) -> None:
    saved, original, records = ran["saved"], ran["original"], ran["records"]
    # metadata only: sources as they were, and the stamp names this session and its runs
    assert [c.source for c in saved.cells] == [c.source for c in original.cells]
    top = saved.metadata["nbrepro"]
    assert top["schema"] == "nbrepro.stamp/1" and top["session_id"] == records[0]["session_id"]
    stamped = [c.metadata["nbrepro"]["run_id"] for c in saved.cells if c.cell_type == "code"]
    assert stamped == [r["run_id"] for r in records]

    review = tmp_path / "review"  # what a reviewer receives: the notebook and its data, no store
    review.mkdir()
    shutil.copy(lab.root / "quickstart.ipynb", review)
    shutil.copytree(lab.root / "data", review / "data")
    done = nbrepro(review, lab.env, "verify", "quickstart.ipynb", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    assert report["verdict"] == "reproduced"
    assert report["recorded"] == (
        f"stamp in the notebook's metadata, session {records[0]['session_id'][:8]} (stamp intact: it matches its seal)"
    )
    assert report["stamp"]["state"] == "intact"  # the save hook's stamp is sealed too
    assert not (review / ".nbrepro").exists()

    csv = review / "data" / "measurements.csv"
    lines = csv.read_text().splitlines()
    fields = lines[1].split(",")
    header = lines[0].split(",")
    at = header.index("temperature_c")
    fields[at] = str(float(fields[at]) + 40)  # one reading, far off
    csv.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    done = nbrepro(review, lab.env, "verify", "quickstart.ipynb", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1, report
    differing = [c for c in report["cells"] if c["status"] == "differs"]
    assert differing, report
    for entry in differing:
        assert any(c["kind"] == "data" and "data/measurements.csv: blake3:" in c["detail"] for c in entry["causes"]), entry


def test_nbrepro_status_renders_as_an_html_table(lab: Lab, ran: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        open_notebook(page, lab, "quickstart.ipynb")
        cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
        count = cells.count()
        cells.last.locator(".jp-InputPrompt").click()  # select the last cell, command mode
        page.keyboard.press("b")  # a new cell below it
        page.keyboard.press("Enter")
        page.keyboard.type("%nbrepro status")
        page.keyboard.press("Shift+Enter")
        cell = cells.nth(count)
        table = cell.locator(".jp-OutputArea-output table")
        table.wait_for(timeout=60_000)
        assert cell.locator(".jp-InputArea-editor").inner_text().strip() == "%nbrepro status"
        assert table.count() == 1
        rows = dict(zip(table.locator("th").all_inner_texts(), table.locator("td").all_inner_texts()))
        assert {"recording", "session", "store", "records this session", "notebook", "git"} <= set(rows), rows
        assert rows["session"] == ran["records"][0]["session_id"]
        assert rows["notebook"] == "quickstart.ipynb"
        # the server was started with nbrepro.server enabled: its kernels know it
        assert rows["stamp on save"] == "on: the Jupyter server stamps each notebook it saves"
        assert {"seeds", "data"} <= set(rows), rows
        shot = screenshot_path(tmp_path, "status-jupyterlab.png")
        cell.screenshot(path=str(shot))
        assert shot.stat().st_size > 0
    finally:
        page.close()
