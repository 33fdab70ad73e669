"""A store rewritten by someone who holds it: records changed, every hash recomputed after them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbrepro.store import DB_NAME, chain


def rewrite_store(store_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to every record (in seq order), then reseal the whole chain so that it is
    whole again: the database's own check (``log --check`` without anchors) passes."""
    conn = sqlite3.connect(store_dir / DB_NAME)
    try:
        rows = conn.execute("SELECT seq, record FROM runs ORDER BY seq").fetchall()
        prev = None
        for seq, body in rows:
            record = json.loads(body)
            edit(record)
            text = chain.seal(record, seq, prev)
            prev = record["hash"]
            conn.execute(
                "UPDATE runs SET record = ?, hash = ?, source_hash = ? WHERE seq = ?",
                (text, prev, (record.get("cell") or {}).get("source_hash") or "", seq),
            )
        conn.execute("UPDATE meta SET value = ? WHERE key = 'head'", (json.dumps([rows[-1][0], prev]),))
        conn.commit()
    finally:
        conn.close()
