"""The file-hash cache: one stat for an unchanged file, across sessions through the store."""

from __future__ import annotations

import os
from pathlib import Path

from blake3 import blake3

from nbrepro.capture.files import FileHashes, hash_file
from nbrepro.store import SQLiteStore


def old_file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    os.utime(path, (1_700_000_000, 1_700_000_000))  # well past the racy window
    return path


def test_hash_file_is_blake3_of_the_content(tmp_path: Path) -> None:
    for size in (0, 1, 70_000, 3 * 2**20 + 5):
        data = os.urandom(size)
        f = tmp_path / f"f{size}"
        f.write_bytes(data)
        assert hash_file(str(f)) == "blake3:" + blake3(data).hexdigest()


def test_unchanged_file_is_hashed_once_and_changes_are_seen(tmp_path: Path) -> None:
    f = old_file(tmp_path / "data.bin", b"x" * 4096)
    hashes = FileHashes()
    first = hashes.get(str(f))
    assert first == ("blake3:" + blake3(b"x" * 4096).hexdigest(), 4096)
    assert hashes.hashed_bytes == 4096
    assert hashes.get(str(f)) == first and hashes.hashed_bytes == 4096  # a hit
    f.write_bytes(b"y" * 4096)  # same size, rewritten in place: only the mtime tells
    os.utime(f, (1_700_000_100, 1_700_000_100))
    assert hashes.get(str(f))[0] == "blake3:" + blake3(b"y" * 4096).hexdigest()
    assert hashes.hashed_bytes == 8192


def test_a_fresh_file_is_not_cached(tmp_path: Path) -> None:
    f = tmp_path / "new.txt"
    f.write_text("just written")
    hashes = FileHashes()
    hashes.get(str(f))
    hashes.get(str(f))
    assert hashes.hashed_bytes == 2 * len("just written")
    assert hashes.take_new() == []


def test_the_cache_lives_in_the_store_across_sessions(tmp_path: Path) -> None:
    f = old_file(tmp_path / "big.bin", os.urandom(100_000))
    store = SQLiteStore(tmp_path / "store")
    session1 = FileHashes(store.cached_hash)
    digest, _ = session1.get(str(f))
    store.append([], None, session1.take_new())
    store.close()

    store = SQLiteStore(tmp_path / "store")
    session2 = FileHashes(store.cached_hash)
    assert session2.get(str(f)) == (digest, 100_000)
    assert session2.hashed_bytes == 0
    store.close()


def test_folders_and_missing_files_are_not_data(tmp_path: Path) -> None:
    hashes = FileHashes()
    assert hashes.get(str(tmp_path)) is None
    assert hashes.get(str(tmp_path / "missing")) is None
