"""A session's records as a W3C PROV document (the ``prov`` package writes PROV-JSON and PROV-N).

- the session and each cell run are activities (``session:<id>``, ``run:<run id>``); a cell
  run was started by the session and informed by the run before it (the kernel's state);
- entities: the notebook as the session ran it, the git snapshot of the working tree, each
  data file at its hash (``data:…``, with ``nbrepro:path`` and ``nbrepro:hash``), and each
  cell's outputs (``output:<hash>``);
- a file read is ``used``, a file written ``wasGeneratedBy``, as the data records say;
- agents: the author (the session's git commit author; ``unknown`` where git cannot say),
  associated with every run, and nbrepro, the software agent that recorded them.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prov.constants import PROV
from prov.model import PROV_LABEL, PROV_TYPE, ProvDocument

from .._version import __version__
from ..record import is_unavailable
from ..record.hashing import hash_text

NS = "urn:nbrepro:"


def session_document(records: list[dict[str, Any]], root: Path) -> ProvDocument:
    """The PROV document of one session's ``records`` (oldest first), recorded in ``root``."""
    doc = ProvDocument()
    doc.add_namespace("nbrepro", NS + "terms#")
    for prefix in ("session", "run", "notebook", "snapshot", "data", "output", "agent"):
        doc.add_namespace(prefix, f"{NS}{prefix}:")
    first, last = records[0], records[-1]
    session_id = first["session_id"]
    session = doc.activity(
        f"session:{session_id}", _time(first.get("started_at")), end_time(last),
        {PROV_LABEL: f"notebook session {session_id[:8]}", "nbrepro:sessionId": session_id},
    )
    tool = doc.agent("agent:nbrepro", {PROV_TYPE: PROV["SoftwareAgent"], PROV_LABEL: f"nbrepro {__version__}"})
    author = doc.agent("agent:author", {PROV_TYPE: PROV["Person"], PROV_LABEL: author_of(root, git_part(last).get("commit"))})
    doc.wasAssociatedWith(session, author)
    doc.wasAssociatedWith(session, tool)
    entities: dict[str, Any] = {}

    def entity(identifier: str, attributes: dict[Any, Any]) -> Any:
        if identifier not in entities:
            entities[identifier] = doc.entity(identifier, attributes)
        return entities[identifier]

    previous = None
    for rec in records:
        cell = rec.get("cell") or {}
        run = doc.activity(f"run:{rec['run_id']}", _time(rec.get("started_at")), end_time(rec), {
            PROV_LABEL: f"cell [{cell.get('execution_count')}]",
            "nbrepro:seq": rec.get("seq"), "nbrepro:hash": rec.get("hash"), "nbrepro:status": rec.get("status"),
            "nbrepro:cellIndex": cell.get("index") if cell.get("index") is not None else -1,
            "nbrepro:sourceHash": cell.get("source_hash"),
        })
        doc.wasStartedBy(run, starter=session)
        doc.wasAssociatedWith(run, author)
        if previous is not None:
            doc.wasInformedBy(run, previous)
        previous = run
        path = (rec.get("notebook") or {}).get("path")
        if path:
            doc.used(run, entity(f"notebook:{_key(path)}", {PROV_LABEL: path, "nbrepro:path": path}))
        snapshot = git_part(rec).get("snapshot")
        if snapshot:
            doc.used(run, entity(f"snapshot:{snapshot}", {PROV_LABEL: f"git snapshot {snapshot[:12]}",
                                                          "nbrepro:commit": snapshot, "nbrepro:dirty": bool(git_part(rec).get("dirty"))}))
        data = rec.get("data")
        for item in data if isinstance(data, list) else []:
            file = entity(f"data:{_key(item['path'])}.{item['hash'].partition(':')[2]}", {
                PROV_LABEL: item["path"], "nbrepro:path": item["path"], "nbrepro:hash": item["hash"],
                "nbrepro:size": item.get("size", -1),
            })
            if item.get("mode") == "r":
                doc.used(run, file)
            else:
                doc.wasGeneratedBy(file, run)
        outputs = rec.get("outputs")
        if isinstance(outputs, dict) and outputs.get("hash") and outputs.get("items"):
            digest = outputs["hash"]
            doc.wasGeneratedBy(entity(f"output:{digest.partition(':')[2]}", {
                PROV_LABEL: f"outputs of cell [{cell.get('execution_count')}]", "nbrepro:hash": digest,
            }), run)
    return doc


def serialize(doc: ProvDocument, suffix: str) -> str:
    """PROV-N for a ``.provn`` file, PROV-JSON otherwise."""
    if suffix == ".provn":
        return str(doc.get_provn())
    return str(doc.serialize(format="json", indent=2))


def git_part(rec: dict[str, Any]) -> dict[str, Any]:
    part = rec.get("git")
    return part if isinstance(part, dict) and not is_unavailable(part) else {}


def _key(path: str) -> str:
    """A QName-safe local name for a path (paths hold slashes and dots): part of its hash."""
    return hash_text(path).partition(":")[2][:16]


def _time(iso: Any) -> datetime | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def end_time(rec: dict[str, Any]) -> datetime | None:
    start = _time(rec.get("started_at"))
    return None if start is None else start + timedelta(seconds=float(rec.get("duration_s") or 0))


def author_of(root: Path, commit: str | None) -> str:
    if not commit:
        return "unknown"
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%an <%ae>", commit], cwd=root, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"
