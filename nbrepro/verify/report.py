"""The verify report for people: a terminal table, and one self-contained HTML page."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from ..record import outputs as canon
from ..record.compare import IMAGE_MIMES
from .verdict import VerifyReport

if TYPE_CHECKING:
    from .runner import Rerun

_STYLE = {"reproduced": "green", "differs": "red", "error": "red", "skipped": "dim", "new": "yellow"}


def terminal(report: VerifyReport, console: Console) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("cell", "status", "causes"):
        table.add_column(name, overflow="fold")
    for cell in report["cells"]:
        causes = "\n".join(f"{c['kind']}: {c['detail']}" for c in cell["causes"])
        style = _STYLE.get(cell["status"], "")
        table.add_row(str(cell["index"]), f"[{style}]{cell['status']}[/]", causes)
    console.print(table)
    counts: dict[str, int] = {}
    for cell in report["cells"]:
        counts[cell["status"]] = counts.get(cell["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    console.print(f"recorded side: {report['recorded']}")
    if report.get("failure"):
        console.print(f"[red]the rerun failed: {report['failure']}[/]")
    style = "green" if report["verdict"] == "reproduced" else "red"
    console.print(f"[bold {style}]{report['verdict']}[/] ({summary})")


def html_page(report: VerifyReport, rerun: Rerun) -> str:
    """One page, no external resources: side-by-side outputs (images too), diffs and causes."""
    nb, recorded = rerun.nb, rerun.recorded
    executed = {o: c for o, c in zip(rerun.origin, rerun.run_nb.cells, strict=True) if o is not None}
    rows = []
    for cell in report["cells"]:
        index = cell["index"]
        facts = recorded.cells.get(index)
        before = facts.outputs if facts is not None and facts.outputs is not None else canon.canonical(nb.cells[index].get("outputs", []))
        after = canon.canonical(executed[index].get("outputs", [])) if index in executed else []
        causes = "".join(f"<li><b>{_e(c['kind'])}</b>: {_e(c['detail'])}</li>" for c in cell["causes"])
        diff = f"<pre class='diff'>{_e(cell['diff'])}</pre>" if cell["diff"] else ""
        rows.append(
            f"<section class='cell {cell['status']}' id='cell-{index}'>"
            f"<h2>cell {index} <span class='badge'>{_e(cell['status'])}</span></h2>"
            f"<pre class='source'>{_e(nb.cells[index].source)}</pre>"
            + (f"<ul class='causes'>{causes}</ul>" if causes else "")
            + "<div class='panes'>"
            f"<div class='pane recorded'><h3>recorded</h3>{_outputs(before)}</div>"
            f"<div class='pane rerun'><h3>rerun</h3>{_outputs(after)}</div>"
            "</div>" + diff + "</section>"
        )
    env = report["environment"]
    packages = "".join(
        f"<tr class='{'changed' if p['recorded'] != p['rerun'] else ''}'><td>{_e(p['name'])}</td>"
        f"<td>{_e(p['recorded'])}</td><td>{_e(p['rerun'])}</td></tr>"
        for p in env["packages"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>nbrepro verify: {_e(report['notebook'])}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #1d1d1f; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.05rem; margin: 0 0 .4rem; }} h3 {{ font-size: .85rem; margin: 0 0 .3rem; color: #555; }}
.verdict {{ font-weight: 600; padding: .15rem .5rem; border-radius: 4px; }}
.verdict.reproduced, .reproduced .badge {{ background: #dff5e1; color: #12631f; }}
.verdict.differs, .verdict.failed, .differs .badge, .error .badge {{ background: #fde2e1; color: #8a1c14; }}
.skipped .badge, .new .badge {{ background: #eee; color: #555; }}
.badge {{ font-size: .8rem; padding: .1rem .4rem; border-radius: 4px; }}
section.cell {{ border: 1px solid #ddd; border-radius: 6px; padding: .8rem; margin: 1rem 0; }}
section.differs, section.error {{ border-color: #e5a19b; }}
pre {{ background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; margin: .3rem 0; }}
.panes {{ display: flex; gap: .8rem; }} .pane {{ flex: 1; min-width: 0; border: 1px solid #eee; padding: .4rem; }}
.pane img {{ max-width: 100%; }}
.diff {{ background: #fff8e6; }} .causes {{ margin: .3rem 0; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #eee; padding: .2rem .6rem; text-align: left; }}
tr.changed td {{ background: #fff3cd; }}
</style></head><body>
<h1>nbrepro verify: {_e(report['notebook'])} <span class="verdict {report['verdict']}">{_e(report['verdict'])}</span></h1>
<p>Recorded side: {_e(report['recorded'])}.{' Rerun failed: ' + _e(report['failure']) if report.get('failure') else ''}</p>
{''.join(rows)}
<h2>Packages</h2><table><tr><th>distribution</th><th>recorded</th><th>rerun</th></tr>{packages}</table>
</body></html>
"""


def _outputs(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for o in outputs:
        kind = o["output_type"]
        if kind == "stream":
            parts.append(f"<pre class='stream {o['name']}'>{_e(o['text'])}</pre>")
        elif kind == "error":
            parts.append(f"<pre class='error'>{_e(o['ename'])}: {_e(o['evalue'])}</pre>")
        else:
            data = o.get("data", {})
            image = next((m for m in IMAGE_MIMES if m in data), None)
            if image:
                parts.append(f"<img alt='{_e(image)} output' src='data:{image};base64,{_e(canon.as_text(data[image]))}'>")
            elif "text/plain" in data:
                parts.append(f"<pre>{_e(canon.as_text(data['text/plain']))}</pre>")
            elif data:
                mime = sorted(data)[0]
                parts.append(f"<pre>{_e(mime)}: {_e(canon.as_text(data[mime])[:2000])}</pre>")
    return "".join(parts) or "<p class='empty'>(no output)</p>"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))
