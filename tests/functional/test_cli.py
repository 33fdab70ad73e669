"""``nbrepro log`` and ``nbrepro show`` on a store made by a real shell."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_records, run_shell

pytestmark = pytest.mark.functional


def nbrepro(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbrepro", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def recorded(repo: Path) -> Path:
    import nbformat

    cells = ["%load_ext nbrepro", "a = 1", "b = a + 1", "b"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), repo / "analysis.ipynb")
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "a = 1"}, {"cell": "b = a + 1"}, {"cell": "b"}],
              env={"JPY_SESSION_NAME": str(repo / "analysis.ipynb")})
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "'other'"}],
              env={"JPY_SESSION_NAME": str(repo / "other.ipynb")})
    return repo


def test_log_json_is_all_records_oldest_first(recorded: Path) -> None:
    proc = nbrepro(recorded, "log", "--json")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert records == read_records(recorded / ".nbrepro")
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    only = json.loads(nbrepro(recorded, "log", "analysis.ipynb", "--json").stdout)
    assert [r["cell"]["source"] for r in only] == ["%load_ext nbrepro", "a = 1", "b = a + 1", "b"]
    # from a subfolder, the notebook path is taken relative to where the user stands
    (recorded / "sub").mkdir()
    assert len(json.loads(nbrepro(recorded / "sub", "log", "../analysis.ipynb", "--json").stdout)) == 4


def test_log_table_lists_runs(recorded: Path) -> None:
    proc = nbrepro(recorded, "log")
    assert proc.returncode == 0
    assert "analysis.ipynb" in proc.stdout and "b = a + 1" in proc.stdout and "other.ipynb" in proc.stdout


def test_show_expands_env_and_hardware(recorded: Path) -> None:
    run_id = read_records(recorded / ".nbrepro")[2]["run_id"]
    proc = nbrepro(recorded, "show", run_id[:8], "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["run_id"] == run_id
    assert "ipython" in {k.lower() for k in record["env"]["installed"]}
    assert record["hardware"]["cores"] >= 1 and "physical_cores" in record["hardware"]
    text = nbrepro(recorded, "show", run_id)
    assert text.returncode == 0 and "b = a + 1" in text.stdout


@pytest.mark.parametrize("edit", ["edit", "delete", "reorder", "delete_last", "blob"])
def test_log_check_finds_every_kind_of_tampering(recorded: Path, edit: str) -> None:
    ok = nbrepro(recorded, "log", "--check")
    assert ok.returncode == 0 and "6 record(s)" in ok.stdout
    db = sqlite3.connect(recorded / ".nbrepro" / "nbrepro.db")
    if edit == "edit":
        row = db.execute("SELECT record FROM runs WHERE seq = 3").fetchone()[0]
        db.execute("UPDATE runs SET record = ? WHERE seq = 3", (row.replace("b = a + 1", "b = a + 2"),))
    elif edit == "delete":
        db.execute("DELETE FROM runs WHERE seq = 2")
    elif edit == "reorder":
        db.execute("UPDATE runs SET seq = 100 WHERE seq = 2")
        db.execute("UPDATE runs SET seq = 2 WHERE seq = 3")
        db.execute("UPDATE runs SET seq = 3 WHERE seq = 100")
    elif edit == "delete_last":
        db.execute("DELETE FROM runs WHERE seq = 6")
    else:
        blob_id, body = db.execute("SELECT id, body FROM blobs WHERE kind = 'hardware'").fetchone()
        db.execute("UPDATE blobs SET body = ? WHERE id = ?", (body.replace('"cores":', '"cores":1'), blob_id))
    db.commit()
    db.close()
    broken = nbrepro(recorded, "log", "--check")
    assert broken.returncode == 1
    assert "broken" in broken.stdout


@pytest.mark.parametrize("args", [
    ["show", "ffffffff"],
    ["show", "ab"],
    ["log", "missing.ipynb"],
    ["log", "--no-such-flag"],
    ["nosuchcommand"],
])
def test_bad_input_is_one_line_exit_2(recorded: Path, args: list[str]) -> None:
    proc = nbrepro(recorded, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbrepro: error: "), proc.stderr
    assert proc.stdout == ""


def test_no_store_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    proc = nbrepro(tmp_path, "log")
    assert proc.returncode == 2 and proc.stderr.startswith("nbrepro: error: no nbrepro store")
    assert not (tmp_path / ".nbrepro").exists()
    directory = nbrepro(tmp_path, "log", str(tmp_path))
    assert directory.returncode == 2 and "is a directory" in directory.stderr


STORY = [
    "%load_ext nbrepro",
    "n = 3",
    "import random\nwith open('data/in.csv') as f:\n    rows = f.read().split()\n"
    "with open('data/out.csv', 'w') as f:\n    f.write(str(random.random()))\nprint(rows[n - 1])\nlen(rows)",
    "d, b = {'col': 7}, 'col'; d[b]",
]


@pytest.fixture
def story(repo: Path) -> Path:
    """A notebook with a markdown cell first and a parameters cell, whose cells read a file,
    write one, draw unseeded and show outputs; run in a real shell under its path."""
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Story"), *(v4.new_code_cell(c) for c in STORY)])
    nb.cells[2].metadata["tags"] = ["parameters"]
    nbformat.write(nb, repo / "story.ipynb")
    (repo / "data").mkdir()
    (repo / "data" / "in.csv").write_text("x\n1\n2\n")
    run_shell(repo, [{"cell": c} for c in STORY], env={"JPY_SESSION_NAME": str(repo / "story.ipynb")})
    return repo


def unpadded(text: str) -> list[str]:
    lines = text.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    return lines


def test_show_reads_every_part_of_a_record_in_words(story: Path) -> None:
    records = read_records(story / ".nbrepro")
    rec = records[2]
    proc = nbrepro(story, "show", rec["run_id"][:8])
    assert proc.returncode == 0, proc.stderr
    lines = unpadded(proc.stdout)
    text = proc.stdout
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert titles == [f"run {rec['run_id']}", "code", "git", "environment", "data", "seeds", "outputs", "hardware", "parameters"]
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines if line.startswith("  ") and line.strip()]
    rows = {c[0]: " ".join(c[1:]) for c in cells}
    assert rows["cell"] == "[3] #3"  # the execution count, and the position counting the markdown cell
    assert rows["cell id"] == "none (the frontend sent none)"
    assert rows["notebook"] == "story.ipynb (named by JPY_SESSION_NAME)"
    assert rows["commit"] == f"{rec['git']['commit'][:12]} on main"
    by_path = {e["path"]: e for e in rec["data"]}
    assert rows["read"] == f"data/in.csv 6 bytes {by_path['data/in.csv']['hash'][:19]}…"
    assert rows["wrote"].startswith(f"data/out.csv {by_path['data/out.csv']['size']} bytes {by_path['data/out.csv']['hash'][:19]}…")
    assert rows["unseeded"] == "drew from random without a seed"
    assert re.fullmatch(r"blake3:[0-9a-f]{12}… -> blake3:[0-9a-f]{12}…", rows["random state"])
    assert ["1", "execute_result", "text/plain", "3"] in cells, text
    assert any(c[1:3] == ["stream stdout", "text/plain"] and c[3].startswith("2") for c in cells), text
    assert rows["python"].startswith(rec["env"]["python"]) and "distributions (--json lists them)" in rows["installed"]
    assert rows["cpu"].startswith(rec["hardware"]["cpu"])
    assert rows["none"].startswith("not a parameters cell")
    # rounded times, whole words for the unknown, no reprs, no full hashes
    took = r"(\d+ ms|\d+\.\d\d s|\d+ min \d+ s)"
    assert re.fullmatch(rf"{took} wall, {took} CPU, peak memory \d+(\.\d)? [kMG]B", rows["time"]), rows["time"]
    for bad in ("None", "{", "id -", "index"):
        assert bad not in text, bad
    assert not any(len(word) > 40 and word.startswith("blake3:") for word in text.split())

    params = nbrepro(story, "show", records[1]["run_id"])
    assert params.returncode == 0 and "\nparameters\n  n  3\n" in params.stdout
    assert "[2] #2" in params.stdout and "none in this cell" in params.stdout


def test_log_labels_cells_like_verify_and_keeps_sources_as_text(story: Path) -> None:
    proc = nbrepro(story, "log", "story.ipynb")
    assert proc.returncode == 0, proc.stderr
    lines = unpadded(proc.stdout)
    table = lines[lines.index(next(line for line in lines if line.startswith("seq"))):]
    assert [line.split()[5:7] for line in table[1:]] == [["[1]", "#1"], ["[2]", "#2"], ["[3]", "#3"], ["[4]", "#4"]]
    assert table[-1].endswith("d, b = {'col': 7}, 'col'; d[b]")  # rich would read [b] as bold: a source is not markup
