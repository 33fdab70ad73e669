"""The recorder anchors each session's chain head in git; ``nbrepro log --check`` then finds a
store rewritten with every hash recomputed, or restored from an older copy, which the chain
alone cannot; ``nbrepro gc`` keeps the anchors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import git, read_records, run_shell
from inprocess import nbrepro_main
from tampering import rewrite_store

pytestmark = pytest.mark.functional


def session(repo: Path, *cells: str) -> None:
    run_shell(repo, [{"cell": "%load_ext nbrepro"}, *({"cell": c} for c in cells), {"flush": True}, {"unload": True}])


def test_log_check_compares_the_store_with_its_git_anchors(repo: Path, tmp_path: Path) -> None:
    store = repo / ".nbrepro"
    session(repo, "x = 1", "print(x)")
    older = tmp_path / "older-copy"
    shutil.copytree(store, older)
    session(repo, "y = 2")
    first, second = dict.fromkeys(r["session_id"] for r in read_records(store))
    anchors = git(repo, "for-each-ref", "--format=%(refname)", "refs/nbrepro/anchors/").split()
    assert sorted(a.rsplit("/", 1)[1] for a in anchors) == sorted([first, second])
    code, out, err = nbrepro_main(repo, "log", "--check")
    assert code == 0 and "anchors hold: 2 git anchor(s)" in out, (out, err)

    # gc prunes the first session; its anchor stays, and is still met by the pruned range's marker
    code, out, err = nbrepro_main(repo, "gc", "--keep", "1")
    assert code == 0, err
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/nbrepro/anchors/").split() == anchors
    code, out, err = nbrepro_main(repo, "log", "--check")
    assert code == 0 and "anchors hold: 2 git anchor(s)" in out, (out, err)

    # every hash recomputed after an edit: the chain is whole, the anchors say otherwise
    shutil.rmtree(store)
    shutil.copytree(older, store)
    rewrite_store(store, lambda rec: rec["cell"].update(source=rec["cell"]["source"].replace("x = 1", "x = 10")))
    code, out, _err = nbrepro_main(repo, "log", "--check")
    rewritten, truncated = sorted(out.splitlines(), key=lambda line: second[:8] in line)  # one line per anchor
    assert code == 1 and rewritten.startswith(f"broken: session {first[:8]}: rewritten: git anchor refs/nbrepro/anchors/"), out
    # and the second session's records are gone from this older copy: truncated, by name
    assert truncated.startswith(f"broken: session {second[:8]}: truncated: git anchor") and "the store ends at seq 3" in truncated
