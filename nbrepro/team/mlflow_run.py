"""One notebook session as one MLflow run: pushed, pulled back, and read as an anchor.

The run is found again by its tag ``nbrepro.session_id`` (in any experiment), so pushing a
session twice never makes two runs. It holds:

- tags MLflow's UI reads: ``mlflow.source.name`` (the notebook's path in the project),
  ``mlflow.source.type`` NOTEBOOK, ``mlflow.source.git.commit`` and ``…git.branch``;
- nbrepro's tags: ``nbrepro.session_id``, ``nbrepro.store_id``, ``nbrepro.snapshot``,
  ``nbrepro.dirty``, ``nbrepro.records`` and the MLflow anchor, ``nbrepro.chain.seq`` and
  ``nbrepro.chain.hash`` (the session's last record pushed);
- params: the parameters cell's assignments (the latest run of that cell);
- artifacts under ``nbrepro/``: ``records.jsonl`` (the records as sealed in the store),
  ``blobs/<kind>-<hex>.json`` (the content-addressed parts they refer to), ``data.json``
  (every data file's path and hash) and, pushed with its notebook, ``stamp.json``.

A push uploads what the run lacks and writes the anchor tags last: one cut short (the server
gone, the process killed) leaves the run with its previous anchor, and the next push
completes it. A push never overwrites a run whose anchor the store no longer holds: that is
the store rewritten or truncated, which ``nbrepro log --check`` then reports.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._errors import CheckFailed, StoreError
from ..record import record_hash
from ..record.hashing import canonical_json, hash_json
from ..store import SQLiteStore
from ..store.base import Blobs, blob_refs
from .anchors import Anchor, short

ARTIFACTS = "nbrepro"
TAG_SESSION = "nbrepro.session_id"
TAG_STORE = "nbrepro.store_id"
TAG_SEQ = "nbrepro.chain.seq"
TAG_HASH = "nbrepro.chain.hash"
TAG_RECORDS = "nbrepro.records"
TAG_STAMP = "nbrepro.stamp"  # the hash of stamp.json, so an unchanged stamp is not pushed again


def connect(uri: str) -> Any:
    """An MLflow client for the tracking server at ``uri``. Called in nbrepro's own processes
    (the CLI, the sink), never in a kernel: it sets MLflow's defaults for them. MLflow would
    retry a request for minutes against a server that is down, and print each run's URL and
    a progress bar; the user's own settings of these win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


@dataclass(frozen=True)
class Pushed:
    run_id: str
    experiment_id: str
    created: bool  # the run is new
    records: int  # the session's records, all in the run now
    blobs: int  # blobs uploaded by this push
    up_to_date: bool  # the run had everything already


def push(
    client: Any, store: SQLiteStore, session_id: str, experiment: str | None = None,
    stamp: dict[str, Any] | None = None, finished: bool = True, notebook: str | None = None,
) -> Pushed:
    """Push ``session_id``'s records from ``store`` into its run (made on the first push, in
    ``experiment``, else MLflow's Default). ``finished`` marks the run FINISHED. ``notebook``
    (its path in the project) names the source where the records do not (a kernel whose
    frontend sent no path: the session was matched to its notebook by content)."""
    records = store.session_records(session_id)
    if not records:
        raise StoreError(f"session {session_id[:8]}: no records in {store.location}")
    store_id = store.store_id(create=True)
    assert store_id is not None
    last = records[-1]
    notebook = notebook or _notebook(records)
    run = find_run(client, session_id)
    created = run is None
    if run is None:
        run = client.create_run(
            _experiment_id(client, experiment), start_time=_ms(records[0].get("started_at")),
            tags={TAG_SESSION: session_id, TAG_STORE: store_id, "mlflow.source.type": "NOTEBOOK",
                  **({"mlflow.source.name": notebook} if notebook else {})},
            run_name=f"{Path(notebook or 'session').stem} {session_id[:8]}",
        )
    run_id, tags = run.info.run_id, run.data.tags
    _check_remote(run_id, tags, store_id, session_id, records)
    stamp_hash = hash_json(stamp) if stamp is not None else tags.get(TAG_STAMP)
    final = _final_tags(records, store_id, stamp_hash, notebook)
    done = all(tags.get(k) == v for k, v in final.items()) and (not finished or run.info.status == "FINISHED")
    if done:
        return Pushed(run_id, run.info.experiment_id, created, len(records), 0, True)
    uploaded = _upload(client, run_id, store, records, stamp if stamp is not None and tags.get(TAG_STAMP) != stamp_hash else None)
    params = _params(records, run.data.params)
    _log_batch(client, run_id, params, {k: v for k, v in final.items() if k not in (TAG_SEQ, TAG_HASH, TAG_RECORDS)})
    # The anchor last: until it is written, the run says it holds only what it held before.
    _log_batch(client, run_id, {}, {k: final[k] for k in (TAG_SEQ, TAG_HASH, TAG_RECORDS)})
    if finished:
        client.set_terminated(run_id, "FINISHED", end_time=_end_ms(last))
    return Pushed(run_id, run.info.experiment_id, created, len(records), uploaded, False)


def find_run(client: Any, session_id: str) -> Any | None:
    runs = _search(client, f"tags.`{TAG_SESSION}` = '{_quoted(session_id)}'", limit=1)
    return runs[0] if runs else None


def anchors(client: Any, store_id: str) -> list[Anchor]:
    """The anchors the runs pushed from store ``store_id`` hold (a run with no anchor yet: none)."""
    out = []
    for run in _search(client, f"tags.`{TAG_STORE}` = '{_quoted(store_id)}'"):
        tags = run.data.tags
        try:
            seq, records = int(tags[TAG_SEQ]), int(tags.get(TAG_RECORDS, 0))
        except (KeyError, ValueError):
            continue
        out.append(Anchor(f"mlflow anchor (run {run.info.run_id})", store_id, tags.get(TAG_SESSION, "?"), seq,
                          tags.get(TAG_HASH, ""), records))
    return out


@dataclass(frozen=True)
class Fetched:
    """A run's session as downloaded, and what is wrong with it (empty: it is whole)."""

    run_id: str
    session_id: str
    records: list[dict[str, Any]]
    blobs: Blobs
    problems: list[str]


def fetch(client: Any, run_id: str) -> Fetched:
    """Download ``run_id``'s session and check it against itself: every record's hash, the
    blobs' ids, and the run's anchor against the last record."""
    run = client.get_run(run_id)
    tags = run.data.tags
    session_id = tags.get(TAG_SESSION)
    if not session_id:
        raise StoreError(f"mlflow:{run_id}: not a run nbrepro pushed (it has no {TAG_SESSION} tag)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(client.download_artifacts(run_id, ARTIFACTS, tmp))
        lines = (folder / "records.jsonl").read_text("utf-8").splitlines() if (folder / "records.jsonl").is_file() else []
        found = {p.name: p.read_text("utf-8") for p in (folder / "blobs").glob("*.json")} if (folder / "blobs").is_dir() else {}
    problems: list[str] = []
    records = []
    for n, line in enumerate(lines, 1):
        rec = json.loads(line)
        records.append(rec)
        if record_hash(rec) != rec.get("hash"):
            problems.append(f"records.jsonl line {n} (seq {rec.get('seq')}): its hash does not match its content (edited)")
        if rec.get("session_id") != session_id:
            problems.append(f"records.jsonl line {n}: a record of session {str(rec.get('session_id'))[:8]}, not of the run's")
    head = (str(records[-1]["seq"]), records[-1]["hash"]) if records else None
    if head != (tags.get(TAG_SEQ), tags.get(TAG_HASH)):
        problems.append(f"the run's anchor says seq {tags.get(TAG_SEQ)} has hash {short(tags.get(TAG_HASH) or '-')}, but its"
                        f" records end at {f'seq {head[0]} with {short(head[1])}' if head else 'nothing'} (a push cut short: push again)")
    blobs: Blobs = {}
    for name, text in found.items():
        kind, _, hexdigest = name.removesuffix(".json").partition("-")
        content = json.loads(text)
        blob_id = f"blake3:{hexdigest}"
        if hash_json(content) != blob_id:
            problems.append(f"blob {name} does not match its content (edited)")
        blobs[blob_id] = (kind, content)
    for rec in records:
        for part, blob_id in blob_refs(rec):
            if blob_id not in blobs:
                problems.append(f"seq {rec.get('seq')}: its {part} blob {short(blob_id)} is not in the run")
    return Fetched(run_id, session_id, records, blobs, problems)


def pull(fetched: Fetched, store: SQLiteStore) -> int:
    """Append the fetched session's records that ``store`` lacks (by run id), with their
    blobs; returns how many were added. They join this store's chain: sealed anew."""
    present = {r["run_id"] for r in store.session_records(fetched.session_id)}
    new = [{k: v for k, v in r.items() if k not in ("seq", "prev_hash", "hash")} for r in fetched.records
           if r["run_id"] not in present]
    wanted = {blob_id for rec in new for _part, blob_id in blob_refs(rec)}
    store.append(new, {i: b for i, b in fetched.blobs.items() if i in wanted})
    return len(new)


# -- pieces ------------------------------------------------------------------------------
def _check_remote(run_id: str, tags: dict[str, str], store_id: str, session_id: str, records: list[dict[str, Any]]) -> None:
    theirs = tags.get(TAG_STORE)
    if theirs is not None and theirs != store_id:
        raise CheckFailed(f"session {session_id[:8]}: its MLflow run {run_id} was pushed from another store"
                          f" (id {theirs[:8]}, this one is {store_id[:8]}); nothing pushed")
    seq, digest = tags.get(TAG_SEQ), tags.get(TAG_HASH)
    if seq is None:
        return
    held = next((r for r in records if str(r.get("seq")) == seq), None)
    if held is None or held.get("hash") != digest:
        raise CheckFailed(
            f"session {session_id[:8]}: the store disagrees with its MLflow run {run_id}, whose anchor says seq {seq} has"
            f" hash {short(digest or '-')} (the store was rewritten or truncated: nbrepro log --check); nothing pushed"
        )


def _final_tags(records: list[dict[str, Any]], store_id: str, stamp_hash: str | None, notebook: str | None) -> dict[str, str]:
    last = records[-1]
    part = last.get("git")
    git: dict[str, Any] = part if isinstance(part, dict) and "unavailable" not in part else {}
    tags = {
        TAG_STORE: store_id,
        "mlflow.source.type": "NOTEBOOK",
        TAG_SEQ: str(last["seq"]),
        TAG_HASH: last["hash"],
        TAG_RECORDS: str(len(records)),
    }
    for key, value in (("mlflow.source.name", notebook), ("mlflow.source.git.commit", git.get("commit")), ("mlflow.source.git.branch", git.get("branch")),
                       ("nbrepro.snapshot", git.get("snapshot")), ("nbrepro.dirty", git.get("dirty")), (TAG_STAMP, stamp_hash)):
        if value is not None:
            tags[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return tags


def _upload(
    client: Any, run_id: str, store: SQLiteStore, records: list[dict[str, Any]], stamp: dict[str, Any] | None
) -> int:
    """Upload the blobs the run lacks, then records.jsonl, data.json and the stamp; returns
    the number of blobs uploaded."""
    have = {Path(f.path).name for f in client.list_artifacts(run_id, f"{ARTIFACTS}/blobs")}
    kinds = {blob_id: part for rec in records for part, blob_id in blob_refs(rec)}
    uploaded = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for blob_id, kind in sorted(kinds.items()):
            name = f"{kind}-{blob_id.partition(':')[2]}.json"
            content = store.get_blob(blob_id)
            if name in have or content is None:  # a missing blob is log --check's to report
                continue
            (folder / name).write_text(canonical_json(content), "utf-8")
            client.log_artifact(run_id, str(folder / name), f"{ARTIFACTS}/blobs")
            uploaded += 1
        files = {
            "records.jsonl": "".join(canonical_json(r) + "\n" for r in records),
            "data.json": json.dumps(_data_files(records), indent=1),
            **({"stamp.json": json.dumps(stamp, indent=1, sort_keys=True)} if stamp is not None else {}),
        }
        for name, text in files.items():
            (folder / name).write_text(text, "utf-8")
            client.log_artifact(run_id, str(folder / name), ARTIFACTS)
    return uploaded


def _data_files(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every data file the session read or wrote, once per (path, hash, mode), with the first run that saw it."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec in records:
        data = rec.get("data")
        for entry in data if isinstance(data, list) else []:
            key = (entry.get("path"), entry.get("hash"), entry.get("mode"))
            seen.setdefault(key, {**entry, "run_id": rec["run_id"]})
    return list(seen.values())


def _params(records: list[dict[str, Any]], logged: dict[str, str]) -> dict[str, str]:
    """The parameters cell's assignments not logged yet (MLflow params never change once set)."""
    latest: dict[str, Any] = {}
    for rec in records:
        if isinstance(rec.get("params"), dict):
            latest.update(rec["params"])
    return {k: (v if isinstance(v, str) else json.dumps(v))[:6000] for k, v in latest.items() if k not in logged}


def _log_batch(client: Any, run_id: str, params: dict[str, str], tags: dict[str, str]) -> None:
    from mlflow.entities import Param, RunTag

    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], tags=[RunTag(k, v) for k, v in tags.items()])


def _experiment_id(client: Any, name: str | None) -> str:
    name = name or "Default"
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id) if found is not None else str(client.create_experiment(name))


def _search(client: Any, filter_string: str, limit: int | None = None) -> list[Any]:
    ids, token = [], None
    while True:
        page = client.search_experiments(page_token=token)
        ids += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    runs: list[Any] = []
    token = None
    while ids:
        page = client.search_runs(ids, filter_string, max_results=limit or 1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token or (limit is not None and len(runs) >= limit):
            break
    return runs


def _notebook(records: list[dict[str, Any]]) -> str | None:
    paths = [p for r in records if (p := (r.get("notebook") or {}).get("path"))]
    return paths[-1] if paths else None


def _ms(iso: Any) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000)
    except ValueError:
        return None


def _end_ms(record: dict[str, Any]) -> int | None:
    start = _ms(record.get("started_at"))
    return None if start is None else start + int(1000 * float(record.get("duration_s") or 0))


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
