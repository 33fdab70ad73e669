"""Secrets planted in the environment, the code and the errors never reach the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_records, run_shell

from nbrepro.record.redact import REDACTED

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


# Secrets with no token shape: only where and how the code sets them says what they are.
PARAM_SECRET = "param-" + "plain-horse-battery"
URL_SECRET = "urlpass-" + "staple-47"
ENVIRON_SECRET = "environ-" + "granite-sky"
SETDEFAULT_SECRET = "setdefault-" + "mossy-owl"
MAGIC_SECRET = "magic-" + "velvet-fern"
SHELL_SECRET = "shellpw-" + "copper-kite"
RAISED_SECRET = "raised-" + "quiet-lantern"
TF_SECRET = "tfvar-" + "amber-wolf"
PLANTED = (PARAM_SECRET, URL_SECRET, ENVIRON_SECRET, SETDEFAULT_SECRET, MAGIC_SECRET, SHELL_SECRET, RAISED_SECRET, TF_SECRET)

CELLS = [
    "%load_ext nbrepro",
    f'db_password = "{PARAM_SECRET}"\nservice_url = "https://analyst:{URL_SECRET}@db.internal/sales"\nn = 3',
    f'import os\nos.environ["DB_PASSWORD"] = "{ENVIRON_SECRET}"\nos.environ.setdefault("API_TOKEN", "{SETDEFAULT_SECRET}")',
    f"%env SERVICE_PASSWORD={MAGIC_SECRET}",
    f"!echo https://u:{SHELL_SECRET}@host.invalid/x",
    'print(db_password, n, open("data.txt").read().strip())',
    f'api_secret = "{RAISED_SECRET}"\nraise ValueError(f"login rejected for {{api_secret}}")',
]


def nbrepro(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbrepro", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_no_secret(where: str, text: str) -> None:
    leaked = [s for s in PLANTED if s in text]
    assert not leaked, f"{where}: {leaked}"


@pytest.mark.parametrize("named", [True, False], ids=["named-by-frontend", "script"])
def test_secrets_without_a_token_shape_stay_out_of_every_artefact(repo: Path, named: bool) -> None:
    # A script or nbclient names no notebook: the session is then found by its cells, and the
    # parameters come from the recorded (redacted) source instead of the record's params part.
    naming = {"JPY_SESSION_NAME": str(repo / "nb.ipynb")} if named else {}
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_code_cell(c) for c in CELLS])
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, repo / "nb.ipynb")
    (repo / "data.txt").write_text("one\n")
    results = run_shell(repo, [{"cell": c} for c in CELLS], env={
        "TF_VAR_db_pass": TF_SECRET, **naming,
        "TF_CLI_CONFIG_FILE": "/home/me/.terraformrc", "TF_DETERMINISTIC_OPS": "1",
    })
    assert [r["success"] for r in results] == [True] * 6 + [False]

    # the store: not in any byte of it
    store_bytes = b"".join(p.read_bytes() for p in (repo / ".nbrepro").iterdir() if p.is_file())
    assert_no_secret("store", store_bytes.decode("utf-8", "replace"))
    records = read_records(repo / ".nbrepro")
    if named:
        assert records[1]["params"] == {"db_password": REDACTED, "service_url": f"https://{REDACTED}@db.internal/sales", "n": 3}
    assert records[2]["cell"]["source"].count(REDACTED) == 2 and records[3]["cell"]["source"] == f"%env SERVICE_PASSWORD={REDACTED}"
    assert records[4]["cell"]["source"] == f"!echo https://{REDACTED}@host.invalid/x"
    assert records[6]["error"] == {"ename": "ValueError", "evalue": f"login rejected for {REDACTED}"}
    from nbrepro.store import SQLiteStore

    store = SQLiteStore(repo / ".nbrepro", create=False)
    try:
        expanded = [store.expand(r) for r in records]
    finally:
        store.close()
    assert_no_secret("expanded records", json.dumps(expanded))
    variables = expanded[-1]["env"]["variables"]
    assert variables["TF_DETERMINISTIC_OPS"] == "1"
    assert not {"TF_VAR_db_pass", "TF_CLI_CONFIG_FILE", "DB_PASSWORD", "API_TOKEN", "SERVICE_PASSWORD"} & set(variables)

    # what the commands print and write
    log = nbrepro(repo, "log", "--json")
    assert log.returncode == 0, log.stderr
    assert_no_secret("log --json", log.stdout)
    assert_no_secret("show --json", nbrepro(repo, "show", records[5]["run_id"], "--json").stdout)

    (repo / "data.txt").write_text("two\n")  # the export's test of cell 5 now fails, with a diff
    export = nbrepro(repo, "export", "nb.ipynb", "-o", "out", "--no-lock")
    assert export.returncode == 1, export.stdout + export.stderr
    console = export.stdout + export.stderr
    assert "cell 4: shell:" in console and f"https://{REDACTED}@host.invalid/x" in console
    assert f"-{REDACTED} 3 one" in console and f"+{REDACTED} 3 two" in console  # the failing test's diff
    assert_no_secret("export console", console)
    for rel in ("README.md", "PROVENANCE.json", "tests/test_pipeline.py"):
        assert_no_secret(rel, (repo / "out" / rel).read_text())
    assert f"| `db_password` | `str` | `{REDACTED}` |" in (repo / "out" / "README.md").read_text()

    stamp = nbrepro(repo, "stamp", "nb.ipynb")
    assert stamp.returncode == 0, stamp.stderr
    stamped = nbformat.read(repo / "nb.ipynb", as_version=4)
    assert stamped.metadata["nbrepro"]["params"]["db_password"] == REDACTED
    assert_no_secret("stamp", json.dumps([stamped.metadata, *(c.metadata for c in stamped.cells)]))
