"""Generated tests that fail only when results change: one notebook holding each cause that
made exported packages fail on unchanged notebooks, recorded in a real kernel and exported
once. Its tests pass as exported; a changed constant or data file fails the cell it changes.

The causes: values rendered by ``repr`` instead of IPython's display formatter (1); pandas'
display options of a plain process instead of a kernel's (2); values rendered after later
cells changed them (3); global RNGs drawn from without a seed (4); cells that never parsed
(5); objects with no stable text: generators, the notebook's own classes, open files,
matplotlib animations (6).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import GIT_IDENTITY, git

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

CELLS = [
    "import csv\nimport random\nimport numpy as np\nimport pandas as pd",
    # 1: IPython shows `float` and `<range_iterator at 0x…>`; repr() would not
    "with open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]\n"
    "{'type': float, 'n': len(values), 'steps': iter(range(2))}",
    # 2: in a kernel pandas shows 20 of these 25 columns and every row; a terminal, fewer
    "frame = pd.DataFrame(np.arange(30 * 25).reshape(30, 25) * 2)\nframe",
    # 3: shown here, changed in place by the next cell
    "arr = np.arange(4) * 2\narr",
    "arr[:] = 0\nprint(arr.sum())",
    # 4: global RNGs without a seed (replayed), then a generator with no state to replay
    "draw = np.random.rand(3) * 10\ndraw",
    "random.randint(0, 1000)",
    "frame.sample(2, axis=1).columns.tolist()",
    "rng = np.random.default_rng()\nnoise = rng.normal(size=3)\nnoise",
    "noise.round(1)",
    # 5: never parsed
    "x = 1\n  y = 2",
    # 6: no stable text as repr() gives it
    "gen = (v * 2 for v in values)\ngen",
    "class Point:\n    pass\n\nPoint()",
    "handle = open('data/values.csv')\nhandle",
    "import matplotlib.pyplot as plt\nfrom matplotlib.animation import FuncAnimation\nfig, ax = plt.subplots()\n"
    "line, = ax.plot(values)\nanim = FuncAnimation(fig, lambda i: (line,), frames=2)\nanim",
    # tagged nbrepro:skip-compare
    "import time\nprint(time.time())",
]
SKIPPED = len(CELLS) - 1


def run_tests(pkg: Path, workdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The package's generated tests, run against the notebook's folder ``workdir``."""
    env = {**os.environ, "PYTHONPATH": "src", **({"NBREPRO_WORKDIR": str(workdir)} if workdir else {})}
    return subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."],
        cwd=pkg, capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    """(the recorded notebook, its exported package, export's output)."""
    base = tmp_path_factory.mktemp("causes")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("NBREPRO_", "JPY_", "GIT_"))]:
            env.delenv(name)
        env.setenv("HOME", str(base))
        env.setenv("IPYTHONDIR", str(base / ".ipython"))
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for key, value in GIT_IDENTITY.items():
            env.setenv(key, value)
        root = base / "p"
        (root / "data").mkdir(parents=True)
        (root / "data" / "values.csv").write_text("1.5\n2.5\n4\n")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
        nb.cells[SKIPPED].metadata["tags"] = ["nbrepro:skip-compare"]
        path = root / "causes.ipynb"
        nbformat.write(nb, path)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "causes")
        kernel.execute(nbformat.read(path, as_version=4), root, extra_arguments=["--ext=nbrepro"])
        proc = subprocess.run(
            [sys.executable, "-m", "nbrepro", "export", str(path), "-o", str(base / "out"), "--no-lock"],
            capture_output=True, text=True, cwd=base, timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        yield path, base / "out", proc.stdout


def test_an_unchanged_notebook_passes_and_the_summary_says_what_is_not_compared(
    exported: tuple[Path, Path, str],
) -> None:
    _, pkg, stdout = exported
    assert stdout.rstrip().endswith("generated tests passed in this Python")
    assert "cell 10: not in the exported code (it raised IndentationError when recorded); not compared" in stdout
    assert "cell 8: drew from numpy.random.default_rng without a seed" in stdout
    assert "cell 9: reads what a cell that drew unreplayable random numbers computed" in stdout
    assert f"cell {SKIPPED}: tagged nbrepro:skip-compare" in stdout
    expected = (pkg / "tests" / "test_pipeline.py").read_text()
    assert "'value': 'bool'" not in expected and "'type': float" in expected
    assert "[30 rows x 25 columns]" in expected and "IndentationError" not in expected
    states = json.loads((pkg / "tests" / "rng_states.json").read_text())
    assert {"random", "numpy"} <= set(states["cells"]["6"])
    assert len(states["states"]) < len(states["cells"])  # a state no cell changed is kept once
    assert run_tests(pkg).returncode == 0


@pytest.mark.parametrize(
    ("cause", "old", "new", "cells"),
    [
        ("rendering", "'n': len(values)", "'n': len(values) + 1", [1]),
        ("display options", "* 2)", "* 3)", [2]),
        ("rendered late", "np.arange(4) * 2", "np.arange(4) * 5", [3]),
        ("randomness, replayed", "np.random.rand(3) * 10", "np.random.rand(3) * 11", [5]),
        ("randomness, stable only", "rng.normal(size=3)", "rng.normal(size=4)", [8, 9]),  # 9 shows noise too
        ("no stable text", "(v * 2 for v in values)", "[v * 2 for v in values]", [11]),
    ],
)
def test_a_changed_constant_fails_the_cells_it_changes(
    exported: tuple[Path, Path, str], tmp_path: Path, cause: str, old: str, new: str, cells: list[int]
) -> None:
    path, pkg, _ = exported
    changed = tmp_path / "pkg"
    shutil.copytree(pkg, changed)
    pipeline = changed / "src" / "causes" / "pipeline.py"
    text = pipeline.read_text()
    assert text.count(old) == 1, cause
    pipeline.write_text(text.replace(old, new))
    result = run_tests(changed, path.parent)
    assert result.returncode != 0, cause
    failed = [line.split()[1] for line in result.stderr.splitlines() if line.startswith("FAIL: ")]
    assert failed == [f"test_cell_{cell:03d}" for cell in cells], (cause, result.stderr[-3000:])


def test_a_changed_data_file_fails_the_cells_that_read_it(exported: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, pkg, _ = exported
    project = tmp_path / "p"
    shutil.copytree(path.parent, project)
    (project / "data" / "values.csv").write_text("1.5\n2.5\n4\n8\n")
    result = run_tests(pkg, project)
    assert "data file data/values.csv changed since the notebook was recorded" in result.stderr
    assert "FAIL: test_cell_001" in result.stderr  # 'n': 4, not 3


def test_verify_replays_the_recorded_rng_states(exported: tuple[Path, Path, str]) -> None:
    path, _, _ = exported
    proc = subprocess.run([sys.executable, "-m", "nbrepro", "verify", str(path), "--json"], capture_output=True,
                          text=True, cwd=path.parent, timeout=600)
    cells = {c["index"]: c for c in json.loads(proc.stdout)["cells"]}
    assert [cells[i]["status"] for i in (5, 6, 7)] == ["reproduced"] * 3, proc.stdout[-3000:]
    assert cells[8]["status"] == "differs" and "seed" in [c["kind"] for c in cells[8]["causes"]]
