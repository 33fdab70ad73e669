"""Secrets the notebook's code sets stay out of verify's report, recorded side and rerun alike.

In tests/functional/test_secrets.py the store, log, show, export and stamp are checked; here
the part that needs a kernel: the rerun.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import assert_report_valid, notebook_project

from nbrepro.notebook import kernel
from nbrepro.record.redact import REDACTED

pytestmark = pytest.mark.integration

PARAM_SECRET = "param-" + "plain-horse-battery"
RERUN_SECRET = "rerun-" + "silver-moth"  # given with -p: in no file at all
RAISED_SECRET = "raised-" + "quiet-lantern"

CELLS = [
    "%load_ext nbrepro",
    f'db_password = "{PARAM_SECRET}"\nn = 3',
    'print(db_password, n, open("data.txt").read().strip())',
    f'api_secret = "{RAISED_SECRET}"\nraise ValueError(f"login rejected for {{api_secret}}")',
]


def test_verify_report_carries_no_secret_of_the_session_or_the_rerun(tmp_path: Path) -> None:
    path = notebook_project(tmp_path / "p", CELLS, "nb.ipynb", {"data.txt": "one\n"})
    kernel.execute(nbformat.read(path, as_version=4), path.parent)
    (path.parent / "data.txt").write_text("two\n")
    proc = subprocess.run(
        [sys.executable, "-m", "nbrepro", "verify", str(path), "--json", "-p", "db_password", RERUN_SECRET],
        capture_output=True, text=True, cwd=path.parent, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    report = assert_report_valid(json.loads(proc.stdout))
    for secret in (PARAM_SECRET, RERUN_SECRET, RAISED_SECRET):
        assert secret not in proc.stdout + proc.stderr, secret
    printed = next(c for c in report["cells"] if c["index"] == 2)
    assert printed["status"] == "differs" and f"{REDACTED} 3 two" in printed["diff"], printed
    raised = next(c for c in report["cells"] if c["index"] == 3)
    assert raised["status"] == "reproduced", raised  # the message redacted alike on both sides
    assert report["environment"]["params"]["recorded"] == {"db_password": REDACTED, "n": 3}
