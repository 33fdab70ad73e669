"""Fuzzed notebooks and stamps into ``nbrepro stamp``, ``verify`` and ``export``: whatever the
input, the exit code is 0, 1 or 2, stderr is at most one line and never a traceback, nothing
is left behind, and the input's bytes are unchanged (stamp changes its metadata only).

Each case starts from a real stamped notebook (a real SQLite store of real records) and
breaks it: values replaced by random JSON, keys and cells removed, nesting far deeper than
any notebook, lone surrogates, truncated or garbled text. The commands run in this process
(``nbrepro.cli.main`` through click's CliRunner isolation), so a case costs milliseconds:

- ``stamp`` runs in the project, with the store: it stamps what it can read, else refuses;
- ``verify`` runs in a reviewer's folder without the store, with ``-p`` naming a parameter the
  notebook does not have: every input is read, its stamp checked and the parameter refused
  before a kernel could start (a refusal of the input itself comes first);
- ``export`` runs there on the inputs nbrepro refuses to read (a valid one would be
  exported and its generated tests run in a new interpreter, seconds a case).

Hypothesis is derandomized with no example database, so CI runs the same cases every time.
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
import warnings
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inprocess import nbrepro_main

from nbrepro._errors import NotebookError
from nbrepro.notebook.read import read_notebook
from nbrepro.notebook.stamp import stamp_notebook
from nbrepro.notebook.stamp_format import read_stamp
from nbrepro.record import CellRun
from nbrepro.record.hashing import hash_text
from nbrepro.store import SQLiteStore

pytestmark = pytest.mark.functional

SOURCES = ["import json", "x = json.loads('[1, 2]')", "print(sum(x))", "x"]
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def record(session: str, index: int, source: str) -> dict[str, Any]:
    return CellRun(
        run_id=uuid.uuid4().hex, session_id=session,
        notebook={"path": "nb.ipynb", "found_by": "JPY_SESSION_NAME"},
        cell={"id": None, "index": index, "execution_count": index + 1, "source": source, "source_hash": hash_text(source)},
        started_at="2026-01-01T00:00:00.000Z", duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1, status="ok", error=None,
        git={"commit": "c0ffee" * 6 + "abcd", "branch": "main", "dirty": False, "snapshot": None},
        env={"imported": {}}, hardware={"unavailable": "test"},
        extra={
            "outputs": {"hash": hash_text(str(index)), "items": []},
            "data": [{"path": "in.csv", "hash": hash_text("1,2"), "size": 3, "mode": "r", "seen_by": "open"}] if index == 1 else [],
            "seeds": {"set": {}, "unseeded": []},
            "params": {"n": 3} if index == 0 else {},
        },
    ).to_dict()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(the project with its store, a reviewer's folder without one, the stamped notebook's JSON)."""
    base = tmp_path_factory.mktemp("fuzz")
    project, review = base / "project", base / "review"
    for folder in (project, review):
        folder.mkdir()
        subprocess.run(["git", "init", "-q", folder], check=True)
    store = SQLiteStore(project / ".nbrepro")
    session = uuid.uuid4().hex
    store.append([record(session, i, s) for i, s in enumerate(SOURCES)])
    store.close()
    cells = [nbformat.v4.new_markdown_cell("# t"), *map(nbformat.v4.new_code_cell, SOURCES)]
    cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="3\n")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), project / "nb.ipynb")
    assert stamp_notebook(project / "nb.ipynb").cells == len(SOURCES)
    return project, review, json.loads((project / "nb.ipynb").read_text())


# -- breaking a notebook ---------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``doc`` a value can be replaced or removed."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    out = []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths(value, (*prefix, key)))
    return out


def is_stamp(path: tuple[Any, ...]) -> bool:
    return path[:2] == ("metadata", "nbrepro") or (len(path) >= 4 and path[0] == "cells" and path[2:4] == ("metadata", "nbrepro"))


@st.composite
def broken(draw: st.DrawFn, base: dict[str, Any], stamp_only: bool) -> str:
    """The text of ``base`` with one to three things broken."""
    doc = copy.deepcopy(base)
    deep: list[int] = []
    for _ in range(draw(st.integers(1, 3))):
        where = [p for p in paths(doc) if is_stamp(p) or not stamp_only]
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "remove", "deepen", "surrogate", "copy-cell"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "remove":
            del parent[path[-1]]
        elif action == "deepen":  # nested in the text: no walk of this test's own may recurse into it
            deep.append(draw(st.sampled_from([99, 150, 3000])))
            parent[path[-1]] = f"@deep{len(deep) - 1}@"
        elif action == "surrogate":
            parent[path[-1]] = draw(st.sampled_from(["\ud800", "x\udfff", "\udc80y"]))
        elif doc.get("cells") and isinstance(doc["cells"], list):  # a cell pasted with its stamp
            doc["cells"].append(copy.deepcopy(draw(st.sampled_from(doc["cells"]))))
    text = json.dumps(doc, indent=1)
    for k, levels in enumerate(deep):
        text = text.replace(f'"@deep{k}@"', "[" * levels + "0" + "]" * levels)
    if not stamp_only and draw(st.integers(0, 9)) == 0:  # a file cut short, or garbled
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "\x00", "}", "\ufffd", '"\\u'])) + text[cut + 1:] * draw(st.integers(0, 1))
    return text


# -- what every command must do ----------------------------------------------------------------


def refused_input(path: Path) -> bool:
    """nbrepro refuses the notebook or its stamp as bad input (checked as verify and export
    check it, before anything runs)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_stamp(read_notebook(path), path.name)
    except NotebookError:
        return True
    return False


def check(result: tuple[int, str, str], folder: Path, before: set[str]) -> int:
    code, _out, err = result
    assert code in (0, 1, 2), err
    assert err.count("\n") <= 1 and "Traceback" not in err and "internal error" not in err, err
    assert {p.name for p in folder.iterdir()} == before, "something was left behind"
    return code


def without_stamp(text: str) -> Any:
    doc = json.loads(text)
    doc["metadata"].pop("nbrepro", None)
    for cell in doc["cells"]:
        cell.get("metadata", {}).pop("nbrepro", None)
    return doc


def run_all(folders: tuple[Path, Path, dict[str, Any]], text: str) -> None:
    project, review, _base = folders
    for folder in (project, review):
        (folder / "nb.ipynb").write_bytes(text.encode("utf-8", "surrogatepass"))
    raw = (project / "nb.ipynb").read_bytes()

    listing = {p.name for p in project.iterdir()}
    code = check(nbrepro_main(project, "stamp", "nb.ipynb"), project, listing)
    after = (project / "nb.ipynb").read_bytes()
    if code == 0:
        assert without_stamp(after.decode()) == without_stamp(raw.decode())
    else:
        assert after == raw

    listing = {p.name for p in review.iterdir()}
    args = ("verify", "nb.ipynb", "--html", "report.html", "-p", "not_a_parameter", "1")
    assert check(nbrepro_main(review, *args), review, listing) == 2
    assert (review / "nb.ipynb").read_bytes() == raw
    if refused_input(review / "nb.ipynb"):
        assert check(nbrepro_main(review, "export", "nb.ipynb", "-o", "out/deep/pkg", "--no-lock"), review, listing) == 2
        assert (review / "nb.ipynb").read_bytes() == raw


@FUZZ
@given(data=st.data())
def test_broken_notebooks(folders: tuple[Path, Path, dict[str, Any]], data: st.DataObject) -> None:
    run_all(folders, data.draw(broken(folders[2], stamp_only=False)))


@FUZZ
@given(data=st.data())
def test_broken_stamps(folders: tuple[Path, Path, dict[str, Any]], data: st.DataObject) -> None:
    run_all(folders, data.draw(broken(folders[2], stamp_only=True)))
