"""File hashes: BLAKE3 on all cores over chunked reads, behind a (device, inode, size, mtime) cache.

An unchanged file costs one ``stat`` and a dict lookup; the cache persists in the store, so a
new session does not hash a large dataset again. A file whose mtime is under a second old is
hashed but not cached: a write in the same clock tick could otherwise hide behind its key.
"""

from __future__ import annotations

import io
import os
import stat
import time
from collections.abc import Callable

from blake3 import blake3

from ..record.hashing import PREFIX

FileKey = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns
_RACY_S = 1.0


# Read in chunks that stay in cache while all cores hash them. Never through mmap: a file
# truncated by another cell or process while it is mapped kills the kernel with SIGBUS.
_CHUNK = 1 << 20


def hash_file(path: str) -> str:
    """The ``blake3:`` hash of a file's content, read in chunks and hashed with all cores."""
    hasher = blake3(max_threads=blake3.AUTO)
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with io.FileIO(path, "r") as fh:  # FileIO: not through the wrapped open, and unbuffered
        while n := fh.readinto(buffer):
            hasher.update(view[:n])
    return PREFIX + hasher.hexdigest()


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
