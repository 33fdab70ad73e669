"""`nbrepro verify` on real notebooks in real kernels: one test per situation it must explain."""

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
from conftest import assert_report_valid, make_wheel, notebook_project

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

BASE = [
    "%load_ext nbrepro",
    "scale = 2",
    "import csv\nfrom helpers import total\nwith open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]",
    "print(total(values) * scale)",
    "len(values)",
]


def make_project(root: Path, cells: list[str] = BASE) -> Path:
    files = {"data/values.csv": "1.5\n2.5\n4\n", "helpers.py": "def total(xs):\n    return sum(xs)\n"}
    return notebook_project(root, cells, "analysis.ipynb", files)


def record(path: Path, cells: list[str] | None = None, env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Run the notebook (or the given sequence of its cells) with nbrepro, as a user would."""
    nb = nbformat.read(path, as_version=4)
    if cells is not None:
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return kernel.execute(nb, path.parent, env=env)


def verify(path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "nbrepro", "verify", str(path), "--json", *args],
        capture_output=True, text=True, cwd=path.parent, env={**os.environ, **(env or {})}, timeout=300,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, assert_report_valid(json.loads(proc.stdout))


def cell(report: dict[str, Any], index: int) -> dict[str, Any]:
    return next(c for c in report["cells"] if c["index"] == index)


def kinds(entry: dict[str, Any]) -> set[str]:
    return {c["kind"] for c in entry["causes"]}


def test_unchanged_notebook_is_reproduced(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)
    before = path.read_bytes()
    code, report = verify(path, "--html", str(tmp_path / "report.html"))
    assert code == 0, report
    assert report["schema"] == "nbrepro.verify/1" and report["verdict"] == "reproduced"
    assert [c["status"] for c in report["cells"]] == ["reproduced"] * 5
    assert [c["index"] for c in report["cells"]] == [0, 1, 2, 3, 4]
    assert report["environment"]["params"]["recorded"] == {"scale": 2}
    assert path.read_bytes() == before  # the input is never written
    page = (tmp_path / "report.html").read_text()
    assert "reproduced" in page and "<script" not in page


def test_edited_data_file_is_named_in_the_cells_that_used_it(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)
    (path.parent / "data" / "values.csv").write_text("1.5\n2.5\n5\n")
    code, report = verify(path)
    assert code == 1 and report["verdict"] == "differs"
    differing = cell(report, 3)
    assert differing["status"] == "differs" and "16.0" in differing["diff"] and "18.0" in differing["diff"]
    data = [c for c in differing["causes"] if c["kind"] == "data"]
    assert data and data[0]["detail"].startswith("via cell 2: data/values.csv: blake3:")
    assert kinds(differing) == {"data"}
    assert cell(report, 2)["status"] == "reproduced"  # read, but shows nothing
    assert cell(report, 4)["status"] == "reproduced"  # still three values


def test_edited_helper_module_is_a_code_cause(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)
    (path.parent / "helpers.py").write_text("def total(xs):\n    return 10 * sum(xs)\n")
    code, report = verify(path)
    assert code == 1
    differing = cell(report, 3)
    assert "code" in kinds(differing)
    assert any("helpers.py" in c["detail"] for c in differing["causes"] if c["kind"] == "code")
    assert "data" not in kinds(differing)


def test_other_parameters_are_named(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)
    code, report = verify(path, "-p", "scale", "3")
    assert code == 1
    differing = cell(report, 3)
    assert "parameters" in kinds(differing)
    assert any("scale: 2 -> 3" in c["detail"] for c in differing["causes"])
    assert report["environment"]["params"]["rerun"] == {"scale": 3}


def test_global_rngs_replay_and_unseeded_randomness_with_no_state_is_named(tmp_path: Path) -> None:
    draws = [
        "import random\nprint(random.random())",  # global RNGs without a seed: their states replay
        "import numpy as np\nprint(np.random.rand(2))",
        "print(np.random.default_rng().random())",  # a fresh generator: no state to replay
    ]
    path = make_project(tmp_path / "p", [*BASE, *draws])
    record(path)
    code, report = verify(path)
    assert code == 1
    assert all(c["status"] == "reproduced" for c in report["cells"][:7]), report["cells"]
    assert cell(report, 7)["status"] == "differs" and kinds(cell(report, 7)) == {"seed"}


def test_a_session_run_out_of_order_is_named(tmp_path: Path) -> None:
    cells = ["%load_ext nbrepro", "x = 1", "x = x + 1", "x * 10"]
    path = make_project(tmp_path / "p", cells)
    record(path, [cells[0], cells[1], cells[2], cells[2], cells[3]])  # cell 2 run twice
    code, report = verify(path)
    assert code == 1
    differing = cell(report, 3)
    assert "30" in differing["diff"] and "20" in differing["diff"]
    order = [c for c in differing["causes"] if c["kind"] == "order"]
    assert order and "0, 1, 2, 2, 3" in order[0]["detail"]


def test_a_different_package_version_is_named(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    target = tmp_path / "target-packages"

    def install(version: str) -> None:
        shutil.rmtree(target, ignore_errors=True)
        wheel = make_wheel(wheels, "tinydep", version)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--target", str(target), str(wheel)], check=True)

    path = make_project(tmp_path / "p", [*BASE, "import tinydep\nprint(tinydep.__version__)"])
    env = {"PYTHONPATH": str(target)}
    install("1.0")
    record(path, env=env)
    install("2.0")
    code, report = verify(path, env=env)
    assert code == 1
    differing = cell(report, 5)
    assert {"kind": "package", "detail": "tinydep: 1.0 -> 2.0"} in differing["causes"]
    assert {"name": "tinydep", "recorded": "1.0", "rerun": "2.0"} in report["environment"]["packages"]


def test_a_stamped_notebook_without_its_store_still_names_causes(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    done = subprocess.run([sys.executable, "-m", "nbrepro", "stamp", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    stamped = nbformat.read(path, as_version=4)
    assert [c.source for c in stamped.cells] == sources
    assert stamped.metadata["nbrepro"]["schema"] == "nbrepro.stamp/1"
    # the reviewer gets the notebook, the data and the helper, and no store
    review = tmp_path / "review"
    review.mkdir()
    for name in ("analysis.ipynb", "helpers.py", "data"):
        src = path.parent / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, review / name)
    (review / "data" / "values.csv").write_text("1.5\n2.5\n5\n")
    code, report = verify(review / "analysis.ipynb")
    assert code == 1
    assert report["recorded"].startswith("stamp")
    assert "data" in kinds(cell(report, 3))


def test_an_altered_stamp_is_its_own_finding(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    nbformat.write(record(path), path)  # saved with its outputs, as Jupyter saves it
    done = subprocess.run([sys.executable, "-m", "nbrepro", "stamp", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    review = tmp_path / "review"  # the notebook, its data and helper, and no store
    review.mkdir()
    for name in ("analysis.ipynb", "helpers.py", "data"):
        src = path.parent / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, review / name)
    copy = review / "analysis.ipynb"
    code, report = verify(copy)
    assert code == 0 and report["stamp"] == {"state": "intact", "detail": "stamp intact: it matches its seal"}
    doc = json.loads(copy.read_text())
    doc["cells"][4]["metadata"]["nbrepro"]["outputs_hash"] = "blake3:" + "0" * 64
    copy.write_text(json.dumps(doc))
    code, report = verify(copy)
    assert code == 1 and report["verdict"] == "differs" and report["stamp"]["state"] == "altered"
    assert cell(report, 4)["status"] == "differs"
    assert cell(report, 4)["causes"] == [{"kind": "stamp", "detail": "stamp altered: cell 4's stamp was edited"}]
    assert [c["status"] for c in report["cells"] if c["index"] != 4] == ["reproduced"] * 4
    assert "stamp altered: cell 4's stamp was edited" in report["recorded"]
    # a stamp from before seals: read as it always was, and said to be unsigned
    doc = json.loads(path.read_text())
    del doc["metadata"]["nbrepro"]["integrity"]
    copy.write_text(json.dumps(doc))
    code, report = verify(copy)
    assert code == 0 and report["stamp"]["state"] == "unsigned"
    assert report["recorded"].startswith("stamp in the notebook's metadata") and "unsigned stamp" in report["recorded"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"cells": 3}', "not a Jupyter notebook"),
    (None, "no such file"),
])
def test_malformed_input_exits_2_with_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bad.ipynb"
    if content is not None:
        path.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "nbrepro", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbrepro: error: ") and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_pytest_plugin_gives_one_item_per_code_cell(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)

    def pytest_run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "--nbrepro", "-p", "no:cacheprovider", "-q", "-rA", str(path)],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )

    ok = pytest_run()
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert "5 passed" in ok.stdout
    (path.parent / "data" / "values.csv").write_text("1.5\n2.5\n5\n")
    bad = pytest_run()
    assert bad.returncode == 1
    assert "1 failed, 4 passed" in bad.stdout
    assert "analysis.ipynb::cell[3]" in bad.stdout
    assert "cause data: via cell 2: data/values.csv" in bad.stdout


def test_an_unknown_kernel_or_parameter_is_bad_input_before_anything_runs(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p")
    record(path)
    for args, says in ((["--kernel", "nosuchkernel"], "no such kernel"), (["-p", "nosuch", "1"], "its parameters: scale")):
        proc = subprocess.run([sys.executable, "-m", "nbrepro", "verify", str(path), *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert proc.stderr.startswith("nbrepro: error:") and says in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_the_per_cell_timeout_holds(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p", [*BASE, "import time\ntime.sleep(30)\nprint('done')"])
    record(path, cells=BASE + ["print('done')"])  # recorded without the wait
    code, report = verify(path, "--timeout", "2")
    assert code == 1 and report["verdict"] == "failed" and report["failure"] == "cell 5: timeout after 2 s"
