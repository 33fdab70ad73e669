"""Realistic notebooks through ``nbrepro export``: each is recorded in a real kernel, exports to
its golden ``pipeline.py`` and summary, and its generated tests pass; the notebooks in
``notebooks/`` also pass with ``--isolated``, locked and installed offline from a local
wheel folder.

The notebooks live in ``tests/data/realistic`` with their data and helper modules; their
goldens in ``golden/`` beside them: ``NAME.nb.py``, the notebook as a jupytext percent-format
mirror (to read in a diff); ``NAME.pipeline.py``, what it exports to (the provenance header
left out); ``NAME.summary.txt``, the export's report of every rewrite. After a deliberate change
to the export, regenerate them with ``NBREPRO_UPDATE_GOLDEN=1 python -m pytest
tests/integration/test_export_notebooks.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from conftest import REPO, git

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

REALISTIC = Path(__file__).parents[1] / "data" / "realistic"
GOLDEN = REALISTIC / "golden"
NAMES = sorted(p.stem for p in REALISTIC.glob("*.ipynb"))
UPDATE = os.environ.get("NBREPRO_UPDATE_GOLDEN") == "1"
WHEELHOUSE = REPO / ".cache" / "wheelhouse"


def recorded_project(root: Path, source: Path, notebook: str) -> Path:
    """``source``'s files in a fresh git repository, ``notebook`` run there with nbrepro."""
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("golden", "__pycache__", ".nbrepro"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "notebooks")
    path = root / notebook
    nb = nbformat.read(path, as_version=4)
    extra = [] if any("%load_ext nbrepro" in c.source for c in nb.cells) else ["--ext=nbrepro"]
    kernel.execute(nb, root, extra_arguments=extra)
    return path


def nbrepro(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbrepro", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=900)


def without_header(text: str) -> str:
    """A generated file without its provenance header (hashes and ids differ per run)."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines).lstrip("\n")


def summary(stdout: str) -> str:
    """The export's report, without the file list and the path-bearing first line."""
    kept = [line for line in stdout.splitlines()[1:] if not line.startswith("  made ")]
    return re.sub(r"session [0-9a-f]{8}", "session <id>", "\n".join(kept)) + "\n"


def check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no golden {path.name}: run with NBREPRO_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs; if intended, regenerate the goldens"


@pytest.mark.parametrize("name", NAMES)
def test_realistic_notebook_exports_to_its_golden_and_its_tests_pass(name: str, tmp_path: Path) -> None:
    mirror = jupytext.writes(nbformat.read(REALISTIC / f"{name}.ipynb", as_version=4), fmt="py:percent")
    check_golden(GOLDEN / f"{name}.nb.py", mirror)  # the mirror is in step with the notebook

    path = recorded_project(tmp_path / "p", REALISTIC, f"{name}.ipynb")
    before = path.read_bytes()
    proc = nbrepro("export", str(path), "-o", str(tmp_path / "out"), "--no-lock", "--name", name, cwd=tmp_path)
    assert path.read_bytes() == before
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert proc.stdout.rstrip().endswith("generated tests passed in this Python")
    pipeline = (tmp_path / "out" / "src" / name / "pipeline.py").read_text(encoding="utf-8")
    check_golden(GOLDEN / f"{name}.pipeline.py", without_header(pipeline))
    check_golden(GOLDEN / f"{name}.summary.txt", summary(proc.stdout))


def test_local_helper_modules_travel_with_the_package(tmp_path: Path) -> None:
    path = recorded_project(tmp_path / "p", REALISTIC, "model_helpers.ipynb")
    out = tmp_path / "out"
    proc = nbrepro("export", str(path), "-o", str(out), "--no-lock", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "local module features (features.py) copied into model_helpers.local" in proc.stdout
    assert "local module scaling (scaling.py) copied into model_helpers.local" in proc.stdout
    copied = (out / "src" / "model_helpers" / "local" / "features.py").read_text()
    assert "from model_helpers.local.scaling import Scaler" in copied  # features.py imports scaling
    assert "from .local import features\n" in (out / "src/model_helpers/pipeline.py").read_text()
    # The notebook's own copies are gone: the package's tests still pass, on its copies.
    for helper in ("features.py", "scaling.py"):
        (path.parent / helper).unlink()
    tests = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."], cwd=out,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": "src"}, timeout=300)
    assert tests.returncode == 0, tests.stderr[-3000:]
    assert "OK" in tests.stderr


def test_papermill_values_become_the_defaults(tmp_path: Path) -> None:
    path = recorded_project(tmp_path / "p", REALISTIC, "rates_report.ipynb")
    proc = nbrepro("export", str(path), "-o", str(tmp_path / "out"), "--no-lock", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "parameters: country: str = 'DE', year: int = 2024, threshold: float = 0.5" in proc.stdout
    cli = subprocess.run([sys.executable, "-m", "rates_report", "--country", "FR", "--workdir", str(path.parent)],
                         cwd=tmp_path / "out", capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": "src"}, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert '"country": "FR"' in cli.stdout


@pytest.mark.parametrize("name", NAMES)
def test_realistic_notebook_passes_isolated_and_offline(name: str, tmp_path: Path) -> None:
    """Locked, installed from the lock alone into a fresh venv, and tested there: what the
    package needs to render and compare is in the package (IPython's printer included)."""
    assert any(WHEELHOUSE.glob("pandas-*.whl")), (
        f"no wheels in {WHEELHOUSE}: run `python tests/wheelhouse.py` once (the README's test command does)"
    )
    path = recorded_project(tmp_path / "p", REALISTIC, f"{name}.ipynb")
    args = ["export", str(path), "-o", str(tmp_path / "out"), "--isolated", "--no-index", "--find-links", str(WHEELHOUSE)]
    proc = nbrepro(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert proc.stdout.rstrip().endswith("generated tests passed in a fresh venv")


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")))
def test_example_notebooks_pass_isolated_and_offline(name: str, tmp_path: Path) -> None:
    assert any(WHEELHOUSE.glob("numpy-*.whl")), (
        f"no wheels in {WHEELHOUSE}: run `python tests/wheelhouse.py` once (the README's test command does)"
    )
    path = recorded_project(tmp_path / "p", REPO / "notebooks", name)
    out = tmp_path / "out"
    args = ["export", str(path), "-o", str(out), "--isolated", "--no-index", "--find-links", str(WHEELHOUSE)]
    proc = nbrepro(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "generated tests passed in a fresh venv" in proc.stdout
    lock = (out / "requirements.lock").read_text()
    assert "--hash=sha256:" in lock and str(WHEELHOUSE) not in lock and "--find-links" not in lock
    # ... and in this Python, without the lock
    here = nbrepro("export", str(path), "-o", str(tmp_path / "here"), "--no-lock", cwd=tmp_path)
    assert here.returncode == 0 and "generated tests passed in this Python" in here.stdout, here.stdout[-3000:]
