"""The lock of a recorded session (nbrepro.notebook.lock): real records in a real SQLite store,
real pip-compile on a local wheel folder (offline); no kernel."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import make_wheel
from packaging.markers import default_environment

from nbrepro._errors import StoreError, UsageError
from nbrepro.notebook.facts import session_env
from nbrepro.notebook.lock import recorded_env, session_lock
from nbrepro.notebook.read import read_notebook
from nbrepro.notebook.recorded import checked_stamp
from nbrepro.notebook.stamp import stamp_notebook
from nbrepro.notebook.stamp_format import seal
from nbrepro.record import CellRun
from nbrepro.record.hashing import hash_json, hash_text
from nbrepro.store import SQLiteStore

HERE = {k: str(v) for k, v in default_environment().items()
        if k in ("implementation_name", "platform_machine", "python_version", "sys_platform")}
BLOB = {
    "python": "3.11.7", "implementation": "CPython", "platform": "linux-x86_64", "markers": HERE,
    "installed": {"topdep": "1.0", "tinydep": "1.0", "mylib": "0.3", "other": "5.0"},
    "requires": {"topdep": ["tinydep"], "tinydep": [], "mylib": [], "other": []},
    "origins": {"mylib": {"kind": "folder", "path": "libs/mylib", "editable": True}},
}
ENV_ID = hash_json(BLOB)
SOURCES = ["import topdep", "import mylib"]


def record(session: str, index: int, imported: dict[str, str]) -> dict[str, Any]:
    source = SOURCES[index]
    files = {name: hash_text(f"{name} files") for name in imported}
    return CellRun(
        run_id=uuid.uuid4().hex, session_id=session, notebook={"path": "nb.ipynb", "found_by": "JPY_SESSION_NAME"},
        cell={"id": None, "index": index, "execution_count": index + 1, "source": source, "source_hash": hash_text(source)},
        started_at="2026-01-01T00:00:00.000Z", duration_s=0.1, cpu_s=0.1, rss_peak_bytes=1, status="ok", error=None,
        git={"unavailable": "test"}, env={"id": ENV_ID, "imported": imported, "files": files}, hardware={"unavailable": "test"},
    ).to_dict()


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for name, version, requires in [("tinydep", "1.0", ()), ("tinydep", "2.0", ()), ("topdep", "1.0", ("tinydep>=1",)),
                                    ("other", "5.0", ())]:
        make_wheel(folder, name, version, requires)
    return folder


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A project (the working directory) whose store holds one session that imported topdep
    and mylib, and nb.ipynb, the notebook it ran."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in SOURCES]), root / "nb.ipynb")
    store = SQLiteStore(root / ".nbrepro")
    session = uuid.uuid4().hex
    store.append([record(session, 0, {"topdep": "1.0"}), record(session, 1, {"topdep": "1.0", "mylib": "0.3"})],
                 {ENV_ID: ("env", BLOB)})
    store.close()
    return session


def requirement_lines(text: str) -> list[str]:
    return [line.removesuffix(" \\") for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("#")]


def test_what_the_session_imported_is_locked_with_its_dependencies_at_the_recorded_versions(
    session: str, wheels: Path, tmp_path: Path
) -> None:
    env, title = recorded_env(None, session[:8])
    assert env["pins"] == {"mylib": "0.3", "tinydep": "1.0", "topdep": "1.0"}  # "other" was not needed
    assert env["imported"] == ["mylib", "topdep"] and title == f"session {session[:8]}"
    lock = session_lock(env, title=title, find_links=wheels, no_index=True)
    marker = " and ".join(f'{k} == "{HERE[k]}"' for k in ("python_version", "sys_platform", "platform_machine", "implementation_name"))
    # tinydep stays at the recorded 1.0 though the folder has 2.0; the dependency carries the markers too
    assert requirement_lines(lock.text) == [f"tinydep==1.0 ; {marker}", f"topdep==1.0 ; {marker}"]
    assert lock.text.count("--hash=sha256:") == 2 and lock.hash == hash_text(lock.text)
    # mylib came from a local folder: named in the header with its origin, never locked
    assert lock.unlocked == {"mylib": "folder libs/mylib (editable)"}
    assert "#   mylib 0.3: folder libs/mylib (editable)" in lock.text
    assert "recorded with CPython 3.11.7 on linux-x86_64" in lock.text
    assert str(tmp_path) not in lock.text and "file:" not in lock.text and "--find-links" not in lock.text


def test_all_locks_the_whole_recorded_installed_set(session: str, wheels: Path) -> None:
    env, title = recorded_env(None, session, everything=True)
    lock = session_lock(env, title=title, find_links=wheels, no_index=True)
    assert [line.partition(" ;")[0] for line in requirement_lines(lock.text)] == ["other==5.0", "tinydep==1.0", "topdep==1.0"]
    assert "its whole installed set" in lock.text and "#   mylib 0.3:" in lock.text


def test_the_environment_is_what_a_stamp_carries() -> None:
    records = [record("s" * 32, 0, {"topdep": "1.0"})]
    env = session_env(records, {ENV_ID: BLOB}.get)
    assert env == {
        "python": "3.11.7", "implementation": "CPython", "platform": "linux-x86_64", "markers": HERE,
        "imported": ["topdep"], "pins": {"tinydep": "1.0", "topdep": "1.0"}, "origins": {},
    }


def test_another_python_is_refused_before_pip_compile_runs(wheels: Path) -> None:
    env = {"markers": {**HERE, "python_version": "2.7"}, "pins": {"tinydep": "1.0"}, "imported": ["tinydep"]}
    with pytest.raises(UsageError, match=r"the session ran with python_version 2\.7, this Python has python_version 3\.") as err:
        session_lock(env, title="session x", find_links=wheels, no_index=True)
    assert "\n" not in str(err.value)


def test_a_session_without_the_store_and_its_notebook_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="--session abcd: no store here"):
        recorded_env(None, "abcd")


def test_the_stamp_carries_the_environment_and_its_seal_covers_it(session: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert stamp_notebook(project / "nb.ipynb")
    review = tmp_path / "review"  # the stamped notebook alone
    review.mkdir()
    (review / "nb.ipynb").write_text((project / "nb.ipynb").read_text())
    assert recorded_env(review / "nb.ipynb", None) == recorded_env(project / "nb.ipynb", None)
    doc = json.loads((project / "nb.ipynb").read_text())
    assert doc["cells"][0]["metadata"]["nbrepro"]["files"] == {"topdep": hash_text("topdep files")}
    # a stamp written before stamps carried the environment and files digests: intact
    top = doc["metadata"]["nbrepro"]
    del top["env"]
    for cell in doc["cells"]:
        del cell["metadata"]["nbrepro"]["files"]
    cells = {i: c["metadata"]["nbrepro"] for i, c in enumerate(doc["cells"])}
    top["integrity"] = seal({k: v for k, v in top.items() if k != "integrity"}, cells, top["integrity"]["chain"])
    older = project / "older.ipynb"
    older.write_text(json.dumps(doc))
    assert checked_stamp(read_notebook(older), older).state == "intact"
    # an edited pin is an alteration, named
    doc = json.loads((project / "nb.ipynb").read_text())
    doc["metadata"]["nbrepro"]["env"]["pins"]["tinydep"] = "2.0"
    edited = project / "edited.ipynb"
    edited.write_text(json.dumps(doc))
    stamp = checked_stamp(read_notebook(edited), edited)
    assert stamp.state == "altered"
    assert any("environment" in what for _, what in stamp.findings)
