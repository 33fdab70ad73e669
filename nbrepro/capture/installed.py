"""The installed set in one pass: every distribution's name, version, top-level modules and
requirements, as ``importlib.metadata`` gives them, read at a fraction of its cost.

``importlib.metadata`` parses a distribution's whole METADATA file for each of ``name``,
``version`` and ``requires`` (the long description included: tens of kB for numpy or pandas),
and ``packages_distributions()`` parses it once more and builds a ``Path`` for every line of
RECORD where a distribution has no ``top_level.txt``. In a data-science venv of 150
distributions that is about 0.6 s, all of it before the session's first record can be
written (a kernel killed in that time lost its first cells). Here each METADATA's header
block alone is parsed (the body after the first blank line is the description, by the core
metadata spec), once, and RECORD is split as text. ``tests/unit/test_installed.py`` checks
the result against ``importlib.metadata`` on the test environment.

The same pass reads each distribution's PEP 610 ``direct_url.json`` (where it was installed
from, when not from an index: a folder, a VCS, an archive URL). The digest of a
distribution's installed files (``files_digest``: a stat per file) is taken at the first
``Installed.files_digest`` call for it, once per scan: the worker asks for the distributions
a cell imported, so the session's first records never wait for every file of the installed
set to be statted (0.3 s for this test environment's 21,000 files).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import json
import os
import re
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import Any

from ..record.hashing import hash_text

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Installed:
    versions: dict[str, str] = field(default_factory=dict)  # name -> version; the first on sys.path wins
    by_module: dict[str, list[str]] = field(default_factory=dict)  # top-level module -> distribution names
    requires: dict[str, list[str]] = field(default_factory=dict)  # name -> names it requires (no extras)
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> its direct_url.json (PEP 610)
    dists: dict[str, md.Distribution] = field(default_factory=dict)  # name -> the one whose version is kept
    _digests: dict[str, str | None] = field(default_factory=dict, repr=False)

    def files_digest(self, name: str) -> str | None:
        """``files_digest`` of the distribution ``name`` (None: no RECORD on disk), taken once."""
        if name not in self._digests:
            dist = self.dists.get(name)
            # Not isinstance(dist, md.PathDistribution): a process that imported
            # importlib.metadata anew (a test purging sys.modules) has another class of that name.
            record = dist.read_text("RECORD") if dist is not None else None
            self._digests[name] = files_digest(str(dist.locate_file("")), record) if dist is not None and record else None
        return self._digests[name]


def scan(path: list[str] | None = None) -> Installed:
    """The distributions on ``path`` (default: ``sys.path``)."""
    out = Installed()
    parser = HeaderParser()
    for dist in md.distributions() if path is None else md.distributions(path=path):
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        headers = parser.parsestr(text.split("\n\n", 1)[0])
        name, version = headers["Name"], headers["Version"]
        if not name:
            continue
        record = dist.read_text("RECORD")
        for module in _top_level(dist, record):
            dists = out.by_module.setdefault(module, [])
            if name not in dists:
                dists.append(name)
        if name in out.versions:
            continue
        out.versions[name] = version or ""
        out.requires[name] = [
            m.group(1) for req in headers.get_all("Requires-Dist") or []
            if "extra ==" not in req.replace("'", '"') and (m := _REQ_NAME.match(req))
        ]
        out.dists[name] = dist
        origin = _direct_url(dist)
        if origin is not None:
            out.origins[name] = origin
    return out


def _direct_url(dist: md.Distribution) -> dict[str, Any] | None:
    try:
        origin = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        return None
    return origin if isinstance(origin, dict) and isinstance(origin.get("url"), str) else None


def files_digest(base: str, record: str) -> str:
    """A digest of a distribution's installed files, as RECORD lists them under ``base``.

    Each file counts by the hash RECORD holds for it, so two installs of one wheel agree
    whenever and wherever they were made. Left out is what differs between two installs of
    the same files: byte code (its header holds the source's mtime), the ``.dist-info``
    folder (INSTALLER, REQUESTED, direct_url.json) and files outside ``base`` (scripts, whose
    first line names the installing Python). A file whose size differs from RECORD's, or
    whose mtime is later than RECORD's own (written after the install: pip writes RECORD
    last), is hashed again, and counts by its hash when that differs; a missing file counts
    as missing. So the cost is one stat per file, and a hash only for files changed since
    the install; an edit that keeps the size and sets the mtime back is not seen.
    """
    rows: list[tuple[str, str, str]] = []
    installed_at: int | None = None
    for row in csv.reader(record.splitlines()):
        if len(row) < 2:
            continue
        path, digest = row[0], row[1]
        if path.endswith(".dist-info/RECORD"):
            installed_at = _mtime(os.path.join(base, path))
        if not digest or path.startswith(("..", "/")) or ".dist-info/" in path or path.endswith((".pyc", ".pyo")):
            continue
        rows.append((path, digest, row[2] if len(row) > 2 else ""))
    lines = []
    for path, digest, size in sorted(rows):
        full = os.path.join(base, path)
        try:
            st = os.stat(full)
        except OSError:
            lines.append(f"{path},missing")
            continue
        if str(st.st_size) != size or installed_at is None or st.st_mtime_ns > installed_at:
            digest = _rehash(full, digest)
        lines.append(f"{path},{digest}")
    return hash_text("\n".join(lines))


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _rehash(path: str, recorded: str) -> str:
    """The file's hash in RECORD's form (``sha256=<urlsafe base64>``, in RECORD's algorithm)."""
    algorithm = recorded.partition("=")[0]
    try:
        h = hashlib.new(algorithm)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (OSError, ValueError):  # unreadable, or an algorithm hashlib lacks
        return "unreadable"
    return f"{algorithm}={base64.urlsafe_b64encode(h.digest()).rstrip(b'=').decode()}"


def _top_level(dist: md.Distribution, record: str | None) -> list[str]:
    """``importlib.metadata.packages_distributions``'s rule: top_level.txt, else the first
    part of each ``.py`` file RECORD lists (a lone module: its name)."""
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return declared
    record = record or dist.read_text("installed-files.txt") or ""
    tops: dict[str, None] = {}
    for row in csv.reader(record.splitlines()):
        path = row[0] if row else ""
        if not path.endswith(".py"):
            continue
        parts = path.split("/")
        tops[parts[0] if len(parts) > 1 else parts[0][:-3]] = None
    return list(tops)
