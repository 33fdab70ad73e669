"""``nbrepro gc`` on a store and a repository made by real shells: sessions, blobs and
snapshot refs go together, and ``log --check`` still passes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, read_records, run_shell

pytestmark = pytest.mark.functional


def nbrepro(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbrepro", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/nbrepro/sessions/").split()


@pytest.fixture
def sessions(repo: Path, tmp_path: Path) -> list[str]:
    """Three recorded sessions with a dirty tree (so each keeps a snapshot ref), and one
    session recorded into another store, as verify's reruns are."""
    for n in range(3):
        (repo / "notes.txt").write_text(f"draft {n}\n")  # untracked: a snapshot of its own
        run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": f"print({n})"}])
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "'rerun'"}], env={"NBREPRO_DIR": str(tmp_path / "elsewhere")})
    ids = list(dict.fromkeys(r["session_id"] for r in read_records(repo / ".nbrepro")))
    assert len(ids) == 3 and len(refs(repo)) == 4
    return ids


def test_gc_keep_prunes_sessions_blobs_and_refs_and_the_chain_still_checks(repo: Path, sessions: list[str]) -> None:
    before = read_records(repo / ".nbrepro")
    dry = nbrepro(repo, "gc", "--keep", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith("would prune 2 session(s): 4 record(s), ")
    assert "3 snapshot ref(s) (1 of sessions this store has no records of)" in dry.stdout
    assert dry.stdout.splitlines()[-1] == "nothing changed (--dry-run)"
    assert read_records(repo / ".nbrepro") == before and len(refs(repo)) == 4

    done = nbrepro(repo, "gc", "--keep", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("pruned 2 session(s): 4 record(s), ")
    assert f"session {sessions[0][:8]}  2 record(s), seq 1-2" in done.stdout
    assert refs(repo) == [f"refs/nbrepro/sessions/{sessions[2]}"]
    kept = read_records(repo / ".nbrepro")
    assert kept == before[4:]  # the newest session, untouched
    check = nbrepro(repo, "log", "--check")
    assert check.returncode == 0, check.stdout
    assert check.stdout.splitlines()[0] == "ok: 2 record(s), 1 pruned range(s) in place of 4 record(s), hash chain intact"
    assert nbrepro(repo, "show", kept[0]["run_id"][:8]).returncode == 0
    # the store goes on after it
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "'after'"}])
    assert nbrepro(repo, "log", "--check").returncode == 0
    assert read_records(repo / ".nbrepro")[-1]["seq"] == 8


def test_gc_older_than_keeps_recent_sessions_and_refuses_a_broken_chain(repo: Path, sessions: list[str]) -> None:
    done = nbrepro(repo, "gc", "--older-than", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pruned 0 session(s): 0 record(s), ")  # everything ran today
    assert "1 snapshot ref(s) (1 of sessions this store has no records of)" in done.stdout
    assert len(read_records(repo / ".nbrepro")) == 6 and len(refs(repo)) == 3

    conn = sqlite3.connect(repo / ".nbrepro" / "nbrepro.db", isolation_level=None)
    conn.execute("UPDATE runs SET notebook = 'elsewhere.ipynb' WHERE seq = 2")
    conn.close()
    broken = nbrepro(repo, "gc", "--keep", "1")
    assert broken.returncode == 1 and broken.stdout == ""
    assert broken.stderr.startswith("nbrepro: error: the hash chain of ") and "nothing was pruned" in broken.stderr
    assert len(read_records(repo / ".nbrepro")) == 6 and len(refs(repo)) == 3
    for args in ([], ["--keep", "1", "--older-than", "2"], ["--keep", "-1"]):
        bad = nbrepro(repo, "gc", *args)
        assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1, bad.stderr
