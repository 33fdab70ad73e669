"""A capture fault never breaks or changes a cell: the part becomes unavailable, with one warning."""

from __future__ import annotations

import json
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


def run_shell_stderr(cwd: Path, steps: list[dict], env: dict[str, str] | None = None) -> tuple[list[dict], str]:
    """run_shell, also returning what the process printed on stderr outside any cell (at exit)."""
    steps_file = cwd.parent / "steps-stderr.json"
    steps_file.write_text(json.dumps(steps))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parents[1] / "driver.py"), str(steps_file)],
        cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


# Every write to a file fails from here on (EFBIG), as on a full disk: set in the kernel's
# own process, undone by DISK_FREED. SIGXFSZ ignored, so the write fails instead of killing
# the process. No root, nothing to clean up. IPython's own history database fails as well,
# with a traceback of IPython's at exit that no extension can prevent: it is turned off.
DISK_FULL = (
    "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "h = get_ipython().history_manager; h.enabled = False; h.end_session = lambda: None; "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))"
)
DISK_FREED = "resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))"


def test_a_full_disk_mid_session_keeps_the_records_until_it_clears(tmp_path: Path) -> None:
    project = tmp_path / "plain"  # no git: git would fail on the full disk too, with its own warning
    project.mkdir()
    steps = [
        {"cell": "%load_ext nbrepro"}, {"cell": "x = 1"}, {"flush": True},
        {"cell": DISK_FULL}, {"cell": "y = 2"}, {"cell": "print(y)"}, {"flush": True}, {"cell": "z = 3"},
        {"cell": DISK_FREED}, {"cell": "w = 4"}, {"flush": True},
    ]
    results, stderr = run_shell_stderr(project, steps)
    cells = [r for r in results if "success" in r]
    assert all(r["success"] for r in cells) and cells[4]["stdout"] == "2\n"
    warnings = [line for r in cells for line in r["stderr"].splitlines() if line]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("nbrepro: warning: store: cannot write ")
    assert "disk I/O error" in warnings[0] and "wait in memory and are retried" in warnings[0]
    assert "rollback" not in warnings[0] and "recorder" not in warnings[0]
    assert "Traceback" not in stderr and "Exception in thread" not in stderr
    records = read_records(project / ".nbrepro")
    assert [r["cell"]["source"] for r in records] == [
        "%load_ext nbrepro", "x = 1", DISK_FULL, "y = 2", "print(y)", "z = 3", DISK_FREED, "w = 4",
    ]


def test_a_full_disk_at_exit_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    steps = [{"cell": "%load_ext nbrepro"}, {"cell": "x = 1"}, {"flush": True}, {"cell": DISK_FULL}, {"cell": "y = 2"}]
    _results, stderr = run_shell_stderr(project, steps)
    assert "Traceback" not in stderr and "Exception in thread" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    # the cells are named, and so is the fate of their records: the recovery file cannot be
    # written on a full disk either
    assert lines[0].startswith("nbrepro: warning: store: 2 record(s) (cells [3] to [4] of session "), lines[0]
    assert "could not be written: cannot write " in lines[0] and "; lost: no recovery file could be written either" in lines[0]
    assert [r["cell"]["source"] for r in read_records(project / ".nbrepro")] == ["%load_ext nbrepro", "x = 1"]


OVERWRITE = "open('.nbrepro/nbrepro.db', 'wb').write(b'garbage' * 1000)"


@pytest.mark.parametrize(
    "fault",
    [
        # overwritten in place: same inode, not a database any more
        f"python -c \"{OVERWRITE}\"",
        # replaced by a rename: the kernel's file is gone from the path
        "printf 'junk%.0s' $(seq 500) > junk.db && mv junk.db .nbrepro/nbrepro.db",
    ],
    ids=["overwritten", "renamed-over"],
)
def test_a_database_ruined_mid_session_is_moved_aside_and_nothing_later_is_lost(repo: Path, fault: str) -> None:
    steps = [
        {"cell": "%load_ext nbrepro"}, {"cell": "a = 1"}, {"flush": True},
        {"shell": fault},
        {"cell": "b = 2"}, {"cell": "print(b)"}, {"flush": True}, {"cell": "c = 3"},
    ]
    results = run_shell(repo, steps)
    cells = [r for r in results if "success" in r]
    assert all(r["success"] for r in cells)
    warnings = [line for r in cells for line in r["stderr"].splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("nbrepro: warning: store: "), warnings
    assert "moved it to nbrepro.db.bak and started a new store" in warnings[0]
    assert (repo / ".nbrepro" / "nbrepro.db.bak").read_bytes()[:4] in (b"garb", b"junk")
    later = ["b = 2", "print(b)", "c = 3"]
    if "mv " in fault:  # the file renamed over was whole: this session's records came along from it
        later = ["%load_ext nbrepro", "a = 1", *later]
    assert [r["cell"]["source"] for r in read_records(repo / ".nbrepro")] == later
    log = subprocess.run([sys.executable, "-m", "nbrepro", "log"], cwd=repo, capture_output=True, text=True)
    assert log.returncode == 0 and "c = 3" in log.stdout, log.stderr
    check = subprocess.run([sys.executable, "-m", "nbrepro", "log", "--check"], cwd=repo, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
