"""File hashes: BLAKE3 over reads (never a memory map), behind a (device, inode, size, mtime) cache.

An unchanged file costs one ``stat`` and a dict lookup; the cache persists in the store, so a
new session does not hash a large dataset again. A file whose mtime is under a second old is
hashed but not cached: a write in the same clock tick could otherwise hide behind its key.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue

from blake3 import blake3

from ..record.hashing import PREFIX

FileKey = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns
_RACY_S = 1.0

# Never hash through mmap: a file truncated by another cell or process while it is mapped
# kills the kernel with SIGBUS. Reads cost a copy from the page cache, so a large file is
# read by one thread into one block while all cores hash the other: the copy runs beside the
# hash instead of before it (docs/performance.md, P3).
_CHUNK = 1 << 20  # a small file's read size
# Large enough that waking the hashing threads is a small part of a block, small enough that
# both blocks stay in cache between the read and the hash (the best of 1 to 16 MiB measured).
_BLOCK = 4 << 20
# Below this one thread is as fast: starting the pool and the reader and zeroing the blocks
# costs about what the overlap saves (64 MiB: 16-18 ms either way; 256 MiB: 57 ms against 40).
_THREADED_FROM = 64 << 20


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def hash_file(path: str) -> str:
    """The ``blake3:`` hash of a file's content."""
    with io.FileIO(path, "r") as fh:  # FileIO: not through the wrapped open, and unbuffered
        if os.fstat(fh.fileno()).st_size < _THREADED_FROM or not hasattr(os, "preadv"):
            hasher = _hash_inline(fh)
        else:
            hasher = _hash_overlapped(fh.fileno(), _cores())
    return PREFIX + hasher.hexdigest()


def _hash_inline(fh: io.FileIO) -> blake3:
    hasher = blake3()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    while n := fh.readinto(buffer):
        hasher.update(view[:n])
    return hasher


def _hash_overlapped(fd: int, threads: int) -> blake3:
    """A reader thread fills one block (``os.preadv`` releases the GIL) while ``threads``
    threads hash the other; blocks are hashed in file order, up to the first short one.

    The hashing threads are a pool of this hasher's own, started by the calling thread, so
    they run at its priority: the recorder's worker lowers its own once it has recorded, and
    a cell that starts while a large file is hashed then wins the cores it contends for.
    (``blake3.AUTO`` would hash on the process-wide pool, started by whichever thread used it
    first, at that thread's priority.)
    """
    hasher = blake3(max_threads=threads) if threads > 1 else blake3()
    blocks = [bytearray(_BLOCK), bytearray(_BLOCK)]
    free: SimpleQueue[int | None] = SimpleQueue()
    filled: SimpleQueue[tuple[int, int] | BaseException] = SimpleQueue()
    for i in range(len(blocks)):
        free.put(i)
    reader = threading.Thread(target=_read_blocks, args=(fd, blocks, free, filled), name="nbrepro-read", daemon=True)
    reader.start()
    try:
        while True:
            done = filled.get()
            if isinstance(done, BaseException):
                raise done
            i, n = done
            hasher.update(memoryview(blocks[i])[:n])
            if n < _BLOCK:
                return hasher
            free.put(i)
    finally:  # the reader ends before the caller closes fd
        free.put(None)
        reader.join()


def _read_blocks(fd: int, blocks: list[bytearray], free: SimpleQueue[int | None], filled: SimpleQueue[tuple[int, int] | BaseException]) -> None:
    """Fill each block handed back through ``free``, in file order, until one comes out short."""
    offset = 0
    try:
        while (i := free.get()) is not None:
            n = _read_at(fd, blocks[i], offset)
            filled.put((i, n))
            if n < len(blocks[i]):
                return
            offset += n
    except BaseException as exc:  # noqa: BLE001 - raised in the hashing thread, which waits on it
        filled.put(exc)


def _read_at(fd: int, buffer: bytearray, offset: int) -> int:
    """Fill ``buffer`` from ``offset``: short only at the end of the file."""
    view = memoryview(buffer)
    n = 0
    while n < len(view) and (got := os.preadv(fd, [view[n:]], offset + n)):
        n += got
    return n


class FileHashes:
    def __init__(self, lookup: Callable[[FileKey], str | None] | None = None) -> None:
        self._lookup = lookup
        self._memory: dict[FileKey, str] = {}
        self._new: list[tuple[FileKey, str]] = []
        self.hashed_bytes = 0

    def set_lookup(self, lookup: Callable[[FileKey], str | None] | None) -> None:
        self._lookup = lookup

    def get(self, path: str) -> tuple[str, int] | None:
        """(hash, size) of a regular file, or None if it is not one (gone, a folder, a pipe)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        digest = self._memory.get(key)
        if digest is None and self._lookup is not None:
            digest = self._lookup(key)
            if digest is not None:
                self._memory[key] = digest
        if digest is None:
            digest = hash_file(path)
            self.hashed_bytes += st.st_size
            if _key(path) != key:  # changed while it was read: the hash is of neither version
                return None
            if time.time() - st.st_mtime_ns / 1e9 >= _RACY_S:
                self._memory[key] = digest
                self._new.append((key, digest))
        return digest, st.st_size

    def take_new(self) -> list[tuple[FileKey, str]]:
        """Hashes computed since the last call, for the store's cache."""
        out, self._new = self._new, []
        return out


def _key(path: str) -> FileKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def folder_tree(folder: str, hashes: FileHashes, skip_dirs: frozenset[str] | set[str] = frozenset()) -> tuple[dict[str, list[list[object]]], int]:
    """A tracked folder's content as one content-addressed part: ``{"files": [[path, size,
    hash], ...]}`` (paths relative to ``folder``, sorted) and the total size. Each file goes
    through the stat cache, so an unchanged folder costs one ``stat`` per file."""
    files: list[list[object]] = []
    total = 0
    for here, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(names):
            full = os.path.join(here, name)
            hashed = hashes.get(full)
            if hashed is None:
                continue
            files.append([os.path.relpath(full, folder).replace(os.sep, "/"), hashed[1], hashed[0]])
            total += hashed[1]
    return {"files": files}, total
