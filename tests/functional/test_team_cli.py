"""The team commands' bad input and unreachable servers: one line, the right exit code, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_shell
from inprocess import nbrepro_main

pytestmark = pytest.mark.functional

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


def test_bad_input_and_a_server_that_is_down(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "x = 1"}, {"flush": True}, {"unload": True}])
    before = (repo / ".nbrepro" / "nbrepro.db").read_bytes()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    cases = [
        (("push", "--to", "mlflow"), 2, "nbrepro: error: give --tracking-uri URI (or set NBREPRO_MLFLOW_TRACKING_URI)"),
        (("push", "--to", "mlflow", "--tracking-uri", DOWN), 2, f"nbrepro: error: push to {DOWN} failed: "),
        (("pull", "run123", "--tracking-uri", DOWN), 2, "nbrepro: error: 'run123': give mlflow:RUN_ID"),
        (("pull", "mlflow:run123", "--tracking-uri", DOWN), 2, "nbrepro: error: cannot read mlflow:run123 from"),
        (("prov", "zz", "-o", "p.json"), 2, "nbrepro: error: session 'zz' is too short"),
        (("prov", "abcdef", "-o", "p.json"), 2, "nbrepro: error: session abcdef: no such session"),
        (("prov", "abcdef", "-o", "no/such/folder/p.json"), 2, "nbrepro: error: -o no/such/folder/p.json: its folder does not exist"),
    ]
    for args, code, start in cases:
        got, out, err = nbrepro_main(repo, *args)
        assert (got, err.startswith(start), len(err.strip().splitlines())) == (code, True, 1), (args, got, out, err)
    assert (repo / ".nbrepro" / "nbrepro.db").read_bytes() == before
    assert not (repo / "p.json").exists()
