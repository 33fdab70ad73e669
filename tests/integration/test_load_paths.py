"""Every way of loading nbrepro records each output once, as the frontend got it (issue 19).

Loaded at kernel start (a profile's ``extensions``, ``--ext``) the extension used to wrap
``sys.stdout.write`` outside any cell; IPython 9's per-cell tee then kept that wrapper under the
next cell's one, and every write was noted twice. Each load path here runs the same notebook
in a real kernel, the way users run it: the recorded outputs must equal the saved notebook's,
cell by cell, including text C code writes to fd 1 and 2 (which ipykernel captures through a
pipe and a thread), and ``nbrepro verify`` on the unchanged notebook must say reproduced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import git
from nbclient import NotebookClient

from nbrepro.notebook import kernel
from nbrepro.record import outputs
from nbrepro.store import SQLiteStore

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
LOAD_EXT = "%load_ext nbrepro"
CONFIG = 'c.InteractiveShellApp.extensions = ["nbrepro"]\n'

# No cell loads nbrepro: each test says how it is loaded. Within one cell the fd writes and
# the Python writes go to different streams, or are split by a display or a result: how the
# kernel interleaves them on one stream depends on when its capture thread runs.
CELLS = [
    "files = ['sales.csv']\nprint(sorted(files))",
    "x = 2120.02\nprint('forecast total', x)\nimport sys\nprint('checked', file=sys.stderr)\nx",
    "import os\n_ = os.write(1, b'fd: one\\n')\n_ = os.write(1, b'fd: two\\n')\nprint('python: err', file=sys.stderr)",
    "import ctypes\nlibc = ctypes.CDLL(None)\n_ = libc.printf(b'C printf %d\\n', 42)\n_ = libc.fflush(None)",
    "!echo from-shell",
    "from IPython.display import Markdown, display\n_ = os.write(1, b'fd: before display\\n')\n"
    "display(Markdown('**shown**'))\n_ = os.write(1, b'fd: after display\\n')\nprint('python: after', file=sys.stderr)",
    "_ = os.write(1, b'fd: before result\\n')\nlen(files)",
    "_ = os.write(2, b'C says: failing\\n')\n1 / 0",
]
# what each cell's stream outputs must hold, once
STREAMS = [
    {"stdout": "['sales.csv']\n"},
    {"stdout": "forecast total 2120.02\n", "stderr": "checked\n"},
    {"stdout": "fd: one\nfd: two\n", "stderr": "python: err\n"},
    {"stdout": "C printf 42\n"},
    {"stdout": "from-shell\r\n"},
    {"stdout": "fd: before display\nfd: after display\n", "stderr": "python: after\n"},
    {"stdout": "fd: before result\n"},
    {"stderr": "C says: failing\n"},
]


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The environment of a user's shell, for the commands a test runs. pytest's own variable
    makes ipykernel leave fd 1 and 2 alone (``PYTEST_CURRENT_TEST``), so it is left out: kernels
    capture C output as they do for users (a test that starts a kernel itself drops it with
    ``in_process``, pytest setting it again for the test's call). ``JUPYTER_PATH`` puts first
    a ``python3`` kernel that is this very Python."""
    spec = tmp_path / "jupyter-path" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(spec.parent.parent))
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)


def profile(ipython_dir: Path, file: str = "ipython_config.py") -> None:
    (ipython_dir / "profile_default").mkdir(parents=True, exist_ok=True)
    (ipython_dir / "profile_default" / file).write_text(CONFIG)


def project(tmp_path: Path, cells: list[str], name: str = "analysis.ipynb") -> Path:
    """A git repository holding a notebook of ``cells`` (with the kernelspec Jupyter saves)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "sales.csv").write_text("region,amount\nnorth,2120.02\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "analysis")
    return root / name


def run(
    args: list[str], cwd: Path, env: dict[str, str], ok: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 or not ok, proc.stderr[-3000:]
    return proc


def recorded_outputs(root: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each record with its outputs rebuilt from the store's blobs alone."""
    store = SQLiteStore(root / ".nbrepro", create=False)
    try:
        return [
            (r, outputs.rebuild([(i["output"], store.get_blob(i["blob"])) for i in r["outputs"]["items"]]))
            for r in store.records()
        ]
    finally:
        store.close()


def streams_of(outs: list[dict[str, Any]]) -> dict[str, str]:
    text: dict[str, str] = {}
    for o in outs:
        if o["output_type"] == "stream":
            text[o["name"]] = text.get(o["name"], "") + o["text"]
    return text


def assert_recorded_once(path: Path, cells: list[str] = CELLS) -> None:
    """One record per code cell, in order; its outputs (rebuilt from the store) are the saved
    notebook's, hash for hash, and its streams hold each text once."""
    saved = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    rows = recorded_outputs(path.parent)
    assert [r["cell"]["source"] for r, _ in rows] == [c.source for c in saved]
    # every cell of ours, in order (and no other but %load_ext or papermill's injected one)
    assert [c.source for c in saved if c.source in cells] == cells
    for cell, (record, outs) in zip(saved, rows):
        want = outputs.canonical(cell.outputs)
        assert outputs.canonical(outs) == want, cell.source
        assert record["outputs"]["hash"] == outputs.outputs_hash(outputs.items(want)), cell.source
    by_source = {r["cell"]["source"]: outs for r, outs in rows}
    for source, streams in zip(cells, STREAMS):
        assert streams_of(outputs.canonical(by_source[source])) == streams, source
    assert ("display_data", "text/markdown") in [
        (i["kind"], i["mime"]) for r, _ in rows if r["cell"]["source"] == CELLS[5] for i in r["outputs"]["items"]
    ]
    if CELLS[7] in cells:
        assert by_source[CELLS[7]][-1]["output_type"] == "error"  # after the text C wrote before it


def assert_verifies(path: Path, env: dict[str, str]) -> None:
    """``nbrepro verify`` on the unchanged notebook: every cell reproduced."""
    before = path.read_bytes()
    proc = run([sys.executable, "-m", "nbrepro", "verify", str(path), "--json"], path.parent, env, ok=False)
    # stdout is the JSON report alone, though cells write to fd 1 (the rerun's kernel never
    # shares verify's stdout)
    report = json.loads(proc.stdout)
    assert [(c["status"], c.get("causes")) for c in report["cells"] if c["status"] != "reproduced"] == []
    assert proc.returncode == 0 and report["verdict"] == "reproduced", report
    code_cells = [i for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "code"]
    assert [c["index"] for c in report["cells"]] == code_cells
    assert path.read_bytes() == before


# -- the load paths ----------------------------------------------------------------------

def test_load_ext_in_the_first_cell(tmp_path: Path, user_env: dict[str, str]) -> None:
    path = project(tmp_path, [LOAD_EXT, *CELLS])
    run([str(BIN / "jupyter-execute"), "--inplace", "--allow-errors", path.name], path.parent, user_env)
    assert_recorded_once(path)
    assert_verifies(path, user_env)


def test_profile_in_ipythondir_with_jupyter_execute(tmp_path: Path, user_env: dict[str, str]) -> None:
    """The issue's reproduction: ``ipython_config.py`` in ``$IPYTHONDIR``, ``jupyter execute``."""
    profile(Path(os.environ["IPYTHONDIR"]))
    path = project(tmp_path, CELLS)
    run([str(BIN / "jupyter-execute"), "--inplace", "--allow-errors", path.name], path.parent, user_env)
    assert_recorded_once(path)
    assert_verifies(path, user_env)


def test_kernel_profile_with_papermill(tmp_path: Path, user_env: dict[str, str]) -> None:
    """``ipython_kernel_config.py`` (read by kernels only), the papermill CLI. papermill stops
    at an error, so the last cell is left out."""
    profile(Path(os.environ["IPYTHONDIR"]), "ipython_kernel_config.py")
    cells = CELLS[:-1]
    path = project(tmp_path, cells, "in.ipynb")
    run([str(BIN / "papermill"), "in.ipynb", "out.ipynb", "-k", "python3", "--no-progress-bar"], path.parent, user_env)
    out = path.with_name("out.ipynb")
    assert_recorded_once(out, cells)
    assert_verifies(out, user_env)


def test_profile_in_home_with_nbclient(
    tmp_path: Path, user_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``IPYTHONDIR``: the default profile in ``~/.ipython``; a plain ``NotebookClient``."""
    in_process(monkeypatch)
    monkeypatch.delenv("IPYTHONDIR")
    user_env.pop("IPYTHONDIR")
    profile(Path.home() / ".ipython")
    path = project(tmp_path, CELLS)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(nb, path)  # saved, as a frontend would
    assert_recorded_once(path)
    assert_verifies(path, user_env)


def test_ext_kernel_argument(tmp_path: Path, user_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``--ext=nbrepro`` on the kernel's command line, as ``nbrepro verify`` reruns notebooks."""
    in_process(monkeypatch)
    path = project(tmp_path, CELLS)
    nb = kernel.execute(nbformat.read(path, as_version=4), path.parent, extra_arguments=["--ext=nbrepro"])
    nbformat.write(nb, path)
    assert_recorded_once(path)
    assert_verifies(path, user_env)


def test_ipython_ext_in_a_terminal(tmp_path: Path, user_env: dict[str, str]) -> None:
    """``ipython --ext nbrepro``: no kernel, the shell's own streams."""
    root = project(tmp_path, []).parent
    cells = [
        "print(sorted(['sales.csv']))", "print('forecast total', 2120.02)", "import sys; print('checked', file=sys.stderr)",
    ]
    args = [str(BIN / "ipython"), "--ext", "nbrepro", "--simple-prompt", "--no-banner", "--colors=nocolor"]
    proc = run(args, root, user_env, stdin="\n".join(cells) + "\n")
    assert proc.stdout.count("forecast total 2120.02\n") == 1
    rows = recorded_outputs(root)
    assert [r["cell"]["source"] for r, _ in rows] == cells
    assert [streams_of(outs) for _, outs in rows] == [
        {"stdout": "['sales.csv']\n"}, {"stdout": "forecast total 2120.02\n"}, {"stderr": "checked\n"},
    ]
