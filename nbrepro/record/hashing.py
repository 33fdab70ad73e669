"""Content hashes written as ``"blake3:<hex>"`` and the canonical JSON they are taken over."""

from __future__ import annotations

import json
from typing import Any

from blake3 import blake3

PREFIX = "blake3:"


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same object always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_bytes(data: bytes) -> str:
    return PREFIX + blake3(data).hexdigest()


def hash_text(text: str) -> str:
    return hash_bytes(text.encode("utf-8", "surrogatepass"))


def hash_json(obj: Any) -> str:
    return hash_text(canonical_json(obj))
