"""The stamp as it lies in a notebook: ``metadata.nbrepro`` and each code cell's
``metadata.nbrepro``, its seal, and reading it back with every type checked.

The seal (``metadata.nbrepro.integrity``) holds a hash of the notebook-level stamp, one of
each cell's stamp (keyed by the cell's index when stamped), the chain position of the last
record the stamp came from (``chain``: its ``seq`` and ``hash`` in the store), and a hash
over those three. It is not a signature: whoever can edit the file can recompute it. It
catches an edit made by hand or by a tool, and with the store at hand the cross-check in
``nbrepro.notebook.recorded`` catches a recomputed one. A stamp from before seals existed
is read as an unsigned stamp.

Cells keep their stamp when they move (it is their metadata), and every cell's stamp
carries the order of runs up to its own run, whose last entry is the cell's index when
stamped: reading maps those indices onto the notebook as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import nbformat

from .._errors import NotebookError
from ..record.hashing import hash_json
from .facts import STAMP_SCHEMA, CellFacts, SessionFacts

StampState = Literal["intact", "unsigned", "altered"]
Finding = tuple[int | None, str]  # (the cell index now, or None for the whole stamp; what was altered)


class MalformedStamp(NotebookError):
    """A stamp whose values have the wrong types, or that names cells it does not have."""

    def __init__(self, notebook: str, detail: str) -> None:
        super().__init__(f"{notebook}: its stamp is malformed ({detail}): stamp it again, or remove metadata.nbrepro")
        self.detail = detail


@dataclass
class Stamp:
    facts: SessionFacts  # placed on the notebook's cells as they are now
    signed: bool
    chain: dict[str, Any] | None = None  # {"seq", "hash"} of the last record it came from
    findings: list[Finding] = field(default_factory=list)

    @property
    def state(self) -> StampState:
        if self.findings:
            return "altered"
        return "intact" if self.signed else "unsigned"


def seal(top: Mapping[str, Any], cells: Mapping[int, Mapping[str, Any]], chain: dict[str, Any] | None) -> dict[str, Any]:
    """The ``integrity`` entry for a stamp of ``top`` (without it) and ``cells`` (index -> entry)."""
    parts = {"chain": chain, "top": hash_json(top), "cells": {str(i): hash_json(entry) for i, entry in cells.items()}}
    return {**parts, "hash": hash_json(parts)}


def read_stamp(nb: nbformat.NotebookNode, notebook: str) -> Stamp | None:
    """The notebook's stamp (None: it has none); a ``MalformedStamp`` (exit 2) when a value
    has the wrong type, or an unsigned stamp names a cell run that no cell's stamp holds."""
    top = (nb.get("metadata") or {}).get("nbrepro")
    if not isinstance(top, Mapping) or top.get("schema") != STAMP_SCHEMA:
        return None
    try:
        _check_top(top)
        entries = {i: _check_cell(i, c.get("metadata", {}).get("nbrepro")) for i, c in enumerate(nb.cells)
                   if c.get("cell_type") == "code" and c.get("metadata", {}).get("nbrepro") is not None}
        integrity = _check_integrity(top.get("integrity"))
    except ValueError as exc:
        raise MalformedStamp(notebook, str(exc)) from None
    # index when stamped -> index now; a copy of a stamped cell (pasted with its metadata) is new
    now: dict[int, int] = {}
    for index, entry in entries.items():
        now.setdefault(entry["order"][-1], index)
    stamp = Stamp(_facts(top, entries, now), signed=integrity is not None)
    if integrity is not None:
        stamp.chain = integrity["chain"]
        stamp.findings = _altered(top, entries, now, integrity)
    else:
        missing = [i for i in top.get("order") or [] if i not in now]
        if missing:
            raise MalformedStamp(notebook, f"it names a run of cell {missing[0]}, and no cell carries that cell's stamp")
    return stamp


def _facts(top: Mapping[str, Any], entries: dict[int, Mapping[str, Any]], now: dict[int, int]) -> SessionFacts:
    facts = SessionFacts(
        source="stamp",
        session_id=top.get("session_id"),
        order=[now[i] for i in top.get("order") or [] if i in now],
        params=dict(top.get("params") or {}),
        git=dict(top.get("git") or {}),
        hardware=dict(top.get("hardware") or {}),
        pythonhashseed=top.get("pythonhashseed"),
        match=dict(top.get("match") or {}),
        env=dict(top.get("env") or {}),
    )
    for index, entry in entries.items():
        if now.get(entry["order"][-1]) != index:
            continue  # a copy: its original holds the stamp
        known = {k: entry[k] for k in CellFacts.__dataclass_fields__ if k in entry and k not in ("index", "outputs", "order")}
        facts.cells[index] = CellFacts(index=index, order=[now[i] for i in entry["order"] if i in now], **known)
    return facts


def _altered(
    top: Mapping[str, Any], entries: dict[int, Mapping[str, Any]], now: dict[int, int], integrity: dict[str, Any]
) -> list[Finding]:
    """What no longer matches the seal."""
    found: list[Finding] = []
    parts = {k: integrity[k] for k in ("chain", "top", "cells")}
    if hash_json(parts) != integrity["hash"]:
        found.append((None, "its seal was edited"))
    if hash_json({k: v for k, v in top.items() if k != "integrity"}) != integrity["top"]:
        found.append((None, "the notebook-level stamp was edited (session, order of runs, parameters, git, hardware, environment)"))
    sealed: dict[str, str] = integrity["cells"]
    for index, entry in entries.items():
        if sealed.get(str(entry["order"][-1])) != hash_json(entry):
            found.append((index, f"cell {index}'s stamp was edited"))
    for key in sorted(set(sealed) - {str(i) for i in now}, key=lambda k: (len(k), k)):
        found.append((None, f"the stamp of cell {key} (its index when stamped) was removed, or its cell deleted"))
    return found


# -- types: every value the readers of a stamp rely on ---------------------------------------


def _check_top(top: Mapping[str, Any]) -> None:
    for key, (valid, what) in _TOP.items():
        value = top.get(key)
        if value is not None and not valid(value):
            raise ValueError(f"metadata.nbrepro.{key} is not {what}")


def _check_cell(index: int, entry: Any) -> Mapping[str, Any]:
    where = f"cell {index}'s metadata.nbrepro"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} is not an object")
    if "order" not in entry:
        raise ValueError(f"{where} has no order")
    for key, (valid, what) in _CELL.items():
        if key in entry and not (valid(entry[key]) or (entry[key] is None and key in _CELL_NULLABLE)):
            raise ValueError(f"{where}.{key} is not {what}")
    return entry


def _check_integrity(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    where = "metadata.nbrepro.integrity"
    if not isinstance(value, dict) or not isinstance(value.get("hash"), str) or not isinstance(value.get("top"), str):
        raise ValueError(f"{where} is not a seal (hash, top, cells, chain)")
    cells = value.get("cells")
    if not isinstance(cells, dict) or not all(isinstance(h, str) for h in cells.values()):
        raise ValueError(f"{where}.cells is not an object of hashes")
    chain = value.get("chain")
    if "chain" not in value or (chain is not None and not (
        isinstance(chain, dict) and _is_index(chain.get("seq")) and isinstance(chain.get("hash"), str)
    )):
        raise ValueError(f"{where}.chain is not a chain position (seq, hash)")
    return value


def _data_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("mode"), str)
        and (isinstance(entry.get("hash"), str) or (entry.get("hash") is None and entry["mode"] != "r"))
    )


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _indices(value: Any) -> bool:
    return isinstance(value, list) and all(_is_index(i) for i in value)


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _env(value: Any) -> bool:
    """The session's environment (``facts.session_env``): what ``nbrepro lock`` reads."""
    return isinstance(value, dict) and all((
        all(isinstance(value.get(k, ""), str) for k in ("python", "implementation", "platform")),
        _strings(value.get("markers", {})), _strings(value.get("pins", {})),
        isinstance(value.get("imported", []), list) and all(isinstance(n, str) for n in value.get("imported", [])),
        isinstance(value.get("origins", {}), dict) and all(isinstance(o, dict) for o in value.get("origins", {}).values()),
    ))


def _is(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kind)


_TOP: dict[str, tuple[Callable[[Any], bool], str]] = {
    "session_id": (_is(str), "a string"),
    "order": (_indices, "a list of cell indices"),
    "params": (_is(dict), "an object"),
    "git": (_is(dict), "an object"),
    "hardware": (_is(dict), "an object"),
    "match": (_is(dict), "an object"),
    "pythonhashseed": (_is(str), "a string"),
    "env": (_env, "an environment (python, pins, origins)"),
}
_CELL: dict[str, tuple[Callable[[Any], bool], str]] = {
    "source_hash": (_is(str), "a string"),
    "status": (_is(str), "a string"),
    "run_id": (_is(str), "a string"),
    "outputs_hash": (_is(str), "a string"),
    "data": (lambda v: isinstance(v, list) and all(_data_entry(d) for d in v), "a list of data entries (path, mode, hash)"),
    "seeds_set": (_is(dict), "an object"),
    "unseeded": (lambda v: isinstance(v, list) and all(isinstance(u, str) for u in v), "a list of strings"),
    "imported": (_strings, "an object of versions"),
    "imported_here": (_strings, "an object of versions"),
    "files": (_strings, "an object of hashes"),
    "local_modules": (_strings, "an object of paths"),
    "snapshot": (_is(str), "a string"),
    "order": (lambda v: _indices(v) and bool(v), "a non-empty list of cell indices"),
    "params": (_is(dict), "an object"),
}
_CELL_NULLABLE = frozenset({"source_hash", "run_id", "outputs_hash", "imported_here", "snapshot"})
