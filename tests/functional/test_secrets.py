"""Secrets planted in the environment, the code and the errors never reach the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_records, run_shell

pytestmark = pytest.mark.functional

AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
OPENAI = "sk-" + "proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1"
DB_PASSWORD = "hunter2-" + "correct-horse"
ENV_SECRET = "envsecret-" + "Qm9vYmFyYmF6cXV4"


def test_planted_secrets_never_reach_the_store(repo: Path) -> None:
    (repo / ".env").write_text(f"API_TOKEN={ENV_SECRET}\n")
    results = run_shell(
        repo,
        [
            {"cell": "%load_ext nbrepro"},
            {"cell": f"aws_key = '{AWS}'\ngithub = \"{GITHUB}\"\nclient_key = '{OPENAI}'"},
            {"cell": f"url = 'postgresql://analyst:{DB_PASSWORD}@db.internal:5432/sales'\npassword = '{DB_PASSWORD}'"},
            {"cell": f"raise RuntimeError('could not log in with {GITHUB} at https://bob:{DB_PASSWORD}@host/')"},
            {"cell": "import os\nos.environ['OMP_NUM_THREADS'] = '2'\n1"},
        ],
        env={"MY_SERVICE_TOKEN": ENV_SECRET, "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "OMP_NUM_THREADS": "4",
             "CUDA_VISIBLE_DEVICES": "0", "PYTHONHASHSEED": "0", "MKL_API_KEY": ENV_SECRET},
    )
    assert results[2]["success"] and not results[3]["success"]
    store_bytes = b"".join(p.read_bytes() for p in (repo / ".nbrepro").iterdir() if p.is_file())
    assert store_bytes  # the records really are there
    for secret in (AWS, GITHUB, OPENAI, DB_PASSWORD, ENV_SECRET):
        assert secret.encode() not in store_bytes, secret
    records = read_records(repo / ".nbrepro")
    assert "«redacted»" in records[1]["cell"]["source"]
    assert "postgresql://«redacted»@db.internal:5432/sales" in records[2]["cell"]["source"]
    assert records[3]["error"]["ename"] == "RuntimeError" and "«redacted»" in records[3]["error"]["evalue"]
    # the allowlisted variables are kept, in the environment blob
    from nbrepro.store import SQLiteStore

    store = SQLiteStore(repo / ".nbrepro", create=False)
    env = store.expand(records[-1])["env"]
    store.close()
    assert env["variables"]["OMP_NUM_THREADS"] == "2"
    assert env["variables"]["CUDA_VISIBLE_DEVICES"] == "0" and env["variables"]["PYTHONHASHSEED"] == "0"
    assert "MKL_API_KEY" not in env["variables"] and "MY_SERVICE_TOKEN" not in env["variables"]
    # a secret-looking untracked file stays out of the snapshot, and is listed as left out
    left_out = records[-1]["git"]["left_out"]
    assert {"path": ".env", "size": len(f"API_TOKEN={ENV_SECRET}\n"), "why": "secret"} in left_out
    import subprocess

    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", records[-1]["git"]["snapshot"]],
                           cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert ".env" not in files
