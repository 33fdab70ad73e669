"""``nbrepro stamp`` and the stamp it writes (nbrepro.notebook.stamp, stamp_format, recorded):
only metadata changes; the seal finds every edit; the store finds a recomputed seal; a
malformed stamp is one error line (exit 2), never a crash.

The store holds real records (``CellRun``) in a real SQLite store, appended as the recorder
appends them; no kernel is needed to stamp.
"""

from __future__ import annotations

import copy
import json
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from inprocess import nbrepro_main

from nbrepro.notebook.read import read_notebook
from nbrepro.notebook.recorded import checked_stamp, recorded_side
from nbrepro.notebook.stamp import stamp_notebook
from nbrepro.notebook.stamp_format import MalformedStamp, read_stamp, seal
from nbrepro.record import CellRun
from nbrepro.record.hashing import hash_text
from nbrepro.store import SQLiteStore

SOURCES = ["import json", "x = json.loads('[1, 2]')", "print(sum(x))", "x"]


def record(session: str, index: int, source: str) -> dict[str, Any]:
    return CellRun(
        run_id=uuid.uuid4().hex, session_id=session,
        notebook={"path": "nb.ipynb", "found_by": "JPY_SESSION_NAME"},
        cell={"id": None, "index": index, "execution_count": index + 1, "source": source, "source_hash": hash_text(source)},
        started_at="2026-01-01T00:00:00.000Z", duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1, status="ok", error=None,
        git={"commit": "c0ffee" * 6 + "abcd", "branch": "main", "dirty": False, "snapshot": None},
        env={"imported": {"numpy": "2.0.0"} if index == 0 else {}}, hardware={"unavailable": "test"},
        extra={
            "outputs": {"hash": hash_text(f"out {index}"), "items": []},
            "data": [{"path": "data/in.csv", "hash": hash_text("1,2"), "size": 3, "mode": "r", "seen_by": "open"}] if index == 1 else [],
            "seeds": {"set": {}, "unseeded": []},
        },
    ).to_dict()


def code(source: str, cell_id: str | None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git project whose store holds one session that ran SOURCES, and nb.ipynb with them."""
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", root], check=True)
    session = uuid.uuid4().hex
    store = SQLiteStore(root / ".nbrepro")
    store.append([record(session, i, s) for i, s in enumerate(SOURCES)])
    store.close()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), *map(nbformat.v4.new_code_cell, SOURCES)])
    nbformat.write(nb, root / "nb.ipynb")
    return root


def without_stamp(doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    doc["metadata"].pop("nbrepro", None)
    for cell in doc["cells"]:
        cell.get("metadata", {}).pop("nbrepro", None)
    return doc


def stamped_json(project: Path) -> dict[str, Any]:
    assert stamp_notebook(project / "nb.ipynb")
    return json.loads((project / "nb.ipynb").read_text())


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1))


# -- writing: metadata only ----------------------------------------------------------------


def test_stamp_changes_only_metadata_and_keeps_nbformats_layout(project: Path) -> None:
    path = project / "nb.ipynb"
    before = path.read_text()
    code_, out, err = nbrepro_main(project, "stamp", "nb.ipynb")
    assert (code_, err) == (0, ""), err
    assert out.startswith("stamped nb.ipynb: 4 cell(s) from session ")
    after = json.loads(path.read_text())
    assert without_stamp(after) == json.loads(before)
    # the layout nbformat writes stays: removing the stamp gives back the very same text
    assert nbformat.writes(nbformat.from_dict(without_stamp(after))) + "\n" == before
    assert after["metadata"]["nbrepro"]["integrity"]["chain"]["seq"] == 4
    assert [c["metadata"].get("nbrepro", {}).get("order") for c in after["cells"]] == [None, [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]


def test_stamp_keeps_the_mode_duplicate_and_missing_ids_and_a_link(project: Path) -> None:
    real = project / "real.ipynb"
    cells = [code(SOURCES[0], "same"), code(SOURCES[1], "same"), code(SOURCES[2], None), code(SOURCES[3], "last")]
    doc = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    real.write_text(json.dumps(doc, indent=2))  # not nbformat's layout: its key order stays too
    real.chmod(0o644)
    (project / "nb.ipynb").unlink()
    (project / "nb.ipynb").symlink_to(real)
    code_, _out, err = nbrepro_main(project, "stamp", "nb.ipynb")
    assert code_ == 0
    assert err.splitlines() == [
        "nbrepro: warning: nb.ipynb: 1 missing cell id(s) added; 1 duplicate cell id(s) replaced, as Jupyter does when it opens it"
    ]
    assert (project / "nb.ipynb").is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o644
    after = json.loads(real.read_text())
    assert without_stamp(after) == doc
    assert list(after) == list(doc) and [c.get("id") for c in after["cells"]] == ["same", "same", None, "last"]
    assert all("nbrepro" in c["metadata"] for c in after["cells"])


@pytest.mark.parametrize("text, message", [
    ('{"nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []}]}',
     'no integer "nbformat" version'),
    ('{"nbformat": "4", "nbformat_minor": 5, "metadata": {}, "cells": []}', 'no integer "nbformat" version'),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [], "x": ' + "[" * 2000 + "]" * 2000 + "}", "nested more than"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [], "x": ' + "[" * 150 + "]" * 150 + "}", "nested more than"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "a", "source": "x = \'\\ud800\'",'
     ' "metadata": {}, "outputs": [], "execution_count": null}]}', "lone surrogate"),
])
def test_structurally_invalid_notebooks_are_refused_untouched(project: Path, text: str, message: str) -> None:
    path = project / "nb.ipynb"
    path.write_text(text)
    before = path.read_bytes()
    for command in ("stamp", "verify", "export"):
        args = [command, "nb.ipynb", *(["-o", "out/pkg", "--no-lock"] if command == "export" else [])]
        code_, out, err = nbrepro_main(project, *args)
        assert (code_, out) == (2, ""), (command, code_, err)
        assert err.count("\n") == 1 and message in err and "Traceback" not in err
        assert path.read_bytes() == before
    assert not (project / "out").exists()


def test_a_valid_surrogate_pair_is_text(project: Path) -> None:
    path = project / "nb.ipynb"
    doc = json.loads(path.read_text())
    doc["cells"][0]["source"] = "# \ud83d\ude00"  # json.dumps escapes it as a pair
    write(path, doc)
    assert read_notebook(path).cells[0].source == "# \U0001f600"


# -- reading: the seal ---------------------------------------------------------------------


def read(project: Path, doc: dict[str, Any]) -> Any:
    write(project / "nb.ipynb", doc)
    return read_stamp(read_notebook(project / "nb.ipynb"), "nb.ipynb")


def test_an_untouched_stamp_is_intact_and_matches_the_store(project: Path) -> None:
    doc = stamped_json(project)
    stamp = read(project, doc)
    assert stamp.state == "intact" and stamp.chain["seq"] == 4
    assert checked_stamp(read_notebook(project / "nb.ipynb"), project / "nb.ipynb").state == "intact"
    assert sorted(stamp.facts.cells) == [1, 2, 3, 4] and stamp.facts.order == [1, 2, 3, 4]


@pytest.mark.parametrize("edit, where", [
    (lambda d: d["cells"][2]["metadata"]["nbrepro"].update(source_hash=hash_text("other")), 2),
    (lambda d: d["cells"][3]["metadata"]["nbrepro"].update(outputs_hash=hash_text("other")), 3),
    (lambda d: d["cells"][2]["metadata"]["nbrepro"]["data"][0].update(hash=hash_text("9,9")), 2),
    (lambda d: d["cells"][1]["metadata"]["nbrepro"]["imported"].update(numpy="1.0.0"), 1),
    (lambda d: d["metadata"]["nbrepro"]["git"].update(commit="0" * 40), None),
    (lambda d: d["metadata"]["nbrepro"].update(order=[1, 3, 2, 4]), None),
    (lambda d: d["metadata"]["nbrepro"]["integrity"].update(chain={"seq": 9, "hash": hash_text("x")}), None),
    (lambda d: d["cells"][4]["metadata"].pop("nbrepro"), None),
])
def test_every_edit_is_found_and_named(project: Path, edit: Any, where: int | None) -> None:
    doc = stamped_json(project)
    edit(doc)
    stamp = read(project, doc)
    assert stamp.state == "altered"
    assert [i for i, _ in stamp.findings] == [where]
    if where is not None:
        assert stamp.findings[0][1] == f"cell {where}'s stamp was edited"


def test_moved_and_copied_cells_keep_an_intact_stamp(project: Path) -> None:
    doc = stamped_json(project)
    pasted = copy.deepcopy(doc["cells"][4])
    doc["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": "new", "id": "newmd"})
    doc["cells"].append(pasted | {"id": "pasted"})  # Jupyter copies a cell with its metadata
    stamp = read(project, doc)
    assert stamp.state == "intact"
    assert sorted(stamp.facts.cells) == [2, 3, 4, 5]  # the copy at 6 is new
    assert stamp.facts.order == [2, 3, 4, 5] and stamp.facts.cells[5].order == [2, 3, 4, 5]


def test_an_old_stamp_without_a_seal_is_read_as_unsigned(project: Path) -> None:
    doc = stamped_json(project)
    del doc["metadata"]["nbrepro"]["integrity"]
    stamp = read(project, doc)
    assert stamp.state == "unsigned" and not stamp.findings and sorted(stamp.facts.cells) == [1, 2, 3, 4]
    _facts, described = recorded_side(read_notebook(project / "nb.ipynb"), project / "nb.ipynb")
    assert described.startswith("store")  # the store comes first


def test_a_recomputed_seal_is_caught_by_the_store(project: Path) -> None:
    doc = stamped_json(project)
    entry = doc["cells"][3]["metadata"]["nbrepro"]
    entry["outputs_hash"] = hash_text("forged")
    top = {k: v for k, v in doc["metadata"]["nbrepro"].items() if k != "integrity"}
    cells = {i: c["metadata"]["nbrepro"] for i, c in enumerate(doc["cells"]) if "nbrepro" in c["metadata"]}
    top["integrity"] = seal(top, cells, doc["metadata"]["nbrepro"]["integrity"]["chain"])
    doc["metadata"]["nbrepro"] = top
    assert read(project, doc).state == "intact"  # the seal alone cannot tell
    checked = checked_stamp(read_notebook(project / "nb.ipynb"), project / "nb.ipynb")
    assert checked.state == "altered"
    assert checked.findings == [(3, "cell 3's outputs_hash differ from the store's record")]


def test_a_stamp_of_part_of_a_session_is_checked_against_that_part(project: Path) -> None:
    doc = stamped_json(project)
    store = SQLiteStore(project / ".nbrepro")
    session = doc["metadata"]["nbrepro"]["session_id"]
    store.append([record(session, 3, SOURCES[3])])  # the session went on after the stamp
    store.close()
    assert checked_stamp(read_notebook(project / "nb.ipynb"), project / "nb.ipynb").state == "intact"


# -- reading: malformed stamps are bad input -------------------------------------------------


@pytest.mark.parametrize("edit, detail", [
    (lambda d: d["metadata"]["nbrepro"].update(order="1,2"), "metadata.nbrepro.order is not a list of cell indices"),
    (lambda d: d["metadata"]["nbrepro"].update(order=[1, True]), "metadata.nbrepro.order is not a list of cell indices"),
    (lambda d: d["metadata"]["nbrepro"].update(params=[1]), "metadata.nbrepro.params is not an object"),
    (lambda d: d["metadata"]["nbrepro"].update(git="main"), "metadata.nbrepro.git is not an object"),
    (lambda d: d["cells"][2]["metadata"].update(nbrepro=[1]), "cell 2's metadata.nbrepro is not an object"),
    (lambda d: d["cells"][2]["metadata"]["nbrepro"].update(data=[{"path": 1}]), "cell 2's metadata.nbrepro.data"),
    (lambda d: d["cells"][2]["metadata"]["nbrepro"].update(imported=None), "cell 2's metadata.nbrepro.imported"),
    (lambda d: d["metadata"]["nbrepro"]["integrity"].update(cells=[]), "metadata.nbrepro.integrity.cells"),
    (lambda d: d["metadata"]["nbrepro"].pop("integrity") and d["metadata"]["nbrepro"].update(order=[1, 2, 3, 99]),
     "it names a run of cell 99"),
    (lambda d: d["metadata"]["nbrepro"].pop("integrity") and d["cells"][4]["metadata"].pop("nbrepro"), "it names a run of cell 4"),
])
def test_malformed_stamps_are_one_error_line(project: Path, edit: Any, detail: str) -> None:
    doc = stamped_json(project)
    edit(doc)
    review = project.parent / "review"  # a reviewer without the store
    review.mkdir()
    write(review / "nb.ipynb", doc)
    before = (review / "nb.ipynb").read_bytes()
    with pytest.raises(MalformedStamp, match=detail):
        read_stamp(read_notebook(review / "nb.ipynb"), "nb.ipynb")
    for command in ("verify", "export"):
        args = [command, "nb.ipynb", *(["-o", "out/pkg", "--no-lock"] if command == "export" else [])]
        code_, out, err = nbrepro_main(review, *args)
        assert (code_, out) == (2, ""), (command, err)
        assert err.startswith("nbrepro: error: nb.ipynb: its stamp is malformed (") and err.count("\n") == 1
    assert (review / "nb.ipynb").read_bytes() == before and not (review / "out").exists()
    # with the store, the store is the recorded side and the stamp is a finding
    write(project / "nb.ipynb", doc)
    nb = read_notebook(project / "nb.ipynb")
    assert recorded_side(nb, project / "nb.ipynb")[1].startswith("store")
    checked = checked_stamp(nb, project / "nb.ipynb")
    assert checked.state == "altered" and detail in checked.findings[0][1]


def test_stamping_again_replaces_a_malformed_stamp(project: Path) -> None:
    doc = stamped_json(project)
    doc["cells"][2]["metadata"]["nbrepro"] = "broken"
    write(project / "nb.ipynb", doc)
    assert stamp_notebook(project / "nb.ipynb")
    assert read(project, json.loads((project / "nb.ipynb").read_text())).state == "intact"


def test_a_stamp_keeps_what_jupyter_wrote_beside_it(project: Path) -> None:
    doc = stamped_json(project)
    doc["cells"][2]["metadata"]["collapsed"] = True
    write(project / "nb.ipynb", doc)
    after = stamped_json(project)
    assert after["cells"][2]["metadata"]["collapsed"] is True
