"""What a cell touched: data files (real pandas, numpy, pyarrow, h5py), tracked data, seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from blake3 import blake3
from conftest import assert_valid, make_wheel, read_records, run_shell

from nbrepro.store import SQLiteStore

pytestmark = pytest.mark.functional


def b3(path: Path) -> str:
    return "blake3:" + blake3(path.read_bytes()).hexdigest()


def entries(record: dict) -> dict[tuple[str, str], dict]:
    return {(e["path"], e["mode"]): e for e in record["data"]}


def test_files_read_and_written_by_real_libraries(repo: Path, record_validator) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("a,b\n1,2\n3,4\n")
    outside = Path.home() / "shared.txt"
    outside.write_text("outside the project\n")
    cells = [
        "%load_ext nbrepro",
        "import pandas as pd, numpy as np\ndf = pd.read_csv('data/train.csv')",
        "np.save('arr.npy', df.to_numpy())\nback = np.load('arr.npy')\ndf.to_csv('out/clean.csv')",
        "df.to_parquet('t.parquet')\nimport pyarrow.parquet as pq\nt = pq.read_table('t.parquet')",
        "p = pd.read_parquet('t.parquet')",
        "import h5py\nwith h5py.File('d.h5', 'w') as f:\n    f['x'] = back\nwith h5py.File('d.h5') as f:\n    y = f['x'][:]",
        f"import helpers, json\ntext = open({str(outside)!r}).read()\nimport numpy\nopen(numpy.__file__).close()",
    ]
    (repo / "out").mkdir()
    results = run_shell(repo, [{"cell": c} for c in cells])
    assert all(r["success"] for r in results), results
    records = read_records(repo / ".nbrepro")
    assert_valid(records, record_validator)
    by_cell = [entries(r) for r in records]

    read_csv = by_cell[1][("data/train.csv", "r")]
    assert read_csv["seen_by"] == "open" and read_csv["size"] == 12
    assert read_csv["hash"] == b3(repo / "data" / "train.csv")
    assert set(by_cell[2]) == {("arr.npy", "w"), ("arr.npy", "r"), ("out/clean.csv", "w")}
    assert by_cell[2][("out/clean.csv", "w")]["hash"] == b3(repo / "out" / "clean.csv")
    # pandas hands parquet paths to pyarrow's C++ files; pyarrow opens them in C
    assert by_cell[3][("t.parquet", "w")]["seen_by"] == "pandas"
    assert by_cell[3][("t.parquet", "r")]["seen_by"] == "pyarrow"
    assert by_cell[4][("t.parquet", "r")]["seen_by"] == "pandas"
    assert by_cell[5][("d.h5", "w")]["seen_by"] == "h5py"
    assert by_cell[5][("d.h5", "r")]["seen_by"] == "h5py"
    assert by_cell[5][("d.h5", "w")]["hash"] == b3(repo / "d.h5")
    # a file outside the project is written from ~; imports and site-packages are not data
    assert set(by_cell[6]) == {("~/shared.txt", "r")}
    assert by_cell[0] == {}


def test_a_written_file_is_hashed_with_its_final_content(repo: Path) -> None:
    cell = "f = open('log.txt', 'w')\nf.write('first')\nf.flush()\nf.write(' and last')\nf.close()"
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": cell}])
    entry = entries(read_records(repo / ".nbrepro")[-1])[("log.txt", "w")]
    assert (repo / "log.txt").read_text() == "first and last"
    assert entry["hash"] == b3(repo / "log.txt") and entry["size"] == 14


def test_tracked_files_are_rehashed_for_every_record(repo: Path) -> None:
    data = repo / "data"
    (data / "raw").mkdir(parents=True)
    (data / "a.bin").write_bytes(b"a" * 100)
    (data / "raw" / "b.bin").write_bytes(b"b" * 10)
    (repo / "single.txt").write_text("one file\n")
    results = run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "%nbrepro track data"},
        {"cell": "import nbrepro\nnbrepro.track('single.txt')"},
        {"flush": True},  # files are hashed just after the cell; an edit must come later
        {"shell": "printf changed > data/raw/b.bin"},
        {"cell": "x = 1"},
        {"cell": "%nbrepro track no/such/path"},
    ])
    assert results[1]["stdout"] == "nbrepro: tracking data\n"
    assert results[5]["success"] is False and "does not exist" in results[5]["stderr"]
    assert "Traceback" not in results[5]["stderr"]
    records = read_records(repo / ".nbrepro")
    store = SQLiteStore(repo / ".nbrepro", create=False)
    try:  # a tracked folder is one entry; its tree (path, size, hash per file) is a blob
        first, second, third = ({e["path"]: e for e in store.expand(r)["data"]} for r in records[1:4])
        assert store.check() == []
    finally:
        store.close()
    assert set(first) == {"data/"}
    folder = first["data/"]
    assert (folder["seen_by"], folder["mode"], folder["files"], folder["size"]) == ("track", "r", 2, 110)
    assert folder["tree"] == [["a.bin", 100, b3(data / "a.bin")], ["raw/b.bin", 10, folder["tree"][1][2]]]
    assert set(second) == {"data/", "single.txt"} and second["single.txt"]["seen_by"] == "track"
    assert second["data/"]["hash"] == folder["hash"]  # unchanged: the same tree, stored once
    changed = dict((f[0], f[2]) for f in third["data/"]["tree"])
    assert third["data/"]["hash"] != folder["hash"] and changed["raw/b.bin"] == b3(data / "raw" / "b.bin")
    assert changed["a.bin"] == b3(data / "a.bin")


def test_a_record_stays_small_however_many_files_are_tracked(repo: Path) -> None:
    for name, count in (("few", 20), ("many", 2000)):
        for i in range(count):
            (repo / name / f"{i // 100}").mkdir(parents=True, exist_ok=True)
            (repo / name / f"{i // 100}" / f"f{i}.txt").write_text(str(i))
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "%nbrepro track few"}, {"cell": "x = 1"}])
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "%nbrepro track many"}, {"cell": "x = 1"}])
    few, many = (r for r in read_records(repo / ".nbrepro") if r["cell"]["source"] == "x = 1")
    assert [e["files"] for e in few["data"]] == [20] and [e["files"] for e in many["data"]] == [2000]
    size = {name: len(json.dumps(r["data"])) for name, r in (("few", few), ("many", many))}
    assert abs(size["many"] - size["few"]) <= 8, size  # the size and count digits differ, nothing else


def test_seeds_set_fingerprints_and_unseeded_randomness(repo: Path, record_validator) -> None:
    results = run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "import random\nrandom.random()"},
        {"cell": "random.random()"},
        {"cell": "%nbrepro seed 42"},
        {"cell": "import numpy as np\nv = np.random.rand(3)\nw = random.random()"},
        {"cell": "rng = np.random.default_rng()"},
        {"cell": "rng = np.random.default_rng(7)\nnp.random.seed(5)"},
        {"cell": "x = 1"},
    ])
    notices = [r["stderr"] for r in results]
    assert "random's global RNG" in notices[1] and "%nbrepro seed N" in notices[1]
    assert notices[2] == ""  # one notice per RNG per session
    assert "default_rng() without a seed" in notices[5]
    records = read_records(repo / ".nbrepro")
    assert_valid(records, record_validator)
    seeds = [r["seeds"] for r in records]
    assert seeds[1]["unseeded"] == ["random"] and seeds[2]["unseeded"] == ["random"]
    assert seeds[1]["before"]["random"] != seeds[1]["after"]["random"]
    assert seeds[3]["set"] == {"random": 42}  # numpy was not imported yet ...
    assert seeds[4]["set"] == {"numpy": 42}  # ... and is seeded when it is
    assert seeds[4]["unseeded"] == []
    assert seeds[4]["before"]["numpy"] != seeds[4]["after"]["numpy"]
    assert seeds[5]["unseeded"] == ["numpy.random.default_rng"]
    assert seeds[6]["set"] == {"numpy.random.default_rng": 7, "numpy": 5} and seeds[6]["unseeded"] == []
    assert seeds[7]["before"] == seeds[7]["after"] and seeds[7]["set"] == {}


def test_seeded_sessions_reach_the_same_rng_states(repo: Path) -> None:
    steps = [
        {"cell": "%load_ext nbrepro"},
        {"cell": "import numpy as np, random\nimport nbrepro\nnbrepro.seed(3)"},
        {"cell": "a = np.random.rand(5), random.random()"},
    ]
    run_shell(repo, steps)
    run_shell(repo, steps)
    records = read_records(repo / ".nbrepro")
    first, second = records[2]["seeds"], records[5]["seeds"]
    assert first["after"] == second["after"] and first["before"] == second["before"]
    assert first["unseeded"] == second["unseeded"] == []
    # numpy 2 imports numpy.random lazily: it is seeded at that import, in whichever cell
    assert {**records[1]["seeds"]["set"], **first["set"]} == {"random": 3, "numpy": 3}


def child_venv(folder: Path) -> Path:
    """A real venv whose own site-packages starts empty; nbrepro and its dependencies come from
    this test run's environment through a .pth file, so nothing is downloaded."""
    import site
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir, not plain path lines: the parent's own .pth files (an editable install of
    # nbrepro among them) must be processed too, or ``import nbrepro`` finds only the
    # ``nbrepro/examples`` data folder an editable wheel installs, as a namespace package.
    lines = [f"import site; site.addsitedir({d!r})" for d in site.getsitepackages()]
    Path(own, "parent-env.pth").write_text("\n".join(lines) + "\n")
    return python


def test_pip_install_mid_session_is_noticed_as_change_and_drift(repo: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    old, new = make_wheel(wheels, "tinydep", "1.0"), make_wheel(wheels, "tinydep", "2.0")
    python = child_venv(tmp_path / "venv")
    pip = "import sys, subprocess\nsubprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', {w!r}], check=True)"
    results = run_shell(repo, [
        {"cell": pip.format(w=str(old))},
        {"cell": "%load_ext nbrepro"},
        {"cell": "import tinydep\ntinydep.__version__"},
        {"cell": pip.format(w=str(new))},
        {"cell": "x = 1"},
        {"cell": "y = 2"},
    ], python=str(python))
    assert all(r["success"] for r in results), results
    env = [r["env"] for r in read_records(repo / ".nbrepro")]
    assert env[1]["imported"]["tinydep"] == "1.0" and env[1]["drift"] == []
    # the install ran in record 2; the next record lists what changed, and the drift stays
    changed = env[2].get("changed", []) + env[3].get("changed", [])
    assert {"name": "tinydep", "before": "1.0", "after": "2.0"} in changed
    assert env[3]["drift"] == [{"name": "tinydep", "imported": "1.0", "installed": "2.0"}]
    assert "changed" not in env[4] and env[4]["drift"] == env[3]["drift"]
