"""The record of one cell run, schema ``nbrepro.run/1`` (a contract: see docs/record.md).

A record is plain JSON. ``CellRun`` is its typed view; ``to_dict``/``from_dict`` convert
without loss. Parts a collector could not capture hold ``{"unavailable": "<reason>"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Any

from .hashing import hash_json

SCHEMA_VERSION = "nbrepro.run/1"

Part = dict[str, Any]


@dataclass
class CellRun:
    run_id: str
    session_id: str
    notebook: Part
    cell: Part
    started_at: str
    duration_s: float
    cpu_s: float
    rss_peak_bytes: int
    status: str
    error: Part | None
    git: Part
    env: Part
    hardware: Part
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
    schema: str = SCHEMA_VERSION
    # Parts other collectors add (data, seeds, outputs, params) ride along untouched.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: parts are plain JSON already, and asdict's deep copy costs
        # more than the whole per-cell budget.
        out = {f.name: getattr(self, f.name) for f in _FIELDS}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellRun:
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra=extra)


_FIELDS = tuple(f for f in fields(CellRun) if f.name != "extra")


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: canonical JSON of everything but ``hash`` itself."""
    return hash_json({k: v for k, v in record.items() if k != "hash"})


def is_unavailable(part: Any) -> bool:
    return isinstance(part, dict) and "unavailable" in part


def load_schema() -> dict[str, Any]:
    """The JSON Schema of a record, as shipped in ``nbrepro/schema/run.v1.json``."""
    text = resources.files("nbrepro").joinpath("schema/run.v1.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
