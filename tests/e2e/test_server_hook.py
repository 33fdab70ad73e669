"""The stamp-on-save hook in jupyter_server's own FileContentsManager, without a browser: what a
save writes, and that a failing stamp never breaks a save."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbrepro.notebook import kernel

from .conftest import git, isolated_env, require

pytestmark = pytest.mark.e2e

CELLS = ["%load_ext nbrepro", "with open('data/n.txt') as fh:\n    n = int(fh.read())", "print(n * 2)"]


def contents_manager(root: Path, hooked: bool = True) -> Any:
    """jupyter_server's FileContentsManager on ``root``, with nbrepro's pre-save hook or not."""
    require("jupyter_server")
    from jupyter_server.services.contents.filemanager import FileContentsManager

    from nbrepro.server import pre_save_hook

    cm = FileContentsManager(root_dir=str(root))
    if hooked:
        cm.register_pre_save_hook(pre_save_hook)
    return cm


def save_unhooked(root: Path, content: dict[str, Any]) -> dict[str, Any]:
    """What a save of ``content`` writes without nbrepro: the baseline a stamped save must match."""
    contents_manager(root, hooked=False).save({"type": "notebook", "content": json.loads(json.dumps(content))}, "plain.ipynb")
    written: dict[str, Any] = json.loads((root / "plain.ipynb").read_text())
    (root / "plain.ipynb").unlink()
    return written


def recorded(tmp_path: Path, record: bool = True) -> Path:
    """A git project with a notebook in a subfolder, run once through nbclient with nbrepro."""
    env = isolated_env(tmp_path / "env")
    root = tmp_path / "project"
    (root / "sub" / "data").mkdir(parents=True)
    (root / "sub" / "data" / "n.txt").write_text("21\n")
    path = root / "sub" / "analysis.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS]), path)
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "analysis")
    if record:
        nb = kernel.execute(nbformat.read(path, as_version=4), path.parent)
        nbformat.write(nb, path)
    return path


def without_stamp(nb: dict[str, Any]) -> dict[str, Any]:
    nb = json.loads(json.dumps(nb))
    nb["metadata"].pop("nbrepro", None)
    for cell in nb["cells"]:
        cell["metadata"].pop("nbrepro", None)
    return nb


def test_a_save_stamps_metadata_only(tmp_path: Path) -> None:
    path = recorded(tmp_path)
    cm = contents_manager(path.parents[1])
    content = cm.get("sub/analysis.ipynb")["content"]
    plain = save_unhooked(path.parents[1], content)
    assert "nbrepro" not in plain["metadata"]
    cm.save({"type": "notebook", "content": content}, "sub/analysis.ipynb")
    saved = json.loads(path.read_text())
    assert saved["metadata"]["nbrepro"]["schema"] == "nbrepro.stamp/1"
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert all(c["metadata"]["nbrepro"]["run_id"] for c in code)
    assert code[1]["metadata"]["nbrepro"]["data"][0]["path"] == "sub/data/n.txt"
    assert without_stamp(saved) == plain  # sources, outputs, ids: as an unhooked save writes them


def test_a_failing_stamp_never_breaks_a_save(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = recorded(tmp_path)
    (path.parents[1] / ".nbrepro" / "nbrepro.db").write_bytes(b"not a database" * 100)
    cm = contents_manager(path.parents[1])
    content = cm.get("sub/analysis.ipynb")["content"]
    plain = save_unhooked(path.parents[1], content)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            cm.save({"type": "notebook", "content": content}, "sub/analysis.ipynb")
            assert json.loads(path.read_text()) == plain
    warnings = [r.getMessage() for r in caplog.records if "nbrepro" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("nbrepro: could not stamp provenance on save (") and "\n" not in warnings[0]


def test_a_notebook_never_recorded_is_saved_as_it_came(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = recorded(tmp_path, record=False)
    cm = contents_manager(path.parents[1])
    content = cm.get("sub/analysis.ipynb")["content"]
    plain = save_unhooked(path.parents[1], content)
    with caplog.at_level(logging.WARNING):
        cm.save({"type": "notebook", "content": content}, "sub/analysis.ipynb")
    assert json.loads(path.read_text()) == plain
    assert not [r for r in caplog.records if "nbrepro" in r.getMessage()]


def test_other_files_are_saved_as_they_came(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = recorded(tmp_path)
    cm = contents_manager(path.parents[1])
    with caplog.at_level(logging.WARNING):
        cm.save({"type": "file", "format": "text", "content": "{\"cells\": []}\n"}, "sub/notes.ipynb.txt")
    assert (path.parent / "notes.ipynb.txt").read_text() == "{\"cells\": []}\n"
    assert not [r for r in caplog.records if "nbrepro" in r.getMessage()]
