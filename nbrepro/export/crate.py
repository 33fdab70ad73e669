"""A notebook's session as an RO-Crate of the Workflow Run Crate profile, written with ``rocrate``.

The crate holds the notebook (the main entity: a ComputationalWorkflow in Python), the lock
beside it if there is one, the session's records (``nbrepro/records.jsonl``, as sealed in
the store) with the blobs they refer to (``nbrepro/blobs/``), and the verify reports given.
One CreateAction is the session: the notebook its instrument, the parameters and every data
file read its ``object``, every file written its ``result``. Data files are described, not
copied (they may be large): each is a File entity whose ``identifier`` is its recorded hash.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..record.hashing import canonical_json
from ..store.base import Blobs
from .prov import author_of, end_time, git_part

PROFILES = {  # and Workflow RO-Crate, which rocrate adds for the main workflow
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
}
LOCK_NAMES = ("requirements.lock", "pylock.toml")


def find_lock(notebook: Path, root: Path) -> Path | None:
    """The lock beside the notebook, else at the project root (an exported package's name)."""
    for folder in (notebook.resolve().parent, root):
        for name in LOCK_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def write_crate(
    notebook: Path, records: list[dict[str, Any]], blobs: Blobs, out: Path, root: Path,
    lock: Path | None = None, reports: tuple[Path, ...] = (),
) -> None:
    """Write the crate into ``out`` (new, or an empty folder), whole or not at all."""
    from rocrate.model import ComputerLanguage, ContextEntity, Person
    from rocrate.rocrate import ROCrate

    crate = ROCrate()
    part = records[-1].get("env")
    env: dict[str, Any] = part if isinstance(part, dict) else {}
    python = crate.add(ComputerLanguage(crate, "#python", properties={
        "name": "Python", "url": {"@id": "https://www.python.org/"}, **({"version": env["python"]} if env.get("python") else {}),
    }))
    workflow = crate.add_workflow(notebook, dest_path=notebook.name, main=True, lang=python, properties={
        "name": notebook.name, "encodingFormat": "application/x-ipynb+json",
    })
    for uri, name in PROFILES.items():
        crate.add(ContextEntity(crate, uri, properties={"@type": "CreativeWork", "name": name, "version": uri.rsplit("/", 1)[1]}))
    workflow_profile = crate.root_dataset.get("conformsTo")
    crate.root_dataset["conformsTo"] = [{"@id": uri} for uri in PROFILES] + (
        [workflow_profile] if isinstance(workflow_profile, dict) else list(workflow_profile or []))
    session_id = records[0]["session_id"]
    crate.root_dataset["name"] = f"{notebook.name}, session {session_id[:8]}"
    crate.root_dataset["description"] = "A notebook session recorded by nbrepro: its records, and the data files it used, by hash"
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp)
        (staged / "records.jsonl").write_text("".join(canonical_json(r) + "\n" for r in records), "utf-8")
        crate.add_file(staged / "records.jsonl", dest_path="nbrepro/records.jsonl", properties={
            "name": "the session's records (schema nbrepro.run/1), as sealed in the store", "encodingFormat": "application/x-ndjson",
        })
        for blob_id, (kind, content) in sorted(blobs.items()):
            name = f"{kind}-{blob_id.partition(':')[2]}.json"
            (staged / name).write_text(canonical_json(content), "utf-8")
            crate.add_file(staged / name, dest_path=f"nbrepro/blobs/{name}", properties={
                "name": f"{kind} part {blob_id}", "identifier": blob_id, "encodingFormat": "application/json",
            })
        if lock is not None:
            crate.add_file(lock, dest_path=lock.name, properties={"name": "the environment's lock"})
        for report in reports:
            crate.add_file(report, dest_path=f"reports/{report.name}", properties={"name": f"nbrepro verify report {report.name}"})
        used, made = _data_entities(crate, records)
        params = [crate.add(ContextEntity(crate, f"#param-{k}", properties={"@type": "PropertyValue", "name": k, "value": json.dumps(v)}))
                  for k, v in _params(records).items()]
        author = crate.add(Person(crate, "#author", properties={"name": author_of(root, git_part(records[-1]).get("commit"))}))
        end = end_time(records[-1])
        failed = any(r.get("status") == "error" for r in records)
        crate.add_action(workflow, identifier=f"#session-{session_id}", object=[*params, *used], result=made, properties={
            "@type": "CreateAction", "name": f"notebook session {session_id[:8]}", "agent": {"@id": author.id},
            "startTime": records[0].get("started_at"), **({"endTime": end.isoformat()} if end else {}),
            "actionStatus": {"@id": "http://schema.org/" + ("FailedActionStatus" if failed else "CompletedActionStatus")},
        })
        _write_whole(crate, out)


def _data_entities(crate: Any, records: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    from rocrate.model import ContextEntity

    used: dict[str, Any] = {}
    made: dict[str, Any] = {}
    for rec in records:
        data = rec.get("data")
        for item in data if isinstance(data, list) else []:
            identifier = f"#data:{item['path']}@{item['hash']}"
            into = used if item.get("mode") == "r" else made
            if identifier not in into:
                into[identifier] = crate.get(identifier) or crate.add(ContextEntity(crate, identifier, properties={
                    "@type": "File", "name": item["path"], "identifier": item["hash"], "contentSize": item.get("size"),
                    "description": "described, not copied: the file at this hash, relative to the project root",
                }))
    return list(used.values()), list(made.values())


def _params(records: list[dict[str, Any]]) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for rec in records:
        if isinstance(rec.get("params"), dict):
            latest.update(rec["params"])
    return latest


def _write_whole(crate: Any, out: Path) -> None:
    """Write into a folder beside ``out``, then rename it into place: never half a crate."""
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(staging, 0o777 & ~umask)  # a new folder's mode, not mkdtemp's 0700
        crate.write(staging)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
