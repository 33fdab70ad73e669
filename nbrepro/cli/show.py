"""``nbrepro show``: one record, with its environment and hardware expanded."""

from __future__ import annotations

import json

import click
from rich.pretty import Pretty

from ._common import console, open_project_store


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the expanded record as JSON.")
def show(run_id: str, as_json: bool) -> None:
    """Show the run whose id starts with RUN_ID."""
    store, _root, _rel = open_project_store()
    try:
        record = store.expand(store.get(run_id))
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    out = console()
    cell = record.get("cell") or {}
    out.print(f"run {record['run_id']}  (seq {record.get('seq')}, session {record['session_id'][:8]})")
    out.print(f"notebook {(record.get('notebook') or {}).get('path') or '-'}, "
              f"cell [{cell.get('execution_count')}] id {cell.get('id') or '-'} index {cell.get('index')}")
    out.print(f"started {record.get('started_at')}  {record.get('duration_s')} s wall, "
              f"{record.get('cpu_s')} s cpu, peak RSS {record.get('rss_peak_bytes', 0) / 2**20:.1f} MiB")
    out.print(f"status {record.get('status')}" + (f": {record['error']['ename']}: {record['error']['evalue']}" if record.get("error") else ""))
    out.rule("source")
    out.print(cell.get("source", ""), markup=False, highlight=False)
    for part in ("git", "env", "hardware"):
        out.rule(part)
        out.print(Pretty(record.get(part), max_length=40))
