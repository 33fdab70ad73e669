"""Team scale against a real ``mlflow server`` on loopback (SQLite backend, a local artifact
folder, a free port): the live sink from a real kernel with the server killed mid-session and
brought back, ``nbrepro push`` idempotent, ``nbrepro pull`` into an empty store in another
clone that then verifies with the author's causes, and a store rewritten with every hash
recomputed failing ``log --check`` against its git and MLflow anchors. Nothing is mocked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import assert_report_valid, git, notebook_project, read_records
from inprocess import nbrepro_main
from tampering import rewrite_store

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
CELLS = [
    "%load_ext nbrepro",
    "n = 3",
    "import csv\nwith open('data/values.csv') as f:\n    values = [float(r[0]) for r in csv.reader(f)]",
    "print(sum(values[:n]))",
    *["pass"] * 5,  # while the server is down: the warning shows after one of these
]
WAIT_S = 120  # how long a wait for the server may last (a bound on waiting, not a timing check)


class Server:
    """``mlflow server`` in a session of its own, started, killed and started again on one port
    and one database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner: a quicker start
        with open(self.folder / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                 "--artifacts-destination", str(self.folder / "artifacts"), "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + WAIT_S
        while True:
            assert self.proc.poll() is None, (self.folder / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{self.uri}/health", timeout=2).read()
                return
            except OSError:
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.3)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the server and its workers
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("mlflow"))
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def client(uri: str) -> Any:
    from nbrepro.team import mlflow_run

    return mlflow_run.connect(uri)


def runs_of(uri: str, session_id: str) -> list[Any]:
    c = client(uri)
    ids = [e.experiment_id for e in c.search_experiments()]
    return list(c.search_runs(ids, f"tags.`nbrepro.session_id` = '{session_id}'"))


def wait_for(what: str, check: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            found = check()
        except Exception:  # noqa: BLE001 - the server still starting
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)


def verify_json(path: Path) -> dict[str, Any]:
    code, out, err = nbrepro_main(path.parent, "verify", str(path), "--json")
    assert code == 1, err
    return assert_report_valid(json.loads(out))


def test_a_session_pushed_live_through_an_outage_pulled_verified_and_its_anchors_checked(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = notebook_project(tmp_path / "author", CELLS, "analysis.ipynb", {"data/values.csv": "1\n2\n3\n4\n"})
    author = path.parent
    store = author / ".nbrepro"

    # The author's kernel, with the live sink on; the server is killed once the first cells
    # are on it, and started again only after the kernel has exited.
    def after_cell(cell: Any, cell_index: int, execute_reply: Any) -> None:
        if cell_index == 1:
            sid = wait_for("a session", lambda: read_records(store)[-1]["session_id"] if (store / "nbrepro.db").exists() else None)
            wait_for("the first records on the server", lambda: any(int(r.data.tags.get("nbrepro.records", 0)) >= 2
                                                                    for r in runs_of(server.uri, sid)))
            server.kill()
        elif cell_index >= 3:
            time.sleep(1)  # the sink tries meanwhile, and fails

    nb = nbformat.read(path, as_version=4)
    env = {"NBREPRO_MLFLOW_TRACKING_URI": server.uri, "NBREPRO_MLFLOW_EXPERIMENT": "team",
           "JPY_SESSION_NAME": str(path)}  # as JupyterLab names the notebook to its kernel
    kernel.execute(nb, author, env=env, on_cell_executed=after_cell)
    stderr = "".join(o.get("text", "") for c in nb.cells for o in c.outputs if o.get("name") == "stderr")
    assert stderr.count("nbrepro: warning: mlflow: cannot reach the tracking server") == 1, stderr
    assert all(o.get("output_type") != "error" for c in nb.cells for o in c.outputs)  # no cell broke
    records = read_records(store)
    session_id = records[0]["session_id"]
    assert len(records) == len(CELLS)

    # Back up: the sink, still retrying after the kernel's exit, completes the run.
    server.start()
    run = wait_for("the whole session on the server", lambda: next(
        (r for r in runs_of(server.uri, session_id) if r.info.status == "FINISHED"
         and r.data.tags.get("nbrepro.chain.seq") == str(records[-1]["seq"])), None))
    assert len(runs_of(server.uri, session_id)) == 1  # completed, not duplicated
    tags = run.data.tags
    assert tags["mlflow.source.name"] == "analysis.ipynb" and tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlflow.source.git.commit"] == git(author, "rev-parse", "HEAD").strip()
    assert tags["nbrepro.chain.hash"] == records[-1]["hash"] and tags["nbrepro.dirty"] == "false"
    assert run.data.params == {"n": "3"}
    c = client(server.uri)
    pushed = Path(c.download_artifacts(run.info.run_id, "nbrepro", str(tmp_path / "dl")))
    assert [json.loads(line) for line in (pushed / "records.jsonl").read_text().splitlines()] == records
    data = json.loads((pushed / "data.json").read_text())
    assert [(d["path"], d["hash"]) for d in data] == [(e["path"], e["hash"]) for e in records[2]["data"]]

    # Pushing again adds the stamp to the same run; once more, and there is nothing to do.
    monkeypatch.setenv("NBREPRO_MLFLOW_TRACKING_URI", server.uri)
    code, out, err = nbrepro_main(author, "push", "analysis.ipynb", "--to", "mlflow")
    assert code == 0 and f"mlflow run {run.info.run_id}, {len(records)} record(s)" in out, err
    code, out, err = nbrepro_main(author, "push", "analysis.ipynb", "--to", "mlflow")
    assert code == 0 and out.rstrip().endswith("; up to date"), (out, err)
    (run,) = runs_of(server.uri, session_id)
    stamp = json.loads(Path(c.download_artifacts(run.info.run_id, "nbrepro/stamp.json", str(tmp_path / "dl2"))).read_text())
    assert stamp["notebook"]["session_id"] == session_id

    # The data changes and is committed; a reviewer clones the repository and pulls the session.
    (author / "data" / "values.csv").write_text("1\n2\n4\n4\n")
    git(author, "commit", "-qam", "new data")
    reviewer = tmp_path / "reviewer"
    git(tmp_path, "clone", "-q", str(author), str(reviewer))
    code, out, err = nbrepro_main(reviewer, "pull", f"mlflow:{run.info.run_id}")
    assert code == 0 and f"{len(records)} record(s) into .nbrepro" in out, err
    theirs = read_records(reviewer / ".nbrepro")
    strip = ("seq", "prev_hash", "hash")
    assert [{k: v for k, v in r.items() if k not in strip} for r in theirs] == [
        {k: v for k, v in r.items() if k not in strip} for r in records]
    mine, pulled = verify_json(path), verify_json(reviewer / "analysis.ipynb")
    assert [(c["index"], c["status"], c["causes"]) for c in pulled["cells"]] == [
        (c["index"], c["status"], c["causes"]) for c in mine["cells"]]
    assert any(k["kind"] == "data" and "data/values.csv" in k["detail"] for c in mine["cells"] for k in c["causes"])

    # The author rewrites history and recomputes every hash: the chain alone says it is whole,
    # the anchors in git and on the tracking server do not.
    rewrite_store(store, lambda rec: rec["cell"].update(source=rec["cell"]["source"].replace("n = 3", "n = 2")))
    monkeypatch.delenv("NBREPRO_MLFLOW_TRACKING_URI")
    code, out, _err = nbrepro_main(author, "log", "--check")
    assert code == 1 and "git anchor refs/nbrepro/anchors/" in out and "rewritten" in out, out
    code, out, _err = nbrepro_main(author, "log", "--check", "--tracking-uri", server.uri)
    broken = [line for line in out.splitlines() if line.startswith("broken: ")]
    assert [("git anchor" in line, "mlflow anchor" in line) for line in broken] == [(True, False), (False, True)], out
    assert all(f"session {session_id[:8]}: rewritten:" in line for line in broken) and code == 1
    # and the sink would not overwrite the MLflow anchor with the rewritten history
    code, _out, err = nbrepro_main(author, "push", "--to", "mlflow", "--tracking-uri", server.uri)
    assert code == 1 and "the store disagrees with its MLflow run" in err and "nothing pushed" in err, err
