"""A notebook finds its records whatever ran it: ``jupyter execute`` and nbconvert with the
extension in the IPython config, a script driving nbclient, papermill's Python API, and a
notebook renamed after its run. Nothing here sets ``JPY_SESSION_NAME`` or ``%nbrepro
notebook``: users running these commands set neither."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import assert_report_valid, assert_valid, git, make_wheel, read_records

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# No %load_ext: the extension comes from the IPython config, as docs/capture.md offers.
ANALYSIS = [
    "import csv\nwith open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]",
    "print(sum(values))",
    "import tinydep\nprint(tinydep.__version__)",
    "import random\nprint(random.random())",
    "x = 1",
    "x = x + 1",
    "print(x * 10)",
]
REPORT = [
    "import csv\nwith open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]",
    "print('total', sum(values))",
    "len(values)",
]
DRIVE_NBCLIENT = """
import sys
import nbformat
from nbclient import NotebookClient

path, order = sys.argv[1], [int(i) for i in sys.argv[2].split(",")]
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": "."}})
with client.setup_kernel():
    for i in order:
        client.execute_cell(nb.cells[i], i)
nbformat.write(nb, path)
"""


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Any]:
    """A git project with two notebooks and a data file; the extension in the IPython
    profile; tinydep 1.0 importable through PYTHONPATH."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "values.csv").write_text("1.5\n2.5\n4\n")
    for name, cells in (("analysis.ipynb", ANALYSIS), ("report.ipynb", REPORT)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nbformat.write(nb, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "notebooks")
    profile = Path(os.environ["IPYTHONDIR"]) / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text('c.InteractiveShellApp.extensions = ["nbrepro"]\n')
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()

    def install(version: str) -> None:
        shutil.rmtree(target, ignore_errors=True)
        wheel = make_wheel(wheels, "tinydep", version)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--target", str(target), str(wheel)],
                       check=True)

    install("1.0")
    return {"root": root, "env": {**os.environ, "PYTHONPATH": str(target)}, "install": install}


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=root, capture_output=True, text=True, env=env, timeout=300)


def nbrepro(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(root, env, sys.executable, "-m", "nbrepro", *args)


def verify(root: Path, env: dict[str, str], notebook: str) -> dict[str, Any]:
    proc = nbrepro(root, env, "verify", notebook, "--json")
    assert proc.returncode == 1, proc.stderr
    return assert_report_valid(json.loads(proc.stdout))


def causes(report: dict[str, Any], index: int) -> set[str]:
    entry = next(c for c in report["cells"] if c["index"] == index)
    return {f"{c['kind']}: {c['detail']}" for c in entry["causes"]}


def check_log_stamp_export(root: Path, env: dict[str, str], notebook: str, tmp: Path) -> None:
    """log lists the runs, stamp works, export carries the data hash and its tests catch an
    edited data file."""
    listed = nbrepro(root, env, "log", notebook, "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["cell"]["source"] for r in runs] == REPORT
    table = nbrepro(root, env, "log", notebook)
    assert "found " in table.stdout and "len(values)" in table.stdout

    stamped = nbrepro(root, env, "stamp", notebook)
    assert stamped.returncode == 0, stamped.stderr
    meta = nbformat.read(root / notebook, as_version=4).metadata["nbrepro"]
    assert meta["session_id"] == runs[0]["session_id"] and meta["match"]["matched_by"] in ("path", "content")

    out = tmp / f"pkg-{Path(notebook).stem}"
    exported = nbrepro(root, env, "export", notebook, "-o", str(out), "--no-lock")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "recorded side: store .nbrepro, session" in exported.stdout
    provenance = json.loads((out / "PROVENANCE.json").read_text())
    data_hash = runs[0]["data"][0]["hash"]
    assert provenance["data"] == {"data/values.csv": data_hash}
    assert provenance["session"]["id"] == runs[0]["session_id"]
    assert provenance["run_ids"] == [r["run_id"] for r in runs]
    tests = [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."]
    package_env = {**env, "PYTHONPATH": "src"}
    assert run(out, package_env, *tests).returncode == 0
    (root / "data" / "values.csv").write_text("1.5\n2.5\n5\n")
    try:
        failed = run(out, package_env, *tests)
        assert failed.returncode != 0 and "values.csv" in failed.stdout + failed.stderr
    finally:
        (root / "data" / "values.csv").write_text("1.5\n2.5\n4\n")


def test_jupyter_execute_with_the_extension_in_the_config(project: dict[str, Any], tmp_path: Path, record_validator) -> None:
    root, env = project["root"], project["env"]
    for notebook in ("analysis.ipynb", "report.ipynb"):
        done = run(root, env, str(BIN / "jupyter-execute"), "--inplace", notebook)
        assert done.returncode == 0, done.stderr
    records = read_records(root / ".nbrepro")
    assert_valid(records, record_validator)
    # the command line of jupyter execute names the notebook: path and position are recorded
    assert [(r["notebook"]["path"], r["notebook"]["found_by"], r["cell"]["index"]) for r in records] == [
        *(("analysis.ipynb", "jupyter execute", i) for i in range(len(ANALYSIS))),
        *(("report.ipynb", "jupyter execute", i) for i in range(len(REPORT))),
    ]
    check_log_stamp_export(root, env, "report.ipynb", tmp_path)

    # data edited, package swapped: each named on its own cell; the unseeded cell draws the
    # same number again (its recorded state of random is set before it)
    (root / "data" / "values.csv").write_text("1.5\n2.5\n5\n")
    project["install"]("2.0")
    report = verify(root, env, "analysis.ipynb")
    assert report["session"]["matched_by"] == "path"
    assert any(c.startswith("data: via cell 0: data/values.csv") for c in causes(report, 1)), causes(report, 1)
    assert "package: tinydep: 1.0 -> 2.0" in causes(report, 2)
    assert all(c["status"] == "reproduced" for c in report["cells"] if c["index"] >= 3)


def test_nbclient_script_then_renamed(project: dict[str, Any], tmp_path: Path) -> None:
    root, env = project["root"], project["env"]
    (tmp_path / "drive.py").write_text(DRIVE_NBCLIENT)
    # cell 5 (x = x + 1) run twice: the session is out of order
    order = ",".join(map(str, [0, 1, 2, 3, 4, 5, 5, 6]))
    done = run(root, env, sys.executable, str(tmp_path / "drive.py"), "analysis.ipynb", order)
    assert done.returncode == 0, done.stderr
    done = run(root, env, sys.executable, str(tmp_path / "drive.py"), "report.ipynb", "0,1,2")
    assert done.returncode == 0, done.stderr
    assert {r["notebook"]["path"] for r in read_records(root / ".nbrepro")} == {None}  # nothing names it
    git(root, "mv", "analysis.ipynb", "renamed.ipynb")
    git(root, "mv", "report.ipynb", "moved-report.ipynb")
    git(root, "commit", "-q", "-am", "rename")

    check_log_stamp_export(root, env, "moved-report.ipynb", tmp_path)

    (root / "data" / "values.csv").write_text("1.5\n2.5\n5\n")
    project["install"]("2.0")
    report = verify(root, env, "renamed.ipynb")
    assert report["session"] == {**report["session"], "matched_by": "content", "cells": 7, "of": 7}
    assert "found by content: 7 of 7 cells" in report["recorded"]
    assert any(c.startswith("data: via cell 0: data/values.csv") for c in causes(report, 1)), causes(report, 1)
    assert "package: tinydep: 1.0 -> 2.0" in causes(report, 2)
    assert next(c for c in report["cells"] if c["index"] == 3)["status"] == "reproduced"  # its RNG state replayed
    assert any(c.startswith("order:") and "4, 5, 5, 6" in c for c in causes(report, 6)), causes(report, 6)


def test_nbconvert_and_papermills_api(tmp_path: Path, project: dict[str, Any]) -> None:
    root, env = project["root"], project["env"]
    done = run(root, env, str(BIN / "jupyter-nbconvert"), "--to", "notebook", "--execute", "--inplace", "report.ipynb")
    assert done.returncode == 0, done.stderr
    records = read_records(root / ".nbrepro")
    assert [(r["notebook"]["path"], r["notebook"]["found_by"], r["cell"]["index"]) for r in records] == [
        ("report.ipynb", "jupyter nbconvert", i) for i in range(len(REPORT))
    ]
    # papermill's Python API in a script leaves no command line naming the notebook
    script = "import papermill\npapermill.execute_notebook('report.ipynb', 'out.ipynb', kernel_name='python3', progress_bar=False)\n"
    done = run(root, env, sys.executable, "-c", script)
    assert done.returncode == 0, done.stderr
    sessions = {r["session_id"] for r in read_records(root / ".nbrepro")}
    assert len(sessions) == 2
    proc = nbrepro(root, env, "verify", "out.ipynb", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["session"]["matched_by"] == "content"
    assert report["verdict"] == "reproduced"


def test_no_matching_session_is_said_in_one_line(project: dict[str, Any]) -> None:
    root, env = project["root"], project["env"]
    # a store exists (the other notebook ran), but nothing of report.ipynb was recorded
    done = run(root, env, str(BIN / "jupyter-execute"), "analysis.ipynb")
    assert done.returncode == 0, done.stderr
    stamp = nbrepro(root, env, "stamp", "report.ipynb")
    assert stamp.returncode == 2 and len(stamp.stderr.strip().splitlines()) == 1
    assert "no recorded session matches it" in stamp.stderr and "%load_ext nbrepro" in stamp.stderr
    assert "NBREPRO_DIR" in stamp.stderr
    log = nbrepro(root, env, "log", "report.ipynb")
    assert log.returncode == 0 and "no recorded session matches it" in log.stdout
    (root / "notes.txt").write_text("not a notebook\n")
    bad = nbrepro(root, env, "log", "notes.txt")
    assert bad.returncode == 2 and bad.stderr.startswith("nbrepro: error:") and len(bad.stderr.splitlines()) == 1
    unknown = nbrepro(root, env, "verify", "report.ipynb", "--session", "feedbeef")
    assert unknown.returncode == 2 and "no such session" in unknown.stderr
