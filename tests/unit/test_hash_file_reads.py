"""Hashing a file by reads, never a memory map: the hash of a file of any size, across chunk
and block boundaries, is BLAKE3 of its bytes, on the inline path and the overlapped one."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
from blake3 import blake3

from nbrepro.capture import files
from nbrepro.capture.files import FileHashes

BLOCK = files._BLOCK


def around(*sizes: int) -> list[int]:
    return sorted({s + d for s in sizes for d in (-1, 0, 1) if s + d >= 0})


@pytest.fixture(scope="module")
def content() -> bytes:
    return os.urandom(3 * BLOCK + 2)


def test_hash_file_is_blake3_of_the_bytes_at_every_boundary(tmp_path: Path, content: bytes) -> None:
    """Inline in 1 MiB chunks below the threshold, overlapped in 4 MiB blocks from it."""
    chunk, threshold = files._CHUNK, files._THREADED_FROM
    assert threshold % BLOCK == 0  # so the threshold is a block boundary too
    large = content * (threshold // len(content) + 1)
    path = tmp_path / "data.bin"
    for size in around(0, chunk, 2 * chunk, BLOCK, threshold):
        path.write_bytes(large[:size])
        assert files.hash_file(str(path)) == "blake3:" + blake3(large[:size]).hexdigest(), size


@pytest.mark.parametrize("threads", [1, 3])
def test_overlapped_reads_hash_the_blocks_in_file_order(tmp_path: Path, content: bytes, threads: int) -> None:
    """Both blocks are refilled more than once; 1 thread hashes in the caller, 3 on a pool."""
    path = tmp_path / "data.bin"
    for size in around(1, BLOCK, 3 * BLOCK + 1):
        path.write_bytes(content[:size])
        with io.FileIO(path, "r") as fh:
            digest = files._hash_overlapped(fh.fileno(), threads).hexdigest()
        assert digest == blake3(content[:size]).hexdigest(), (threads, size)


def test_a_read_error_reaches_the_caller_and_the_reader_ends(tmp_path: Path) -> None:
    """A directory's fd fails every read with EISDIR: raised to the caller, no thread left."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(IsADirectoryError):
            files._hash_overlapped(fd, 2)
    finally:
        os.close(fd)
    assert not [t for t in threading.enumerate() if t.name == "nbrepro-read"]


def test_a_file_truncated_while_it_is_hashed_gets_no_hash_and_the_process_lives(tmp_path: Path) -> None:
    """Through a memory map this raised SIGBUS and killed the process (the kernel, in a
    notebook); read, the hash stops at the new end and the changed key discards it."""
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(1 << 20) * (2 * files._THREADED_FROM >> 20))  # hashed on the overlapped path
    os.utime(path, (1_700_000_000, 1_700_000_000))
    hashes = FileHashes()
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(hashes.get(str(path))))
    worker.start()
    while not any(t.name == "nbrepro-read" for t in threading.enumerate()):  # the hash has begun
        assert worker.is_alive()
        time.sleep(0)
    os.truncate(path, BLOCK // 2)
    worker.join()
    assert result == [None]
    assert hashes.get(str(path)) == ("blake3:" + blake3(path.read_bytes()).hexdigest(), BLOCK // 2)
