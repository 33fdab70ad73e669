"""What ``%nbrepro status`` shows: rows of facts, as an HTML table or as plain text."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any

from ..record import is_unavailable
from ..record.display import cell_label, data_verb, duration
from ..recorder import Recorder


class StatusReport:
    def __init__(self, rows: list[tuple[str, str]]) -> None:
        self.rows = rows

    @classmethod
    def of(cls, recorder: Recorder) -> StatusReport:
        last = recorder.last_record or {}
        rows = [
            ("recording", "paused" if recorder.paused else "on"),
            ("session", recorder.session_id),
            ("store", recorder.store.location if recorder.store else str(recorder.store_dir)),
            ("records this session", str(recorder.records_written)),
        ]
        if recorder.unsaved():
            rows.append(("waiting to be written", str(recorder.unsaved())))
        notebook = (last.get("notebook") or {}).get("path")
        if recorder.notebook_override:
            notebook = recorder.notebook_override
        rows.append(("notebook", notebook or "not named by the frontend (verify, export and stamp find it by its cells)"))
        if last:
            cell = last["cell"]
            rows += [
                ("last cell", f"{cell_label(cell.get('execution_count'), cell.get('index'))} {last['status']}, {duration(last['duration_s'])}"),
                ("seeds", _summarize(last.get("seeds"), _seeds)),
                ("data", _summarize(last.get("data"), _data)),
                ("git", _summarize(last.get("git"), _git)),
                ("environment", _summarize(last.get("env"), _env)),
                ("hardware", _summarize(last.get("hardware"), _hardware)),
            ]
        rows.append(("stamp on save", _stamp_on_save()))
        for kind, message in sorted(recorder.guard.faults.items()):
            rows.append((f"problem: {kind}", message))
        return cls(rows)

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self.rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in self.rows)

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.rows
        )
        return f"<table class='nbrepro-status'><caption>nbrepro</caption>{body}</table>"


def _summarize(part: Any, describe: Callable[[Any], str]) -> str:
    if part is None:
        return "not captured"
    if is_unavailable(part):
        return f"unavailable: {part['unavailable']}"
    return describe(part)


def _seeds(part: dict[str, Any]) -> str:
    given = ", ".join(f"{k} {v}" for k, v in (part.get("set") or {}).items())
    unseeded = ", ".join(part.get("unseeded") or [])
    drew = f"drew from unseeded {unseeded} (its results change from run to run)" if unseeded else "no unseeded draw"
    return f"last cell: {'set ' + given if given else 'no seed set'}; {drew}"


def _data(part: list[dict[str, Any]]) -> str:
    shown = [f"{data_verb(e)} {e['path']}" for e in part]
    more = f" and {len(shown) - 6} more" if len(shown) > 6 else ""
    return "last cell: " + (", ".join(shown[:6]) + more if shown else "no file read or written")


def _stamp_on_save() -> str:
    # nbrepro.server sets this in the Jupyter server's environment when the server loads
    # it; the kernels that server starts inherit it (jupyter_server passes its os.environ).
    if os.environ.get("NBREPRO_STAMP_ON_SAVE") == "1":
        return "on: the Jupyter server stamps each notebook it saves"
    return "off (enable it with c.ServerApp.jpserver_extensions = {\"nbrepro.server\": True})"


def _git(part: dict[str, Any]) -> str:
    commit = (part.get("commit") or "no commit")[:12]
    snapshot = part.get("snapshot")
    snap = snapshot[:12] if isinstance(snapshot, str) else "unavailable"
    dirty = "dirty" if part.get("dirty") else "clean"
    return f"{part.get('branch') or 'detached'} @ {commit} ({dirty}), snapshot {snap}"


def _env(part: dict[str, Any]) -> str:
    imported = part.get("imported") or {}
    shown = ", ".join(f"{k} {v}" for k, v in list(imported.items())[:6])
    more = f" and {len(imported) - 6} more" if len(imported) > 6 else ""
    return f"Python {part.get('python')}; imported: {shown or 'none'}{more}"


def _hardware(part: dict[str, Any]) -> str:
    gib = (part.get("memory_bytes") or 0) / 2**30
    gpus = part.get("gpus") or []
    gpu = f", {len(gpus)} GPU(s): {gpus[0].get('name')}" if gpus else ""
    return f"{part.get('cpu')}, {part.get('cores')} cores, {gib:.1f} GiB{gpu}"
