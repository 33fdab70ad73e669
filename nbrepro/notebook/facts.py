"""What a session knew about each cell of a notebook, from the store, from a stamp, or from
the saved outputs alone: the one shape that verify compares and `nbrepro stamp` writes.

Records are placed in the notebook as it is now by the one cell matcher,
``nbrepro.record.match.CellMatcher``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import nbformat
from packaging.utils import canonicalize_name

from ..record import outputs as canon
from ..record.hashing import hash_text
from ..record.match import CellMatcher
from .params import assignments, is_parameters_cell

STAMP_SCHEMA = "nbrepro.stamp/1"

GetBlob = Callable[[str], dict[str, Any] | None]  # Store.get_blob


@dataclass
class CellFacts:
    index: int
    source_hash: str | None = None
    status: str = "ok"
    run_id: str | None = None
    outputs_hash: str | None = None
    outputs: list[dict[str, Any]] | None = None  # canonical outputs, when the store has them
    data: list[dict[str, Any]] = field(default_factory=list)
    seeds_set: dict[str, Any] = field(default_factory=dict)
    unseeded: list[str] = field(default_factory=list)
    rng_start: dict[str, dict[str, Any]] = field(default_factory=dict)  # global RNG states at the start (rng blobs)
    imported: dict[str, str] = field(default_factory=dict)  # every distribution loaded by then
    imported_here: dict[str, str] | None = None  # those first loaded by this cell's run (None: not known)
    files: dict[str, str] = field(default_factory=dict)  # imported distribution -> its installed files digest
    local_modules: dict[str, str] = field(default_factory=dict)
    snapshot: str | None = None
    order: list[int] = field(default_factory=list)  # notebook indices run up to this cell's run
    params: dict[str, Any] = field(default_factory=dict)  # set when this is a parameters cell


@dataclass
class SessionFacts:
    source: str  # "store", "stamp", "outputs" (saved outputs only), or "rerun"
    session_id: str | None = None
    cells: dict[int, CellFacts] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    pythonhashseed: str | None = None
    match: dict[str, Any] = field(default_factory=dict)  # how the session was found (SessionMatch.to_dict)
    env: dict[str, Any] = field(default_factory=dict)  # what a lock of the session needs (session_env)

    # -- stamp ---------------------------------------------------------------------------
    def to_stamp(self) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
        """(notebook metadata, per-cell metadata) for ``metadata.nbrepro``; outputs stay out:
        a stamped notebook carries its outputs itself."""
        top = {
            "schema": STAMP_SCHEMA,
            "session_id": self.session_id,
            "order": self.order,
            "params": self.params,
            "git": self.git,
            "hardware": self.hardware,
            "pythonhashseed": self.pythonhashseed,
            "match": self.match,
            "env": self.env,
        }
        cells = {}
        for index, cell in self.cells.items():
            entry = {k: v for k, v in asdict(cell).items() if k not in ("outputs", "index", "rng_start")}
            cells[index] = entry
        return top, cells


def saved_outputs_only(nb: nbformat.NotebookNode) -> SessionFacts:
    """The last resort: the notebook's saved outputs, with no provenance to name causes."""
    facts = SessionFacts(source="outputs")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            facts.cells[index] = CellFacts(index=index, source_hash=hash_text(cell.source))
    return facts


def from_records(
    records: list[dict[str, Any]], nb: nbformat.NotebookNode, get_blob: GetBlob, source: str = "store",
    positions: list[int | None] | None = None, with_outputs: bool = True,
) -> SessionFacts:
    """Facts of one session's records (oldest first), matched to the cells of ``nb``.

    ``positions`` gives each record's notebook index directly (a rerun knows which cell it
    ran); otherwise records are matched by cell id, source hash, then recorded position.
    ``with_outputs=False`` leaves the output blobs unread (a stamp does not carry them).
    """
    first = records[0] if records else {}
    facts = SessionFacts(
        source=source,
        session_id=first.get("session_id"),
        hardware=_hardware(first.get("hardware"), get_blob),
        pythonhashseed=_part(first, "seeds").get("pythonhashseed"),
        env=session_env(records, get_blob),
    )
    matcher = CellMatcher(nb.cells)
    loaded: dict[str, str] = {}  # distributions loaded by the session so far
    if positions is None:
        positions = matcher.place(rec.get("cell") or {} for rec in records)
    for rec, index in zip(records, positions, strict=True):
        cell = rec.get("cell") or {}
        if index is None:  # a cell the notebook does not have (papermill's injected one)
            facts.params.update(rec.get("params") or {})
            continue
        if "params" not in rec and is_parameters_cell("", matcher.tags.get(index, [])):
            # Recorded where the kernel could not see the notebook's tags (no path: nbclient,
            # a script): the notebook tags this cell as its parameters, and the record holds
            # the source that ran.
            rec = {**rec, "params": assignments(cell.get("source") or "")}
        facts.order.append(index)
        git, env, seeds, out = (_part(rec, key) for key in ("git", "env", "seeds", "outputs"))
        imported = dict(env.get("imported") or {})
        here = {name: v for name, v in imported.items() if loaded.get(name) != v}
        loaded.update(imported)
        if not facts.git and git.get("commit") is not None:
            facts.git = {k: git.get(k) for k in ("commit", "branch", "dirty", "snapshot")}
        facts.params.update(rec.get("params") or {})
        facts.cells[index] = CellFacts(
            index=index,
            source_hash=cell.get("source_hash"),
            status=rec.get("status", "ok"),
            run_id=rec.get("run_id"),
            outputs_hash=out.get("hash"),
            outputs=_stored_outputs(out, get_blob) if with_outputs else None,
            data=[e for e in rec.get("data") or [] if isinstance(e, dict)] if isinstance(rec.get("data"), list) else [],
            seeds_set=dict(seeds.get("set") or {}),
            unseeded=list(seeds.get("unseeded") or []),
            rng_start=_rng_states(seeds, get_blob) if with_outputs else {},
            imported=imported,
            imported_here=here,
            files=dict(env["files"]) if isinstance(env.get("files"), dict) else {},
            local_modules=dict(env.get("local_modules") or {}),
            snapshot=git.get("snapshot") if isinstance(git.get("snapshot"), str) else None,
            order=list(facts.order),
            params=dict(rec.get("params") or {}),
        )
    return facts


def session_env(records: list[dict[str, Any]], get_blob: GetBlob) -> dict[str, Any]:
    """What a lock of the session needs (``nbrepro.notebook.lock``): the recorded Python
    (``python``, ``implementation``, ``platform``, ``markers``), the distributions its cells
    imported (``imported``), those and everything they require, pinned to the versions the
    session ran with (``pins``: the imported ones as loaded, the rest as in the last
    record's installed set), and the origin of each pin not installed from an index
    (``origins``, PEP 610). Empty when no record has an environment."""
    imported: dict[str, str] = {}
    env_id = None
    for record in records:
        env = _part(record, "env")
        for name, version in (env.get("imported") or {}).items():
            imported.setdefault(name, version)  # a distribution is loaded once per kernel
        env_id = env.get("id") if isinstance(env.get("id"), str) else env_id
    blob = (get_blob(env_id) if env_id else None) or {}
    if not imported and not blob:
        return {}
    installed: dict[str, str] = blob.get("installed") or {}
    pins = {name: installed[name] for name in _closure(imported, blob.get("requires") or {}, installed)}
    pins.update(imported)
    return {
        **{key: blob[key] for key in ("python", "implementation", "platform", "markers") if key in blob},
        "imported": sorted(imported, key=str.lower),
        "pins": dict(sorted(pins.items(), key=lambda kv: kv[0].lower())),
        "origins": {name: origin for name, origin in sorted((blob.get("origins") or {}).items()) if name in pins},
    }


def _closure(roots: Mapping[str, str], requires: Mapping[str, list[str]], installed: Mapping[str, str]) -> list[str]:
    """The installed distributions ``roots`` require, transitively (by canonical name)."""
    by_key: dict[str, str] = {canonicalize_name(name): name for name in installed}
    reqs: dict[str, list[str]] = {canonicalize_name(name): names for name, names in requires.items()}
    seen: set[str] = set()
    todo = [canonicalize_name(name) for name in roots]
    while todo:
        key = todo.pop()
        if key in seen or key not in by_key:
            continue
        seen.add(key)
        todo.extend(canonicalize_name(name) for name in reqs.get(key, ()))
    return [by_key[key] for key in seen]


def _part(record: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A record's part, or {} when it is missing or not an object (an older record)."""
    part = record.get(key)
    return part if isinstance(part, dict) else {}


def _rng_states(seeds: Mapping[str, Any], get_blob: GetBlob) -> dict[str, dict[str, Any]]:
    """The restorable RNG states a cell started with (``seeds.start``), those the store has."""
    start = seeds.get("start")
    if not isinstance(start, dict):
        return {}
    found = {name: get_blob(blob) for name, blob in start.items() if isinstance(blob, str)}
    return {name: state for name, state in found.items() if isinstance(state, dict)}


def _stored_outputs(part: Mapping[str, Any], get_blob: GetBlob) -> list[dict[str, Any]] | None:
    items = part.get("items")
    if not isinstance(items, list) or part.get("truncated") or part.get("streams") is False:
        return None
    contents = []
    for item in items:
        blob = get_blob(item["blob"]) if item.get("blob") else None
        if blob is None:
            return None
        contents.append((item["output"], blob))
    return canon.canonical(canon.rebuild(contents))


def _hardware(part: Any, get_blob: GetBlob) -> dict[str, Any]:
    if not isinstance(part, dict) or "id" not in part:
        return {}
    blob = get_blob(part["id"]) or {}
    merged = {**blob, **part}
    keep = ("cpu", "cores", "memory_bytes", "os", "gpus", "arch", "blas", "threads")
    return {k: merged[k] for k in keep if k in merged}
