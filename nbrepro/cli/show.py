"""``nbrepro show``: one record, every part of it, as a person reads it (``--json``: as stored,
with its environment and hardware expanded)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from ..record import is_unavailable
from ..record import outputs as canon
from ..record.compare import BASE64_MIMES
from ..record.display import cell_label, data_verb, duration, print_unpadded, short_hashes
from ._common import console, open_project_store

Rows = list[tuple[str, ...]]


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the expanded record as JSON.")
def show(run_id: str, as_json: bool) -> None:
    """Show the run whose id starts with RUN_ID."""
    store, _root, _rel = open_project_store()
    try:
        record = store.expand(store.get(run_id))
        outputs = record.get("outputs")
        items = outputs.get("items", []) if isinstance(outputs, dict) else []
        blobs = {i["blob"]: store.get_blob(i["blob"]) for i in items if i.get("blob")}
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    out = console()
    _section(out, f"run {record['run_id']}", _run(record))
    source = (record.get("cell") or {}).get("source") or ""
    out.print()
    out.print(Text("code", style="bold"))
    out.print(Text(textwrap.indent(source.rstrip(), "  ") if source.strip() else "  (empty cell)"))
    parts: list[tuple[str, str, Callable[[Any], Rows]]] = [
        ("git", "git", _git),
        ("environment", "env", _env),
        ("data", "data", _data),
        ("seeds", "seeds", _seeds),
        ("outputs", "outputs", lambda part: _outputs(part, blobs)),
        ("hardware", "hardware", _hardware),
        ("parameters", "params", _params),
    ]
    for title, key, rows in parts:
        out.print()
        part = record.get(key)
        if part is None:
            _section(out, title, [_NOT_RECORDED.get(key, ("not recorded", "the record is older than this part"))])
        elif is_unavailable(part):
            _section(out, title, [("unavailable", str(part["unavailable"]))])
        else:
            _section(out, title, rows(part))


_NOT_RECORDED = {"params": ("none", "not a parameters cell (a parameters cell records the values it assigns)")}


def _section(out: Console, title: str, rows: Rows) -> None:
    out.print(Text(title, style="bold"))
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for _ in range(max(len(r) for r in rows)):
        table.add_column(overflow="fold")
    for row in rows:
        table.add_row(*(Text("  " + row[0]), *(Text(v) for v in row[1:])))
    print_unpadded(out, table)


def _run(r: dict[str, Any]) -> Rows:
    cell, notebook = r.get("cell") or {}, r.get("notebook") or {}
    index = cell.get("index")
    rows: Rows = [
        ("session", f"{r['session_id'][:8]}, record {r.get('seq')} of the store's chain"),
        ("notebook", f"{notebook['path']} (named by {notebook.get('found_by')})" if notebook.get("path")
         else "not named by the frontend (verify, export and stamp find it by its cells)"),
        ("cell", cell_label(cell.get("execution_count"), index)
         + ("" if cell.get("execution_count") is not None else " (no execution count)")
         + ("" if index is not None else ", position in the notebook not known")),
        ("cell id", cell.get("id") or "none (the frontend sent none)"),
        ("started", str(r.get("started_at", ""))[:19].replace("T", " ") + " UTC"),
        ("time", f"{duration(r.get('duration_s', 0))} wall, {duration(r.get('cpu_s', 0))} CPU, "
                 f"peak memory {decimal(r.get('rss_peak_bytes', 0))}"),
    ]
    error = r.get("error")
    rows.append(("status", f"error: {error['ename']}: {error['evalue']}" if error else str(r.get("status"))))
    rows.append(("hash", short_hashes(str(r.get("hash")))))
    return rows


def _git(part: dict[str, Any]) -> Rows:
    commit = part.get("commit")
    where = f"on {part['branch']}" if part.get("branch") else "detached HEAD"
    rows: Rows = [
        ("commit", f"{commit[:12]} {where}" if commit else f"none yet, {where}"),
        ("tree", "dirty: uncommitted changes" if part.get("dirty") else "clean"),
    ]
    snapshot = part.get("snapshot")
    rows.append(("snapshot", snapshot[:12] if isinstance(snapshot, str) else f"unavailable: {(snapshot or {}).get('unavailable')}"))
    why = {"size": "over the size limit", "secret": "looks like a secret", "written-later": "rewritten after the cell"}
    rows += [("left out", f"{e['path']} ({decimal(e['size'])}, {why.get(e['why'], e['why'])})") for e in part.get("left_out", [])]
    return rows


def _env(part: dict[str, Any]) -> Rows:
    python = part.get("python", "")
    details = [d for d in (part.get("implementation"), part.get("platform")) if d]
    if part.get("virtualenv"):
        details.append("in a virtual environment")
    rows: Rows = [("python", python + (f" ({', '.join(details)})" if details else ""))]
    kernel = part.get("kernel") or {}
    if kernel:
        rows.append(("kernel", _pairs(kernel)))
    rows.append(("imported", _pairs(part.get("imported") or {}) or "none yet (the standard library only)"))
    modules = part.get("local_modules") or {}
    if modules:
        rows.append(("local modules", ", ".join(f"{m} ({p})" for m, p in sorted(modules.items()))))
    drift = part.get("drift") or []
    rows.append(("drift", "; ".join(
        f"{d['name']} {d['imported']} loaded, {d['installed'] or 'nothing'} installed" for d in drift
    ) + " (the kernel runs the loaded one until it restarts)" if drift else "none: what is loaded is what is installed"))
    changed = part.get("changed") or []
    if changed:
        rows.append(("changed", "; ".join(f"{c['name']} {c['before'] or 'absent'} -> {c['after'] or 'removed'}" for c in changed)))
    if "installed" in part:
        rows.append(("installed", f"{len(part['installed'])} distributions (--json lists them)"))
    if "variables" in part:
        rows.append(("variables", ", ".join(f"{k}={v}" for k, v in sorted(part["variables"].items())) or "none of the allowlisted"))
    return rows


def _data(part: list[dict[str, Any]]) -> Rows:
    if not part:
        return [("none", "no file read, written or tracked")]
    rows: Rows = []
    for e in part:
        size = decimal(e.get("size", 0)) + (f" in {e['files']} files" if "files" in e else "")
        seen = "" if e.get("seen_by") in ("track", "open") else f"through {e.get('seen_by')}"
        rows.append((data_verb(e), e["path"], size, short_hashes(e.get("hash", "")), seen))
    return rows


def _seeds(part: dict[str, Any]) -> Rows:
    given = part.get("set") or {}
    rows: Rows = [("set", _pairs(given) or "none in this cell")]
    unseeded = part.get("unseeded") or []
    rows.append(("unseeded", f"drew from {', '.join(unseeded)} without a seed" if unseeded else "no draw from an unseeded generator"))
    before, after = part.get("before") or {}, part.get("after") or {}
    for name, state in sorted(after.items()):
        was = before.get(name)
        change = ("unchanged, " if state == was else f"{short_hashes(was)} -> " if was else "first seen in this cell, ")
        rows.append((f"{name} state", change + short_hashes(state)))
    if "pythonhashseed" in part:
        seed = part["pythonhashseed"]
        rows.append(("PYTHONHASHSEED", "random (unset: str hashes and set order change per process)" if seed == "random" else seed))
    return rows


def _outputs(part: dict[str, Any], blobs: dict[str, dict[str, Any] | None]) -> Rows:
    items = part.get("items") or []
    rows: Rows = []
    for item in items:
        kind = item["kind"] + (f" {item['name']}" if item.get("name") else "")
        blob = blobs.get(item.get("blob") or "")
        if item["kind"] == "error":
            shown = f"{item.get('ename')}: {(blob or {}).get('evalue', '')}".rstrip(": ")
        elif blob is None:
            shown = "content not kept (over the store's outputs budget)" if part.get("truncated") else "content not stored"
        elif item["mime"].startswith("text/") or item["mime"] == "application/json":
            lines = Text.from_ansi(canon.as_text(blob.get("data", ""))).plain.strip().splitlines()
            shown = (lines[0][:70] + (" …" if len(lines) > 1 or len(lines[0]) > 70 else "")) if lines else "(empty)"
        else:  # binary: its size (base64 holds 3 bytes in 4 characters)
            data = canon.as_text(blob.get("data", ""))
            shown = decimal(len(data) * 3 // 4 if item["mime"] in BASE64_MIMES else len(data.encode()))
        rows.append((str(item["output"]), kind, item["mime"], shown))
    if not rows:
        rows.append(("none", "the cell showed nothing"))
    if part.get("streams") is False:
        rows.append(("note", "stdout and stderr were not captured (replaced streams)"))
    return rows


def _hardware(part: dict[str, Any]) -> Rows:
    cores = f"{part.get('cores')} cores"
    known = [f"{part[k]} {k.split('_')[0]}" for k in ("physical_cores", "usable_cores") if k in part]
    rows: Rows = [
        ("cpu", f"{part.get('cpu')}, {cores}" + (f" ({', '.join(known)})" if known else "") + (f", {part['arch']}" if part.get("arch") else "")),
        ("memory", decimal(part.get("memory_bytes") or 0)),
        ("os", str(part.get("os"))),
        ("gpus", ", ".join(str(g.get("name", g)) for g in part.get("gpus") or []) or "none"),
    ]
    blas = part.get("blas")
    if isinstance(blas, dict):
        rows.append(("linear algebra", _blas(blas)))
    threads = part.get("threads")
    if isinstance(threads, dict):
        rows.append(("threads", _pairs(threads, sep="=") or "no thread setting"))
    return rows


def _blas(blas: dict[str, Any]) -> str:
    """threadpoolctl's pools when it was installed, else numpy's build info."""
    if "pools" in blas:
        shown = [f"{p.get('api')} {p.get('version')} ({p.get('library')}, {p.get('threads')} threads)" for p in blas["pools"]]
    else:
        shown = [f"{k} {v.get('name')} {v.get('version') or ''}".rstrip() for k, v in blas.items() if isinstance(v, dict)]
    return "; ".join(shown) or "not known"


def _params(part: dict[str, Any]) -> Rows:
    return [(name, repr(value)) for name, value in sorted(part.items())] or [("none", "no parameters given")]


def _pairs(mapping: dict[str, Any], sep: str = " ") -> str:
    return ", ".join(f"{k}{sep}{v}" for k, v in mapping.items())
