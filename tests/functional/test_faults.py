"""A capture fault never breaks or changes a cell: the part becomes unavailable, with one warning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_valid, read_records, run_shell

pytestmark = pytest.mark.functional

CELLS = [
    {"cell": "%load_ext nbrepro"},
    {"cell": "print('hello')"},
    {"cell": "21 * 2"},
    {"cell": "print('again')"},
    {"flush": True},
    {"cell": "total = 6 * 7\ntotal"},
]


def _assert_cells_unharmed(results: list[dict]) -> list[str]:
    cells = [r for r in results if "success" in r]
    assert all(r["success"] for r in cells)
    assert cells[1]["stdout"] == "hello\n"
    assert cells[2]["result"] == "42"
    assert cells[3]["stdout"] == "again\n"
    assert cells[4]["result"] == "42"
    warnings = [line for r in cells for line in r["stderr"].splitlines() if line]
    assert all(line.startswith("nbrepro: warning:") for line in warnings), warnings
    assert all("Traceback" not in r["stderr"] for r in cells)
    return warnings


def test_git_missing_from_path(repo: Path, tmp_path: Path, record_validator) -> None:
    bin_dir = tmp_path / "bin-without-git"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    results = run_shell(repo, CELLS, env={"PATH": str(bin_dir)})
    warnings = _assert_cells_unharmed(results)
    assert len(warnings) == 1 and "git" in warnings[0]
    records = read_records(repo / ".nbrepro")
    assert_valid(records, record_validator)
    assert len(records) == 5
    assert all(r["git"] == {"unavailable": "git executable not found on PATH"} for r in records)


def test_corrupt_git_head(repo: Path, record_validator) -> None:
    (repo / ".git" / "HEAD").write_text("this is not a ref\n")
    results = run_shell(repo, CELLS)
    warnings = _assert_cells_unharmed(results)
    assert len(warnings) == 1 and "git" in warnings[0]
    records = read_records(repo / ".nbrepro")
    assert_valid(records, record_validator)
    assert len(records) == 5
    assert all("unavailable" in r["git"] for r in records)
    assert all("unavailable" not in r["env"] for r in records)


def _make_read_only(folder: Path) -> Path:
    """A store folder nbrepro cannot write; returns the path to give as NBREPRO_DIR."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    # root ignores permission bits; the immutable attribute binds root too, where the
    # file system has it. Elsewhere a store "folder" below a plain file cannot be made.
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        return folder
    blocker = folder / "not-a-folder"
    blocker.write_text("")
    return blocker / "store"


def _undo_read_only(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    folder.chmod(0o755)


def test_read_only_store_folder(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "readonly-store"
    store = _make_read_only(folder)
    try:
        steps = [*CELLS, {"cell": "%nbrepro status"}]
        results = run_shell(repo, steps, env={"NBREPRO_DIR": str(store)})
        warnings = _assert_cells_unharmed(results[:-1])
        assert len(warnings) == 1 and "store" in warnings[0] and "in memory" in warnings[0]
        status = "\n".join(results[-1]["outputs"])
        assert ":memory:" in status and "records this session  5" in status
        assert [p.name for p in folder.iterdir()] in ([], ["not-a-folder"])
    finally:
        _undo_read_only(folder)


def test_database_locked_by_another_process(repo: Path) -> None:
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "'store exists now'"}])
    db = repo / ".nbrepro" / "nbrepro.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(float(sys.argv[1]))\nc.execute('COMMIT')",
         "8"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        results = run_shell(repo, [*CELLS[:4], {"cell": "import time; time.sleep(3.5)"}, *CELLS[4:]])
        cell_seconds = time.monotonic() - started
    finally:
        holder.wait(30)
    sleep_cell = results.pop(4)
    warnings = _assert_cells_unharmed(results)
    warnings += [line for line in sleep_cell["stderr"].splitlines() if line]
    assert sleep_cell["success"] and sleep_cell["stdout"] == ""
    assert len(warnings) == 1 and "locked" in warnings[0]
    assert cell_seconds < 60
    # Nothing lost: the records waited in memory and were written when the lock went away.
    records = read_records(repo / ".nbrepro")
    assert [r["cell"]["source"] for r in records[2:]] == [
        "%load_ext nbrepro", "print('hello')", "21 * 2", "print('again')",
        "import time; time.sleep(3.5)", "total = 6 * 7\ntotal",
    ]


def test_corrupt_database_is_moved_aside(repo: Path) -> None:
    store = repo / ".nbrepro"
    store.mkdir()
    (store / "nbrepro.db").write_bytes(b"this is not a database" * 100)
    results = run_shell(repo, CELLS)
    warnings = _assert_cells_unharmed(results)
    assert len(warnings) == 1 and "nbrepro.db.bak" in warnings[0]
    assert (store / "nbrepro.db.bak").read_bytes().startswith(b"this is not a database")
    assert len(read_records(store)) == 5
