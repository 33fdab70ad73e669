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
"""

from __future__ import annotations

import csv
import importlib.metadata as md
import re
from dataclasses import dataclass, field
from email.parser import HeaderParser

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Installed:
    versions: dict[str, str] = field(default_factory=dict)  # name -> version; the first on sys.path wins
    by_module: dict[str, list[str]] = field(default_factory=dict)  # top-level module -> distribution names
    requires: dict[str, list[str]] = field(default_factory=dict)  # name -> names it requires (no extras)


def scan() -> Installed:
    out = Installed()
    parser = HeaderParser()
    for dist in md.distributions():
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        headers = parser.parsestr(text.split("\n\n", 1)[0])
        name, version = headers["Name"], headers["Version"]
        if not name:
            continue
        for module in _top_level(dist):
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
    return out


def _top_level(dist: md.Distribution) -> list[str]:
    """``importlib.metadata.packages_distributions``'s rule: top_level.txt, else the first
    part of each ``.py`` file RECORD lists (a lone module: its name)."""
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return declared
    record = dist.read_text("RECORD") or dist.read_text("installed-files.txt") or ""
    tops: dict[str, None] = {}
    for row in csv.reader(record.splitlines()):
        path = row[0] if row else ""
        if not path.endswith(".py"):
            continue
        parts = path.split("/")
        tops[parts[0] if len(parts) > 1 else parts[0][:-3]] = None
    return list(tops)
