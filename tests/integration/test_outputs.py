"""Outputs as recorded live match, hash for hash, what nbclient saves into the notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import assert_valid, git, read_records

from nbrepro.notebook import kernel
from nbrepro.record import outputs
from nbrepro.store import SQLiteStore

pytestmark = pytest.mark.integration

CELLS = [
    "%load_ext nbrepro",
    "print('hello')\nimport sys\nprint('oops', file=sys.stderr)\nfor i in range(3):\n    print(i)",
    "from IPython.display import display, Markdown, HTML\ndisplay(Markdown('**bold**'))\nprint('between')\n{'a': [1, 2]}",
    "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
    "h = display(HTML('<b>1</b>'), display_id=True)\nh.update(HTML('<b>2</b>'))\nprint('after update')",
    "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')",
    "print('token=ghp_' + 'a' * 36)",
    "!echo from-shell",
    "1 / 0",
]


def test_recorded_outputs_match_the_saved_notebook(tmp_path: Path, record_validator) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    path = project / "out.ipynb"
    nbformat.write(nb, path)
    done = kernel.execute(nb, project, env={"JPY_SESSION_NAME": str(path)})
    records = read_records(project / ".nbrepro")
    assert_valid(records, record_validator)
    assert len(records) == len(CELLS)
    store = SQLiteStore(project / ".nbrepro", create=False)
    try:
        for cell, record in zip(done.cells, records):
            saved = outputs.canonical(cell.outputs)
            assert record["outputs"]["hash"] == outputs.outputs_hash(outputs.items(saved)), cell.source
            # the content is in the store: the outputs can be rebuilt without the notebook
            contents = [(i["output"], store.get_blob(i["blob"])) for i in record["outputs"]["items"]]
            assert outputs.canonical(outputs.rebuild(contents)) == saved, cell.source
    finally:
        store.close()
    kinds = [[(i["kind"], i["mime"]) for i in r["outputs"]["items"]] for r in records]
    # within a run of stream outputs: all of stdout, then all of stderr (kernels reorder them)
    assert [(i["kind"], i["name"]) for i in records[1]["outputs"]["items"]] == [("stream", "stdout"), ("stream", "stderr")]
    assert ("display_data", "image/png") in kinds[3]
    assert ("execute_result", "text/plain") in kinds[2]
    assert kinds[5] == [("stream", "text/plain")]  # cleared output is gone
    assert kinds[8] == [("error", "text/plain")]
    secret = "ghp_" + "a" * 36
    assert secret not in (project / ".nbrepro" / "nbrepro.db").read_bytes().decode("latin-1")


def test_output_content_is_capped_per_cell(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext nbrepro"),
        nbformat.v4.new_code_cell("print('x' * 5000)\nprint('small', flush=True)\nimport sys\n_ = sys.stderr.write('e')"),
    ])
    kernel.execute(nb, project, env={"NBREPRO_OUTPUTS_MAX_BYTES": "1000"})
    items = read_records(project / ".nbrepro")[-1]["outputs"]
    assert items["truncated"] is True
    assert [(i["name"], "blob" in i) for i in items["items"]] == [("stdout", False), ("stderr", True)]
