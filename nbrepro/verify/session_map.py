"""A picture of the recorded session, as inline SVG for the HTML report: the notebook's code
cells top to bottom against the order they ran in, and which cell read or wrote which data
file, so a cell run out of order, run again, or reading a file written later is seen at a glance.

Only SVG elements and text: no script, no style sheet, no external resource. Each mark has a
``<title>``, which a browser shows on hover.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

STATUS_COLOR = {
    "reproduced": "#1a7f37", "differs": "#cf222e", "error": "#cf222e", "failed": "#cf222e", "skipped": "#8c959f",
    "not-run": "#8c959f", "new": "#9a6700",
}
_AMBER = "#d97706"
_FILE = "#0969da"
_MUTED = "#57606a"
_MAX_FILES = 14
_ROW = 24
_LABEL_W = 88


@dataclass(frozen=True)
class Run:
    step: int  # 1 for the session's first cell run
    index: int  # the cell's position in the notebook
    last: bool  # the run whose outputs the session kept
    out_of_order: bool  # ran at or above the cell run before it
    again: bool  # the cell had run before in the session


@dataclass(frozen=True)
class FileUse:
    path: str
    index: int
    mode: str  # "r" or "w"
    flag: str  # why this read may not have seen what a top-to-bottom run sees; "" when none


def runs(order: Sequence[int]) -> list[Run]:
    """Each cell run of ``order`` (notebook positions in the order they ran)."""
    last_step = {index: step for step, index in enumerate(order, 1)}
    out = []
    for step, index in enumerate(order, 1):
        before = order[step - 2] if step > 1 else None
        out.append(Run(
            step=step, index=index, last=last_step[index] == step,
            out_of_order=before is not None and index <= before, again=index in order[: step - 1],
        ))
    return out


def file_uses(data: Mapping[int, Sequence[Mapping[str, Any]]], order: Sequence[int]) -> list[FileUse]:
    """Who read and wrote which file (each cell's last run), each read that another cell's write
    may have changed under it flagged: written after it was read, or by a cell below it (a run
    from the top reads the file before that cell writes it)."""
    step = {index: s for s, index in enumerate(order, 1)}
    writes = [(e["path"], i) for i, entries in data.items() for e in entries if e.get("mode") == "w"]
    uses = []
    for index, entries in sorted(data.items()):
        for entry in entries:
            path, mode = str(entry.get("path", "")), entry.get("mode")
            if mode not in ("r", "w"):
                continue
            flag = ""
            if mode == "r":
                for written, writer in writes:
                    if writer == index or not _covers(path, written):
                        continue
                    if step.get(writer, 0) > step.get(index, 0):
                        flag = f"read at run {step.get(index)}, before cell {writer} wrote {written} at run {step[writer]}"
                    elif writer > index:
                        flag = f"written by cell {writer}, below it: a run from the top reads it first"
                    if flag:
                        break
            uses.append(FileUse(path=path, index=index, mode=mode, flag=flag))
    return uses


def _covers(read: str, written: str) -> bool:
    """A read of ``read`` saw ``written``: the same file, or a folder holding it."""
    return read == written or (read.endswith("/") and written.startswith(read))


def svg(
    rows: Sequence[int], order: Sequence[int], labels: Mapping[int, str], status: Mapping[int, str],
    uses: Sequence[FileUse],
) -> str:
    """The picture: one row per code cell (``rows``, notebook order), one column per cell run
    (``order``), then one column per data file. Rows link to the cells' sections (``#cell-N``)."""
    the_runs = runs(order)
    files = sorted({u.path for u in uses})
    shown, hidden = files[:_MAX_FILES], len(files) - _MAX_FILES
    row_of = {index: r for r, index in enumerate(rows)}
    dx = max(8.0, min(24.0, 480 / max(len(the_runs), 1)))
    x_runs = _LABEL_W + 16
    x_files = x_runs + dx * max(len(the_runs), 1) + (36 if shown else 0)
    # File names stand at 50 degrees above their columns: room above the rows, and to the right.
    label_px = max((min(len(p), 22) for p in shown), default=0) * 6.3
    header = 30 + label_px * 0.77
    width = x_files + 26 * len(shown) + max(label_px * 0.64, 80 if hidden > 0 else 16)
    height = header + _ROW * len(rows) + 8

    def x(step: int) -> float:
        return x_runs + dx * (step - 0.5)

    def y(index: int) -> float:
        return header + _ROW * (row_of[index] + 0.5)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='session-map' role='img' width='{width:.0f}' height='{height:.0f}'"
        f" viewBox='0 0 {width:.0f} {height:.0f}' font-family='system-ui, sans-serif' font-size='11'>",
        "<title>The recorded session: cells in notebook order (rows) against the order they ran in (columns)</title>",
    ]
    for r, index in enumerate(rows):
        top = header + _ROW * r
        if r % 2 == 0:
            parts.append(f"<rect x='0' y='{top}' width='{width:.0f}' height='{_ROW}' fill='#f6f8fa'/>")
        color = STATUS_COLOR.get(status.get(index, ""), _MUTED)
        parts.append(
            f"<a href='#cell-{index}'><text x='8' y='{top + 16}' fill='{color}' font-weight='600'>{_e(labels.get(index, f'#{index}'))}"
            f"<title>cell {_e(labels.get(index, f'#{index}'))}: {_e(status.get(index, 'not compared'))}</title></text></a>"
        )
    parts.append(f"<text x='8' y='14' fill='{_MUTED}'>cell</text>")
    if the_runs:
        parts.append(f"<text x='{x_runs}' y='14' fill='{_MUTED}'>runs, in the order they happened →</text>")
        every = 1 if dx >= 16 else 5
        for run in the_runs:
            if run.step % every == 0 or run.step == 1:
                parts.append(f"<text x='{x(run.step):.1f}' y='{header - 4}' fill='{_MUTED}' text-anchor='middle' font-size='9'>{run.step}</text>")
        for a, b in pairwise(the_runs):
            color = _AMBER if b.out_of_order else "#afb8c1"
            parts.append(
                f"<line x1='{x(a.step):.1f}' y1='{y(a.index):.1f}' x2='{x(b.step):.1f}' y2='{y(b.index):.1f}'"
                f" stroke='{color}' stroke-width='{2 if b.out_of_order else 1.5}'/>"
            )
        for run in the_runs:
            fill = STATUS_COLOR.get(status.get(run.index, ""), _MUTED) if run.last else "#ffffff"
            stroke = _AMBER if run.out_of_order else STATUS_COLOR.get(status.get(run.index, ""), _MUTED)
            what = ["out of order"] if run.out_of_order else []
            what += ["run again"] if run.again else []
            what += [] if run.last else ["its outputs were replaced by a later run"]
            note = f" ({'; '.join(what)})" if what else ""
            parts.append(
                f"<circle cx='{x(run.step):.1f}' cy='{y(run.index):.1f}' r='{5 if run.last else 4}' fill='{fill}'"
                f" stroke='{stroke}' stroke-width='{2.5 if run.out_of_order else 1.5}'>"
                f"<title>run {run.step}: cell {_e(labels.get(run.index, f'#{run.index}'))}{_e(note)}</title></circle>"
            )
    else:
        parts.append(f"<text x='{x_runs}' y='{header + 16}' fill='{_MUTED}'>no recorded runs</text>")
    if shown:
        parts.append(f"<text x='{x_files}' y='14' fill='{_MUTED}'>data files</text>")
    for c, path in enumerate(shown):
        cx = x_files + 26 * c + 13
        label = path if len(path) <= 22 else "…" + path[-21:]
        parts.append(
            f"<text transform='translate({cx + 3:.1f},{header - 6}) rotate(-50)' fill='{_MUTED}'>{_e(label)}<title>{_e(path)}</title></text>"
        )
        here = [u for u in uses if u.path == path and u.index in row_of]
        if len(here) > 1:
            ys = [y(u.index) for u in here]
            parts.append(f"<line x1='{cx}' y1='{min(ys):.1f}' x2='{cx}' y2='{max(ys):.1f}' stroke='#b6d4fe' stroke-width='2'/>")
        for use in here:
            cy = y(use.index)
            who = labels.get(use.index, f"#{use.index}")
            if use.mode == "w":
                parts.append(
                    f"<rect x='{cx - 5}' y='{cy - 5:.1f}' width='10' height='10' fill='{_FILE}'>"
                    f"<title>cell {_e(who)} wrote {_e(path)}</title></rect>"
                )
            else:
                stroke = _AMBER if use.flag else _FILE
                title = f"cell {who} read {path}" + (f": {use.flag}" if use.flag else "")
                parts.append(
                    f"<circle cx='{cx}' cy='{cy:.1f}' r='5' fill='#ffffff' stroke='{stroke}' stroke-width='{2.5 if use.flag else 2}'>"
                    f"<title>{_e(title)}</title></circle>"
                )
    if hidden > 0:
        parts.append(f"<text x='{x_files + 26 * len(shown) + 6}' y='{header + 16}' fill='{_MUTED}'>+{hidden} more</text>")
    parts.append("</svg>")
    return "".join(parts)


def _e(value: Any) -> str:
    return html.escape(str(value))
