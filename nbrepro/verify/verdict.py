"""The verify report, typed: what ``nbrepro verify --json`` prints and ``nbrepro.verify()``
returns (a contract for CI, schema ``nbrepro.verify/1`` in ``nbrepro/schema/verify.v1.json``;
tests validate every report they make against it)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Literal, TypedDict

VERIFY_SCHEMA = "nbrepro.verify/1"

Status = Literal["reproduced", "differs", "error", "skipped", "new", "failed", "not-run"]
Verdict = Literal["reproduced", "differs", "failed"]
CauseKind = Literal["code", "data", "package", "parameters", "seed", "order", "hardware", "nondeterminism", "stamp"]


class Cause(TypedDict):
    kind: CauseKind
    detail: str


class _CellVerdict(TypedDict):
    index: int  # position in the notebook, markdown cells counted
    execution_count: int | None  # as saved in the notebook: the [N] a reader sees beside the cell
    cell_id: str | None
    status: Status
    causes: list[Cause]
    diff: str


class CellVerdict(_CellVerdict, total=False):
    reason: str  # why the cell is "failed" (timeout after 1 s, the kernel died) or "not-run"


class Versions(TypedDict):
    name: str
    recorded: str | None
    rerun: str | None


class DataHashes(TypedDict):
    path: str
    recorded: str | None
    rerun: str | None


class Sides(TypedDict):
    recorded: dict[str, Any]
    rerun: dict[str, Any]


class Environment(TypedDict):
    packages: list[Versions]
    data: list[DataHashes]
    git: Sides
    hardware: Sides
    params: Sides


class _Required(TypedDict):
    schema: str
    notebook: str
    verdict: Verdict
    recorded: str  # where the recorded side came from, and how its session was found
    session: dict[str, Any] | None  # SessionMatch.to_dict(), or the stamp's; None: saved outputs only
    cells: list[CellVerdict]
    environment: Environment


class StampCheck(TypedDict):
    state: Literal["intact", "unsigned", "altered"]  # against its seal, and the store when it holds the session
    detail: str  # "stamp altered: cell 3's stamp was edited", "unsigned stamp (…)", …


class RanIn(TypedDict):
    environment: Literal["current", "recorded"]  # this Python's, or a venv of the session's lock (--recorded-env)
    lock: str | None  # the lock's hash, for "recorded"
    detail: str  # "the recorded environment: a venv of session 0f0e2b9d's lock (…) in .nbrepro/envs/…"


class VerifyReport(_Required, total=False):
    failure: str  # why the rerun did not finish, with verdict "failed"
    stamp: StampCheck  # when the notebook carries a stamp
    ran_in: RanIn  # the environment the rerun's kernel ran in


def load_verify_schema() -> dict[str, Any]:
    """The JSON Schema of a verify report, as shipped in ``nbrepro/schema/verify.v1.json``."""
    text = resources.files("nbrepro").joinpath("schema/verify.v1.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
