"""Verify's ``code`` cause for a project module: git says whether it changed between snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git

from nbrepro.verify.causes import _git_changed


def test_a_module_changed_between_two_commits(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    (repo / "helpers.py").write_text("def double(x):\n    return x + x\n")
    git(repo, "commit", "-qam", "edit")
    after = git(repo, "rev-parse", "HEAD").strip()
    assert _git_changed(repo, "helpers.py", before, after) is True
    assert _git_changed(repo, "tracked.txt", before, after) is False


def test_cannot_tell_without_both_snapshots_or_with_unknown_ones(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    assert _git_changed(repo, "helpers.py", None, head) is None
    assert _git_changed(repo, "helpers.py", head, "") is None
    assert _git_changed(repo, "helpers.py", head, "0" * 40) is None  # git exits 128


def test_cannot_tell_when_git_is_missing(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    assert _git_changed(repo, "helpers.py", head, head) is None
