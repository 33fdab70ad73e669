"""Shared fixtures: a clean environment, real git repositories, and a real IPython shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbrepro.record import load_schema

HERE = Path(__file__).parent
REPO = HERE.parent
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's environment and config out of tests."""
    for name in list(os.environ):
        if name.startswith(("NBREPRO_", "JPY_", "GIT_")) or name in ("IPYTHONDIR", "JUPYTER_CONFIG_DIR"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ".ipython"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit, a .gitignore and a helper module."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "tracked.txt").write_text("one\n")
    (root / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (root / ".gitignore").write_text("ignored/\n*.log\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def run_shell(
    cwd: Path, steps: list[dict[str, Any]], env: dict[str, str] | None = None, timeout: float = 120,
    python: str = sys.executable,
) -> list[dict[str, Any]]:
    """Run ``steps`` in a fresh process with a real IPython shell (see tests/driver.py)."""
    steps_file = cwd.parent / f"steps-{os.getpid()}-{len(steps)}.json"
    steps_file.write_text(json.dumps(steps))
    proc = subprocess.run(
        [python, str(HERE / "driver.py"), str(steps_file)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_records(store_dir: Path) -> list[dict[str, Any]]:
    from nbrepro.store import SQLiteStore

    store = SQLiteStore(store_dir, create=False)
    try:
        return store.records()
    finally:
        store.close()


@pytest.fixture(scope="session")
def record_validator() -> Any:
    import jsonschema

    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


_REPORT_VALIDATOR: list[Any] = []


def assert_report_valid(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` (verify's JSON) against the shipped schema ``nbrepro.verify/1``; returns it."""
    import jsonschema

    from nbrepro.verify.verdict import load_verify_schema

    if not _REPORT_VALIDATOR:
        schema = load_verify_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        _REPORT_VALIDATOR.append(jsonschema.Draft202012Validator(schema))
    errors = [e.message for e in _REPORT_VALIDATOR[0].iter_errors(report)]
    assert not errors, errors[:3]
    return report


def assert_valid(records: list[dict[str, Any]], validator: Any) -> None:
    assert records, "no records to validate"
    for rec in records:
        errors = sorted(validator.iter_errors(rec), key=lambda e: e.path)
        assert not errors, f"seq {rec.get('seq')}: {[e.message for e in errors][:3]}"


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A real, minimal wheel built by hand (``requires``: its Requires-Dist): pip installs it offline."""
    import base64
    import hashlib
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: nbrepro-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    lines = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*lines, f"{dist}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def notebook_project(root: Path, cells: list[str], name: str, files: dict[str, str]) -> Path:
    """A git repository holding ``files`` and a notebook of ``cells`` whose cell 1 is tagged
    ``parameters``; returns the notebook's path."""
    import nbformat

    root.mkdir()
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.cells[1].metadata["tags"] = ["parameters"]
    path = root / name
    nbformat.write(nb, path)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "analysis")
    return path
