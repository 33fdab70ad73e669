"""The git state of each record is the one its cell saw (issue 11), in real kernels on real repos.

A Run All in a fresh kernel ends most cells before the worker's first git reading; the
records of those cells must not show files that later cells wrote. And no reading may be
lost to the signals a frontend sends the kernel's process group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import assert_valid, git, read_records, run_shell

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration


def run_all(root: Path, cells: list[str]) -> list[dict[str, Any]]:
    """Run ``cells`` after ``%load_ext nbrepro`` in a fresh kernel, the way nbclient and
    ``jupyter execute`` do (no notebook path, no pacing); the records, one per cell."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in ["%load_ext nbrepro", *cells]])
    kernel.execute(nb, root, allow_errors=False)
    records = read_records(root / ".nbrepro")
    assert [r["cell"]["source"] for r in records] == ["%load_ext nbrepro", *cells]
    return records


def tree(root: Path, snapshot: str) -> dict[str, str]:
    """path -> content of every file in a snapshot commit."""
    names = git(root, "ls-tree", "-r", "-z", "--name-only", snapshot).split("\0")
    return {n: git(root, "show", f"{snapshot}:{n}") for n in names if n}


def settle_index(root: Path, *paths: str) -> None:
    """Give tracked files an mtime older than git's index, as any file not edited in the last
    instant has: git (and nbrepro) trust a stat match only when it is not "racily clean",
    and a file written in the same clock tick as the index is."""
    past = os.stat(root / ".git" / "index").st_mtime - 3600
    for p in paths:
        os.utime(root / p, (past, past))
    git(root, "add", "--", *paths)


FAST = ["a = 1", "b = a + 1", "c = b * 2", "d = [a, b, c]"]


def test_run_all_earlier_records_do_not_see_a_file_a_late_cell_writes(repo: Path, record_validator) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    write = "import os\nos.makedirs('data', exist_ok=True)\nwith open('data/out.csv', 'w') as f:\n    f.write('x,y\\n1,2\\n')"
    records = run_all(repo, [*FAST, write, "e = 5"])
    assert_valid(records, record_validator)
    *before, wrote, after = records
    for rec in before:
        assert rec["git"]["dirty"] is False, rec["cell"]["source"]
        assert rec["git"]["snapshot"] == head
        assert "data/out.csv" not in tree(repo, rec["git"]["snapshot"])
        assert rec["git"]["left_out"] == []
    for rec in (wrote, after):
        assert rec["git"]["dirty"] is True
        assert tree(repo, rec["git"]["snapshot"])["data/out.csv"] == "x,y\n1,2\n"


def test_run_all_earlier_records_show_the_committed_version_of_a_file_a_late_cell_rewrites(
    repo: Path, record_validator
) -> None:
    settle_index(repo, "tracked.txt")
    head = git(repo, "rev-parse", "HEAD").strip()
    records = run_all(repo, [*FAST, "with open('tracked.txt', 'w') as f:\n    f.write('two\\n')", "e = 5"])
    assert_valid(records, record_validator)
    *before, wrote, after = records
    for rec in before:
        assert rec["git"]["dirty"] is False, rec["cell"]["source"]
        assert rec["git"]["snapshot"] == head
        assert tree(repo, rec["git"]["snapshot"])["tracked.txt"] == "one\n"
    for rec in (wrote, after):
        assert rec["git"]["dirty"] is True
        assert tree(repo, rec["git"]["snapshot"])["tracked.txt"] == "two\n"


def test_a_file_written_early_is_in_every_later_record_and_rewinds_only_what_came_after(
    repo: Path, record_validator
) -> None:
    """No over-correction: what a cell wrote shows in its own record and every later one;
    a tracked file rewritten later still shows its committed version until then."""
    settle_index(repo, "tracked.txt")
    head = git(repo, "rev-parse", "HEAD").strip()
    cells = [
        "a = 1",
        "with open('results.csv', 'w') as f:\n    f.write('r\\n1\\n')",
        *FAST[1:],
        "import pathlib\npathlib.Path('tracked.txt').write_text('two\\n')",
        "e = 5",
    ]
    records = run_all(repo, cells)
    assert_valid(records, record_validator)
    load, first, wrote, *middle, rewrote, last = records
    for rec in (load, first):
        assert rec["git"]["dirty"] is False and rec["git"]["snapshot"] == head
    for rec in (wrote, *middle):
        assert rec["git"]["dirty"] is True
        files = tree(repo, rec["git"]["snapshot"])
        assert files["results.csv"] == "r\n1\n" and files["tracked.txt"] == "one\n"
        assert rec["git"]["left_out"] == []
    # the cells in between saw one tree
    assert len({git(repo, "rev-parse", rec["git"]["snapshot"] + "^{tree}") for rec in (wrote, *middle)}) == 1
    for rec in (rewrote, last):
        files = tree(repo, rec["git"]["snapshot"])
        assert files["results.csv"] == "r\n1\n" and files["tracked.txt"] == "two\n"


def test_a_file_rewritten_later_is_never_shown_with_its_later_content(repo: Path, record_validator) -> None:
    """An untracked file written by cell 2 and rewritten by cell 6: cells 2-5 show the first
    content when a reading proves it, else list the file as written-later; never the second."""
    cells = [
        "a = 1",
        "with open('out.txt', 'w') as f:\n    f.write('first\\n')",
        *FAST[1:],
        "with open('out.txt', 'w') as f:\n    f.write('second\\n')",
    ]
    records = run_all(repo, cells)
    assert_valid(records, record_validator)
    load, first, wrote, *middle, rewrote = records
    for rec in (load, first):
        assert rec["git"]["dirty"] is False
    for rec in (wrote, *middle):
        assert rec["git"]["dirty"] is True
        files = tree(repo, rec["git"]["snapshot"])
        later = [e for e in rec["git"]["left_out"] if e["why"] == "written-later"]
        if later:
            assert later == [{"path": "out.txt", "size": len("first\n"), "why": "written-later"}]
            assert "out.txt" not in files
        else:
            assert files["out.txt"] == "first\n"
    assert tree(repo, rewrote["git"]["snapshot"])["out.txt"] == "second\n"


# Holds the worker's next git reading until the gate opens: the cells run meanwhile end
# before it, deterministically, as they do when cells outrun git.
GATE = (
    "import threading\nfrom nbrepro.ipython.extension import active\n"
    "_rec = active(get_ipython()).recorder\n_gate, _capture = threading.Event(), _rec._git.capture\n"
    "_rec._git.capture = lambda: (_gate.wait(60), _capture())[1]"
)


def test_an_earlier_reading_proves_what_a_cell_saw_of_a_file_rewritten_later(repo: Path, record_validator) -> None:
    """A reading taken after cell 2 wrote out.txt holds its content; cells that end later,
    but whose reading comes after cell 5 rewrote it, get that content back from it."""
    steps = [
        {"cell": "%load_ext nbrepro"},
        {"cell": "import os, time\nwith open('out.txt', 'w') as f:\n    f.write('first\\n')\n"
                 "os.utime('out.txt', (time.time() - 3600,) * 2)  # not racily clean"},
        {"flush": True},
        {"cell": GATE},
        {"cell": "x = 1"},
        {"cell": "with open('out.txt', 'w') as f:\n    f.write('second\\n')"},
        {"cell": "_gate.set()"},
        {"flush": True},
    ]
    run_shell(repo, steps)
    records = read_records(repo / ".nbrepro")
    assert_valid(records, record_validator)
    _load, wrote, gate, between, rewrote, opened = records
    for rec in (wrote, gate, between):
        assert rec["git"]["dirty"] is True and rec["git"]["left_out"] == []
        assert tree(repo, rec["git"]["snapshot"])["out.txt"] == "first\n", rec["cell"]["source"]
    for rec in (rewrote, opened):
        assert tree(repo, rec["git"]["snapshot"])["out.txt"] == "second\n"


def test_a_file_a_later_cell_deletes_or_renames_is_still_in_earlier_records(repo: Path, record_validator) -> None:
    settle_index(repo, "tracked.txt", "helpers.py")
    head = git(repo, "rev-parse", "HEAD").strip()
    records = run_all(repo, [*FAST, "import os\nos.remove('tracked.txt')\nos.rename('helpers.py', 'util.py')"])
    assert_valid(records, record_validator)
    *before, changed = records
    for rec in before:
        assert rec["git"]["dirty"] is False and rec["git"]["snapshot"] == head
    files = tree(repo, changed["git"]["snapshot"])
    assert "tracked.txt" not in files and "helpers.py" not in files and "util.py" in files


def test_thirty_long_cells_under_nbclient_all_have_a_git_reading(tmp_path: Path, record_validator) -> None:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for i in range(300):  # a reading takes long enough to overlap the cells
        (root / f"src{i // 50}").mkdir(exist_ok=True)
        (root / f"src{i // 50}" / f"m{i}.py").write_text(f"VALUE = {i}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "files")
    compute = "import time\nt, s = time.perf_counter(), 0\nwhile time.perf_counter() - t < 0.3:\n    s += sum(range(1000))"
    cells = []
    for _ in range(10):
        cells += ["%timeit -n 20 -r 3 sum(range(5000))", "%%time\n" + compute, compute]
    records = run_all(root, cells)
    assert_valid(records, record_validator)
    assert len(records) == 31
    for rec in records:
        assert "unavailable" not in rec["git"], (rec["seq"], rec["git"])
        assert rec["git"]["commit"] and isinstance(rec["git"]["snapshot"], str)


SIGNAL_STORM = textwrap.dedent(
    """
    import json, os, signal, sys, threading
    from pathlib import Path
    from nbrepro.capture.git import GitCollector, shield_thread

    signal.signal(signal.SIGINT, lambda *a: None)  # like a kernel running a cell: git gets SIG_DFL
    collector = GitCollector(Path(sys.argv[1]), "storm")
    collector._open()  # gitpython's own start-up runs git outside the collector
    tries = []
    read = collector._read
    collector._read = lambda last_try: (tries.append(last_try), read(last_try))[1]
    results, done = [], threading.Event()

    def readings():  # as the recorder's worker runs them
        shield_thread()
        try:
            for i in range(40):
                (Path(sys.argv[1]) / "scratch.txt").write_text(str(i))  # a new snapshot each time
                results.append(collector.capture())
        except BaseException as exc:
            results.append({"unavailable": repr(exc)})
        finally:
            done.set()

    threading.Thread(target=readings).start()
    while not done.wait(0.001):
        os.killpg(os.getpgrp(), signal.SIGINT)  # what jupyter_client does on interrupt and shutdown
    print(json.dumps({"results": results, "retries": tries.count(True)}))
    """
)


def test_signals_to_the_kernels_process_group_never_reach_git(repo: Path, tmp_path: Path) -> None:
    """The cause of the lost readings: jupyter_client interrupts (SIGINT to the kernel's
    process group) before every shutdown and on every interrupt, and ipykernel SIGTERMs
    the children in its group at shutdown. Git runs with both blocked, in a group of its own."""
    script = tmp_path / "storm.py"
    script.write_text(SIGNAL_STORM)
    proc = subprocess.run([sys.executable, str(script), str(repo)], capture_output=True, text=True, check=False,
                          timeout=300, start_new_session=True)  # its own group: the storm stays in it
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["results"]) == 40
    assert all("unavailable" not in r and isinstance(r["snapshot"], str) for r in out["results"]), out["results"]
    assert out["retries"] == 0
