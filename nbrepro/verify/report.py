"""The verify report for people in a terminal (the HTML page is ``verify.html``)."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..record.display import cell_label, print_unpadded, short_hashes
from .verdict import VerifyReport

_STYLE = {"reproduced": "green", "differs": "red", "error": "red", "failed": "red", "not-run": "dim", "skipped": "dim", "new": "yellow"}


def terminal(report: VerifyReport, console: Console) -> None:
    labels = {c["index"]: cell_label(c["execution_count"], c["index"]) for c in report["cells"]}
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("cell", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("causes", overflow="fold")
    for cell in report["cells"]:
        causes = "\n".join(f"{c['kind']}: {_readable(c['detail'], labels)}" for c in cell["causes"])
        style = _STYLE.get(cell["status"], "")
        status = f"{cell['status']}: {_readable(cell['reason'], labels)}" if cell.get("reason") else cell["status"]
        table.add_row(labels[cell["index"]], Text(status, style=style), Text(causes))
    print_unpadded(console, table)
    counts: dict[str, int] = {}
    for cell in report["cells"]:
        counts[cell["status"]] = counts.get(cell["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    console.print(f"recorded side: {escape(report['recorded'])}")
    if "ran_in" in report:
        console.print(f"ran in: {escape(report['ran_in']['detail'])}")
    if report.get("failure"):
        console.print(f"[red]the rerun failed: {escape(report['failure'])}[/]")
    style = "green" if report["verdict"] == "reproduced" else "red"
    console.print(f"[bold {style}]{report['verdict']}[/] ({summary})")


_CELL = re.compile(r"\bcell (\d+)\b")


def _readable(detail: str, labels: dict[int, str]) -> str:
    """A cause as the table shows it: hashes short, and each cell it names labelled as the
    cell column labels it (``via cell 2`` reads ``via cell [2] #2``)."""
    return _CELL.sub(lambda m: f"cell {labels.get(int(m[1]), '#' + m[1])}", short_hashes(detail))

