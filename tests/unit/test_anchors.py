"""Chain-head anchors: written into a real git repository, read back, signed where git is told
to sign, and the store's chain compared with them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git

from nbrepro.capture.refs import ANCHORS
from nbrepro.team.anchors import Anchor, Comparison, GitAnchors, read_git

STORE = "5" * 32
SESSION = "a" * 32


def record(seq: int, digest: str, session: str = SESSION) -> dict[str, object]:
    return {"seq": seq, "hash": digest, "session_id": session}


def anchor(seq: int, digest: str, session: str = SESSION) -> Anchor:
    return Anchor("git anchor X", STORE, session, seq, digest, seq)


def test_anchors_chain_in_git_and_the_newest_is_read_back(repo: Path) -> None:
    writer = GitAnchors(repo, STORE, SESSION)
    first = writer.write(3, "blake3:" + "1" * 64, 3)
    second = writer.write(5, "blake3:" + "2" * 64, 5)
    assert git(repo, "rev-parse", f"{second}^").strip() == first  # each anchor keeps the one before
    assert git(repo, "fsck", "--no-dangling").strip() == ""  # the empty tree is in the repository
    message = git(repo, "log", "-1", "--format=%B", second)
    assert f"Nbrepro-Session: {SESSION}\nNbrepro-Seq: 5\n" in message
    found = read_git(repo)
    assert found == [Anchor(f"git anchor {ANCHORS}{STORE}/{SESSION}", STORE, SESSION, 5, "blake3:" + "2" * 64, 5, "N")]
    assert git(repo, "status", "--porcelain") == ""  # the user's branch, index and files untouched


def test_the_store_against_its_anchors() -> None:
    other = "b" * 32
    items = [record(1, "blake3:h1"), record(2, "blake3:h2", other), record(3, "blake3:h3"),
             {"schema": "nbrepro.pruned/1", "seq": 6, "first_seq": 4, "last_hash": "blake3:h6"}, record(7, "blake3:h7")]
    store = Comparison(items)
    assert store.problem(anchor(3, "blake3:h3")) is None
    assert store.problem(anchor(6, "blake3:h6")) is None  # the marker's last hash stands for the pruned range
    assert store.problem(anchor(5, "blake3:h5")) is None  # inside a pruned range: the chain check covers it
    rewritten = store.problem(anchor(3, "blake3:old"))
    assert rewritten == ("session aaaaaaaa: rewritten: git anchor X says seq 3 has hash blake3:old, the store's"
                         " seq 3 has blake3:h3")
    assert "rewritten: git anchor X says seq 2 is a record of this session, the store's seq 2 is one of session bbbbbbbb" in (
        store.problem(anchor(2, "blake3:h2")) or "")
    truncated = store.problem(anchor(9, "blake3:h9"))
    assert truncated is not None and "truncated: git anchor X says the chain reached seq 9" in truncated
    assert "the store ends at seq 7" in truncated
    assert "bad signature" in (store.problem(Anchor("git anchor X", STORE, SESSION, 3, "blake3:h3", 3, "B")) or "")


def test_anchors_are_signed_with_the_users_ssh_key_where_git_signs_commits(repo: Path, tmp_path: Path) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(key)], check=True)
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"nbrepro@localhost {key.with_suffix('.pub').read_text()}")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true"),
                        ("gpg.ssh.allowedSignersFile", str(signers))):
        git(repo, "config", name, value)
    writer = GitAnchors(repo, STORE, SESSION)
    commit = writer.write(1, "blake3:" + "3" * 64, 1)
    assert writer.sign_failure is None
    assert subprocess.run(["git", "verify-commit", commit], cwd=repo, capture_output=True).returncode == 0
    assert read_git(repo)[0].signature == "G"


def test_an_anchor_whose_signing_fails_is_written_unsigned_and_says_why(repo: Path, tmp_path: Path) -> None:
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(tmp_path / "no-such-key")), ("commit.gpgsign", "true")):
        git(repo, "config", name, value)
    writer = GitAnchors(repo, STORE, SESSION)
    writer.write(1, "blake3:" + "4" * 64, 1)
    assert writer.sign_failure is not None and "commit-tree" in writer.sign_failure
    assert read_git(repo)[0].signature == "N"
