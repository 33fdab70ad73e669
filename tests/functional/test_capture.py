"""A real IPython shell in a real git repository: what one record per cell run carries."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_valid, git, read_records, run_shell

pytestmark = pytest.mark.functional


def test_one_record_per_cell_with_code_time_and_status(repo: Path, record_validator) -> None:
    results = run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "x = 1"},
        {"cell": "import numpy as np\nprint(np.arange(3).sum())"},
        {"cell": "raise ValueError('bad value')"},
        {"cell": "x + 1"},
    ])
    assert results[2]["stdout"] == "3\n"
    assert results[3]["success"] is False
    records = read_records(repo / ".nbrepro")
    assert_valid(records, record_validator)
    assert [r["cell"]["source"] for r in records] == [
        "%load_ext nbrepro", "x = 1", "import numpy as np\nprint(np.arange(3).sum())",
        "raise ValueError('bad value')", "x + 1",
    ]
    assert [r["cell"]["execution_count"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[3]["status"] == "error"
    assert records[3]["error"] == {"ename": "ValueError", "evalue": "bad value"}
    assert all(r["cell"]["id"] is None for r in records)  # a plain shell sends no cell id
    numpy_cell = records[2]
    assert numpy_cell["env"]["imported"]["numpy"]
    assert "numpy" not in records[1]["env"]["imported"]
    assert numpy_cell["duration_s"] > 0 and numpy_cell["cpu_s"] > 0
    assert numpy_cell["rss_peak_bytes"] > 10 * 2**20
    # nbrepro's own libraries and the kernel's are not the user's imports
    for name in ("GitPython", "psutil", "blake3", "ipython", "ipykernel", "nbrepro"):
        assert name not in numpy_cell["env"]["imported"]
    assert numpy_cell["env"]["kernel"]["ipython"]
    hw = numpy_cell["hardware"]
    assert hw["cores"] >= 1 and hw["memory_bytes"] > 0 and hw["cpu"] and hw["os"]


def test_what_the_recorder_imports_itself_is_not_the_cells_import(repo: Path) -> None:
    # The hardware reading imports threadpoolctl once numpy is there, in the worker, between
    # the numpy cell and the next: the next cell's view of sys.modules holds it.
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "import numpy as np"}, {"flush": True}, {"cell": "x = 1"}])
    records = read_records(repo / ".nbrepro")
    assert [sorted(r["env"]["imported"]) for r in records] == [[], ["numpy"], ["numpy"]]


def test_git_commit_branch_dirty_and_snapshot(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "untracked.py").write_text("VALUE = 1\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "cache.bin").write_text("ignored content\n")
    (repo / "big.csv").write_bytes(b"x" * 2048)
    results = run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "1"}],
                        env={"NBREPRO_SNAPSHOT_MAX_BYTES": "1024"})
    assert all(r["success"] for r in results)
    g = read_records(repo / ".nbrepro")[-1]["git"]
    assert g["commit"] == head and g["branch"] == "main" and g["dirty"] is True
    snapshot = g["snapshot"]
    assert snapshot != head
    files = set(git(repo, "ls-tree", "-r", "--name-only", snapshot).split())
    assert {"tracked.txt", "helpers.py", "untracked.py", ".gitignore"} <= files
    assert "ignored/cache.bin" not in files and "big.csv" not in files
    assert g["left_out"] == [{"path": "big.csv", "size": 2048, "why": "size"}]
    # kept reachable under a hidden ref, with HEAD as its first parent
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/nbrepro/")
    assert snapshot in refs
    assert git(repo, "rev-parse", f"{snapshot}^1").strip() == head


def test_clean_tree_snapshot_is_head_and_unchanged_tree_reuses_it(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "1"}, {"flush": True}, {"cell": "2"}])
    records = read_records(repo / ".nbrepro")
    assert all(r["git"]["dirty"] is False and r["git"]["snapshot"] == head for r in records)
    (repo / "new.py").write_text("A = 1\n")
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "1"}, {"flush": True}, {"cell": "2"}])
    later = read_records(repo / ".nbrepro")[len(records):]
    snapshots = {r["git"]["snapshot"] for r in later}
    assert len(snapshots) == 1 and head not in snapshots


def test_user_branch_index_stash_and_files_untouched(repo: Path) -> None:
    (repo / "tracked.txt").write_text("staged change\n")
    git(repo, "add", "tracked.txt")
    (repo / "tracked.txt").write_text("unstaged change on top\n")
    (repo / "helpers.py").write_text("def double(x):\n    return x + x\n")
    git(repo, "stash", "push", "-q", "--", "helpers.py")
    (repo / "notes.md").write_text("untracked\n")
    before = {
        "index": (repo / ".git" / "index").read_bytes(),
        "refs": git(repo, "for-each-ref", "refs/heads", "refs/stash"),
        "status": git(repo, "status", "--porcelain=v2"),
        "head": (repo / ".git" / "HEAD").read_text(),
    }
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "open('tracked.txt').read()"}])
    after = {
        "index": (repo / ".git" / "index").read_bytes(),
        "refs": git(repo, "for-each-ref", "refs/heads", "refs/stash"),
        "status": git(repo, "status", "--porcelain=v2"),
        "head": (repo / ".git" / "HEAD").read_text(),
    }
    assert after == before
    assert (repo / "tracked.txt").read_text() == "unstaged change on top\n"
    snapshot = read_records(repo / ".nbrepro")[-1]["git"]["snapshot"]
    # the snapshot holds the working tree as it was, not the index
    assert git(repo, "show", f"{snapshot}:tracked.txt") == "unstaged change on top\n"


def test_edit_by_another_process_shows_in_next_record(repo: Path) -> None:
    run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "a = 1"},
        {"flush": True},
        {"shell": "echo 'edited elsewhere' >> tracked.txt"},
        {"cell": "b = 2"},
    ])
    first, second = read_records(repo / ".nbrepro")[-2:]
    assert first["git"]["dirty"] is False
    assert second["git"]["dirty"] is True
    assert second["git"]["snapshot"] != first["git"]["snapshot"]
    assert "edited elsewhere" in git(repo, "show", f"{second['git']['snapshot']}:tracked.txt")


def test_outside_git_the_record_says_why(tmp_path: Path, record_validator) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    results = run_shell(plain, [{"cell": "%load_ext nbrepro"}, {"cell": "print('hi')"}])
    assert results[1]["stdout"] == "hi\n"
    records = read_records(plain / ".nbrepro")
    assert_valid(records, record_validator)
    assert records[-1]["git"] == {"unavailable": "not inside a git repository"}


def test_local_module_and_distribution_whose_name_differs(repo: Path, tmp_path: Path) -> None:
    # A real installed distribution "acme-toolkit" whose import name is "acme".
    site = tmp_path / "extra" / "site-packages"
    (site / "acme").mkdir(parents=True)
    (site / "acme" / "__init__.py").write_text("VERSION = '1.2.3'\n")
    info = site / "acme_toolkit-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-toolkit\nVersion: 1.2.3\n")
    (info / "top_level.txt").write_text("acme\n")
    (info / "RECORD").write_text("acme/__init__.py,,\nacme_toolkit-1.2.3.dist-info/METADATA,,\n")
    results = run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "import acme, helpers\nhelpers.double(2)"}],
                        env={"PYTHONPATH": str(site)})
    assert results[1]["success"] and results[1]["result"] == "4"
    env = read_records(repo / ".nbrepro")[-1]["env"]
    assert env["imported"]["acme-toolkit"] == "1.2.3"
    assert env["local_modules"] == {"helpers": "helpers.py"}


def test_status_magic_and_usage_errors(repo: Path) -> None:
    results = run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "%nbrepro status"},
        {"cell": "%nbrepro bogus"},
        {"cell": "%nbrepro notebook"},
        {"cell": "%nbrepro off extra"},
        {"cell": "%nbrepro"},
    ])
    status = "\n".join(results[1]["outputs"])
    assert "recording" in status and "main @" in status
    for bad in results[2:]:
        assert bad["success"] is False
        assert "UsageError" in bad["stderr"] and "Traceback" not in bad["stderr"]


def test_off_and_on_pause_recording(repo: Path) -> None:
    run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "a = 1"},
        {"cell": "%nbrepro off"},
        {"cell": "b = 2"},
        {"cell": "c = 3"},
        {"cell": "%nbrepro on"},
        {"cell": "d = 4"},
    ])
    sources = [r["cell"]["source"] for r in read_records(repo / ".nbrepro")]
    assert sources == ["%load_ext nbrepro", "a = 1", "%nbrepro on", "d = 4"]


def test_notebook_path_sources_in_order(repo: Path) -> None:
    (repo / "sub").mkdir()
    cases = [
        ({"JPY_SESSION_NAME": str(repo / "sub" / "analysis.ipynb")}, [], ("sub/analysis.ipynb", "JPY_SESSION_NAME")),
        ({}, [{"cell": "__session__ = 'sub/from_session.ipynb'"}], ("sub/from_session.ipynb", "__session__")),
        ({}, [{"cell": f"__vsc_ipynb_file__ = {str(repo / 'vs.ipynb')!r}"}], ("vs.ipynb", "__vsc_ipynb_file__")),
        ({"JPY_SESSION_NAME": str(repo / "a.ipynb")}, [{"cell": "%nbrepro notebook sub/named.ipynb"}],
         ("sub/named.ipynb", "%nbrepro notebook")),
    ]
    for env, setup, expected in cases:
        run_shell(repo, [{"cell": "%load_ext nbrepro"}, *setup, {"cell": "1 + 1"}], env=env)
        nb = read_records(repo / ".nbrepro")[-1]["notebook"]
        assert (nb["path"], nb["found_by"]) == expected


def test_cell_index_found_in_saved_notebook_by_source(repo: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("%load_ext nbrepro"), new_code_cell("y = 41\ny + 1")])
    nbformat.write(nb, repo / "t.ipynb")
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "y = 41\ny + 1"}, {"cell": "z = 0"}],
              env={"JPY_SESSION_NAME": str(repo / "t.ipynb")})
    records = read_records(repo / ".nbrepro")
    assert [r["cell"]["index"] for r in records] == [1, 2, None]


def test_reload_and_unload_leave_exactly_one_record_per_cell(repo: Path) -> None:
    run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "%reload_ext nbrepro"},
        {"cell": "%reload_ext nbrepro"},
        {"cell": "a = 1"},
        {"cell": "%load_ext nbrepro"},
        {"cell": "b = 2"},
        {"unload": True},
        {"cell": "c = 3"},
    ])
    sources = [r["cell"]["source"] for r in read_records(repo / ".nbrepro")]
    assert sources == ["%load_ext nbrepro", "%reload_ext nbrepro", "%reload_ext nbrepro", "a = 1",
                       "%load_ext nbrepro", "b = 2"]


def test_loaded_from_ipython_config(repo: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    profile = tmp_path / "ipdir" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text('c.InteractiveShellApp.extensions = ["nbrepro"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", f"--ipython-dir={tmp_path / 'ipdir'}", "-c", "print(6 * 7)"],
        cwd=repo, capture_output=True, text=True, timeout=120, env=os.environ,
    )
    assert proc.returncode == 0, proc.stderr
    assert "42" in proc.stdout
    records = read_records(repo / ".nbrepro")
    assert [r["cell"]["source"] for r in records] == ["print(6 * 7)"]
