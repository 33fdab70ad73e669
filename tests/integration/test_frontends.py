"""Real frontends other than Jupyter's own server: the papermill CLI, and VS Code's Jupyter
extension driven over the kernel protocol the way it drives a kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import assert_valid, git, notebook_project, read_records
from jupyter_client.manager import KernelManager

from nbrepro.notebook.kernel import ThisPythonKernelSpecs

pytestmark = pytest.mark.integration

PAPERMILL = Path(sys.executable).with_name("papermill")
VALUES = "1.5\n2.5\n4\n"  # sums to 8.0


# -- papermill ---------------------------------------------------------------------------

def this_python_kernel(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``python3`` kernel is this very Python: papermill's ``-k python3``
    takes the first ``python3`` spec on the Jupyter path, which may belong to any Python
    (one without nbrepro). ``JUPYTER_PATH`` comes first on that path."""
    spec = tmp_path / "jupyter-path" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    return {"JUPYTER_PATH": str(spec.parent.parent)}


def saved_by_jupyter(path: Path) -> Path:
    """The kernelspec metadata that a notebook saved by Jupyter carries, committed."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    root = Path(git(path.parent, "rev-parse", "--show-toplevel").strip())
    git(root, "commit", "-qam", "kernelspec")
    return path


def papermill(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert PAPERMILL.is_file(), f"the papermill command is not next to {sys.executable}"
    proc = subprocess.run(
        [str(PAPERMILL), *args, "-k", "python3", "--no-progress-bar"],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def verify(path: Path, *args: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "nbrepro", "verify", str(path), "--json", *args],
        capture_output=True, text=True, cwd=path.parent, env={**os.environ, **env}, timeout=300,
    )
    assert proc.stdout, proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def stdout_of(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_papermill_run_records_its_parameters_and_verifies(tmp_path: Path, record_validator: Any) -> None:
    cells = [
        "%load_ext nbrepro",
        "scale = 2\nlabel = 'a'",
        "import csv\nwith open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]",
        "print(label, sum(values) * scale)",
    ]
    root = tmp_path / "project"
    saved_by_jupyter(notebook_project(root, cells, "in.ipynb", {"data/values.csv": VALUES}))
    env = this_python_kernel(tmp_path)

    papermill(root, "in.ipynb", "out.ipynb", "-p", "scale", "5", "-p", "label", "b", env=env)

    out = nbformat.read(root / "out.ipynb", as_version=4)
    assert [c.metadata.get("tags", []) for c in out.cells][1:3] == [["parameters"], ["injected-parameters"]]
    assert stdout_of(out.cells[4]) == "b 40.0\n"  # 8.0 * 5: the injected values ran
    records = read_records(root / ".nbrepro")
    assert_valid(records, record_validator)
    # papermill gives its kernel no JPY_SESSION_NAME: the notebook is found from papermill's
    # command line, and it is the output, the notebook holding this run's outputs
    assert [r["notebook"] for r in records] == [{"path": "out.ipynb", "found_by": "papermill"}] * 5
    assert [r["cell"]["index"] for r in records] == [0, 1, 2, 3, 4]
    assert [r["cell"]["id"] for r in records] == [None] * 5  # nbclient sends no cell id
    assert records[1]["params"] == {"scale": 2, "label": "a"}  # the notebook's defaults
    assert records[2]["params"] == {"scale": 5, "label": "b"}  # what papermill injected
    assert records[2]["cell"]["source"].startswith("# Parameters\n")
    assert not any("params" in r for r in (records[0], *records[3:]))
    assert {(d["path"], d["mode"]) for d in records[3]["data"]} == {("data/values.csv", "r")}
    assert not any(str(tmp_path) in json.dumps(r) for r in records)  # nothing absolute

    before = (root / "out.ipynb").read_bytes()
    code, report = verify(root / "out.ipynb", env=env)
    assert code == 0, report
    assert report["verdict"] == "reproduced"
    assert [(c["index"], c["status"]) for c in report["cells"]] == [(i, "reproduced") for i in range(5)]
    # the rerun ran the injected cell as papermill wrote it: it printed 40.0 again
    assert report["environment"]["params"] == {
        "recorded": {"scale": 5, "label": "b"},
        "rerun": {"scale": 5, "label": "b"},
    }
    assert (root / "out.ipynb").read_bytes() == before

    code, report = verify(root / "out.ipynb", "-p", "scale", "7", env=env)
    assert code == 1 and report["verdict"] == "differs"
    printed = next(c for c in report["cells"] if c["index"] == 4)
    assert printed["status"] == "differs"
    assert printed["causes"] == [{"kind": "parameters", "detail": "via cell 2: scale: 5 -> 7"}]
    assert "-b 40.0" in printed["diff"] and "+b 56.0" in printed["diff"]  # label kept, scale 7
    assert [c["status"] for c in report["cells"] if c["index"] != 4] == ["reproduced"] * 4
    assert report["environment"]["params"]["rerun"] == {"scale": 7, "label": "b"}


def test_papermill_from_elsewhere_with_cwd_and_an_inherited_session_name(tmp_path: Path, record_validator: Any) -> None:
    """`!papermill` in a notebook open in JupyterLab: papermill (and its kernel) inherit that
    notebook's JPY_SESSION_NAME. Run from the project root into a templated output, with the
    kernel in the notebook's folder (--cwd), as verify reruns it."""
    cells = ["%load_ext nbrepro", "label = 'a'\nrepeat = 1", "print(label * repeat)"]
    root = tmp_path / "project"
    files = {"analysis/notes.txt": "runs\n", "caller.ipynb": "{}"}
    saved_by_jupyter(notebook_project(root, cells, "analysis/in.ipynb", files))
    env = this_python_kernel(tmp_path)

    papermill(
        root, "analysis/in.ipynb", "analysis/out-{label}.ipynb", "-p", "label", "c", "-p", "repeat", "3",
        "--cwd", "analysis", env={**env, "JPY_SESSION_NAME": str(root / "caller.ipynb")},
    )

    out = root / "analysis" / "out-c.ipynb"
    assert stdout_of(nbformat.read(out, as_version=4).cells[3]) == "ccc\n"
    records = read_records(root / ".nbrepro")
    assert_valid(records, record_validator)
    assert [r["notebook"] for r in records] == [{"path": "analysis/out-c.ipynb", "found_by": "papermill"}] * 4
    assert [r.get("params") for r in records] == [None, {"label": "a", "repeat": 1}, {"label": "c", "repeat": 3}, None]

    code, report = verify(out, env=env)
    assert code == 0 and report["verdict"] == "reproduced", report
    assert report["environment"]["params"]["rerun"] == {"label": "c", "repeat": 3}


def test_papermill_python_api_named_through_the_environment(tmp_path: Path) -> None:
    """The API leaves no papermill command line; a script names the output in JPY_SESSION_NAME,
    which the kernel inherits (docs/frontends.md)."""
    root = tmp_path / "project"
    saved_by_jupyter(notebook_project(root, ["%load_ext nbrepro", "n = 1", "print(n + 1)"], "in.ipynb", {}))
    script = (
        "import os, papermill\n"
        "os.environ['JPY_SESSION_NAME'] = os.path.abspath('runs/out.ipynb')\n"
        "papermill.execute_notebook('in.ipynb', 'runs/out.ipynb', parameters={'n': 41}, kernel_name='python3',"
        " progress_bar=False)\n"
    )
    (root / "runs").mkdir()
    env = this_python_kernel(tmp_path)
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stdout_of(nbformat.read(root / "runs" / "out.ipynb", as_version=4).cells[3]) == "42\n"
    records = read_records(root / ".nbrepro")
    assert [r["notebook"] for r in records] == [{"path": "runs/out.ipynb", "found_by": "JPY_SESSION_NAME"}] * 4
    assert [r.get("params") for r in records] == [None, {"n": 1}, {"n": 41}, None]


# -- VS Code -------------------------------------------------------------------------------

VSCODE_CELLS = ["%load_ext nbrepro", "x = 21", "print(x * 2)"]


def cell_uri(notebook: Path, n: int) -> str:
    """A cell's URI as VS Code sends it as ``cellId`` (``cell.document.uri.toString()``)."""
    return f"vscode-notebook-cell:{notebook.as_posix()}#W{n}sZmlsZQ%3D%3D"


@contextmanager
def kernel(cwd: Path, extra_arguments: list[str] | None = None) -> Iterator[Any]:
    """A real ipykernel on this Python, in ``cwd``, with no JPY_SESSION_NAME, as VS Code
    starts one for a local notebook."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JPY_")}
    sockets = tempfile.mkdtemp(prefix="nbrepro-vscode-")
    km = KernelManager(
        kernel_name="python3", kernel_spec_manager=ThisPythonKernelSpecs(),
        transport="ipc", ip=os.path.join(sockets, "kernel"),
    )
    km.start_kernel(cwd=str(cwd), env=env, extra_arguments=list(extra_arguments or []))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        yield client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=False)  # lets the recorder write its last records
        shutil.rmtree(sockets, ignore_errors=True)


def request(client: Any, code: str, *, cell_id: str | None = None, silent: bool = False) -> str:
    """One execute_request; VS Code puts the cell's URI in the request's metadata."""
    if silent:  # how VS Code sets __vsc_ipynb_file__ (and queries variables): no cell id
        msg_id = client.execute(code, silent=True, store_history=False)
    else:
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": False}
        msg = client.session.msg("execute_request", content, metadata={"cellId": cell_id})
        client.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
    while True:
        reply = client.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok", reply["content"]
    text = []
    while True:  # outputs until the kernel is idle again for this request
        msg = client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(text)


def vscode_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    return notebook_project(root, VSCODE_CELLS, "analysis/vs.ipynb", {"analysis/notes.txt": "x\n"})


def test_vscode_notebook_path_and_cell_ids(tmp_path: Path, record_validator: Any) -> None:
    path = vscode_project(tmp_path)
    with kernel(path.parent) as client:
        request(client, f"__vsc_ipynb_file__ = {str(path)!r}", silent=True)
        outputs = [request(client, c, cell_id=cell_uri(path, n)) for n, c in enumerate(VSCODE_CELLS)]
        request(client, "_vscode_vars = sorted(globals())", silent=True)  # a variables-view query
    assert outputs[2] == "42\n"
    records = read_records(path.parent.parent / ".nbrepro")
    assert_valid(records, record_validator)
    assert [r["cell"]["source"] for r in records] == VSCODE_CELLS  # silent requests are not cells
    assert [r["notebook"] for r in records] == [{"path": "analysis/vs.ipynb", "found_by": "__vsc_ipynb_file__"}] * 3
    # VS Code's cell ids are URIs, not the notebook's nbformat ids: cells are placed by source
    assert [r["cell"]["index"] for r in records] == [0, 1, 2]
    relative = [f"vscode-notebook-cell:analysis/vs.ipynb#W{n}sZmlsZQ%3D%3D" for n in range(3)]
    assert [r["cell"]["id"] for r in records] == relative
    assert not any(str(tmp_path) in json.dumps(r) for r in records)  # nothing absolute


def test_vscode_path_set_after_the_extension_loaded(tmp_path: Path) -> None:
    """The extension loaded at kernel start (``c.InteractiveShellApp.extensions``), before VS
    Code's startup code sets ``__vsc_ipynb_file__``: read per cell, so every cell has it."""
    path = vscode_project(tmp_path)
    cells = VSCODE_CELLS[1:]
    with kernel(path.parent, ["--ext=nbrepro"]) as client:
        request(client, "import nbrepro.ipython.extension as e; assert e._ACTIVE", silent=True)  # loaded already
        request(client, f"__vsc_ipynb_file__ = {str(path)!r}", silent=True)
        for n, code in enumerate(cells, 1):
            request(client, code, cell_id=cell_uri(path, n))
    records = read_records(path.parent.parent / ".nbrepro")
    assert [r["cell"]["source"] for r in records] == cells
    assert [r["notebook"] for r in records] == [{"path": "analysis/vs.ipynb", "found_by": "__vsc_ipynb_file__"}] * 2
    assert [r["cell"]["index"] for r in records] == [1, 2]
