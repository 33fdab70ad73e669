"""Records a kernel could not write by the time it exited, kept in a file beside the store.

At exit the recorder writes what the store would not take (a full disk, a read-only or
locked database) to ``recovery-<session>.json`` in the store folder, in one atomic rename.
The next time a kernel opens the store for writing (``open_store``), or ``nbrepro gc``
runs, each such file is merged: its records are sealed onto the end of the chain in their
order, in one transaction with their blobs, and the file is removed. Records already in
the store (matched by run id) are not written twice, so two kernels merging one file at
once, or a merge cut short after its commit, leave each record once. The chain stays
whole: a merged record takes the next seq like any other; its ``started_at`` still says
when it ran.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import StoreError
from .base import Blobs, Store

FORMAT = "nbrepro.recovery/1"
PATTERN = "recovery-*.json"


def path_for(folder: Path, session_id: str) -> Path:
    return folder / f"recovery-{session_id}.json"


def save(folder: Path, session_id: str, records: list[dict[str, Any]], blobs: Blobs) -> Path:
    """Write the recovery file for ``session_id``: complete or not at all. Raises ``OSError``."""
    path = path_for(folder, session_id)
    body = {
        "format": FORMAT,
        "session_id": session_id,
        "records": records,
        "blobs": {blob_id: [kind, content] for blob_id, (kind, content) in blobs.items()},
    }
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".recovery-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def merge(store: Store, folder: Path, warn: Callable[[str, str], None]) -> int:
    """Merge every recovery file in ``folder`` into ``store``; returns the records written.
    A store that cannot take them now (locked, full) leaves the files for the next open."""
    written = 0
    for path in sorted(folder.glob(PATTERN)):
        try:
            records, blobs, session_id = _read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warn("store", f"cannot read the recovery file {path.name} ({exc}); left it in place")
            continue
        new = [r for r in records if not store.find(r["run_id"])]
        try:
            store.append(new, blobs)
        except StoreError:
            return written
        written += len(new)
        try:
            path.unlink()
        except OSError:
            pass
        warn("store", f"merged {len(new)} record(s) of session {session_id[:8]} from {path.name}, kept there when that"
                      " kernel could not write them at exit")
    return written


def _read(path: Path) -> tuple[list[dict[str, Any]], Blobs, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    records = data["records"]
    if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r["run_id"], str) for r in records):
        raise ValueError("no list of records")
    blobs: Blobs = {str(blob_id): (str(kind), content) for blob_id, (kind, content) in data["blobs"].items()}
    return records, blobs, str(data["session_id"])
