"""The verify report as one self-contained HTML page, for a reviewer.

Top to bottom: the verdict; a summary (cells per status, the causes found by kind, a link to
each cell that differs, errs or failed); the recorded session as a picture (``session_map``); the
environment on both sides; then the notebook in its order, markdown rendered, each code cell
with its causes, its recorded and rerun outputs side by side, and the diff.

The page runs and loads nothing. Its Content-Security-Policy allows inline styles and data:
images only. Markdown is rendered by markdown-it with raw HTML escaped. An output's HTML (a
DataFrame) is kept only as the table it holds, rebuilt from an allowlist of table tags and
their text (``tables``): what reaches the page is markup nbrepro wrote. A sandboxed iframe would also
keep scripts out, but the browser would still parse and fetch whatever the output holds, and
without a script the frame cannot take its table's height. Cell sources are redacted.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name

from .._version import __version__
from ..record import outputs as canon
from ..record.compare import IMAGE_MIMES, SKIP_TAG
from ..record.display import cell_label, short_hashes
from ..record.redact import redact
from . import session_map
from .tables import safe_table
from .verdict import CellVerdict, Sides, VerifyReport

if TYPE_CHECKING:
    from .runner import Rerun

_STATUSES = ("failed", "differs", "error", "not-run", "new", "skipped", "reproduced")
_LOOK_AT = ("failed", "differs", "error")  # the summary links each cell of these
_KINDS = ("stamp", "code", "data", "package", "parameters", "seed", "order", "hardware", "nondeterminism")
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_HASH = re.compile(r"\bblake3:[0-9a-f]{64}\b")
_DETAIL = re.compile(r"(?P<hash>\bblake3:[0-9a-f]{64}\b)|\bcell (?P<cell>\d+)\b|(?P<arrow> -> )")
_ORIGIN = re.compile(r"^(?P<via>via )?cell (?P<cell>\d+): ")
_MAX_NOTES = 12
_OPEN_DIFF_LINES = 16
_LEXER = get_lexer_by_name("ipython3")  # IPython's own lexer, registered with pygments
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def page(report: VerifyReport, rerun: Rerun) -> str:
    """The whole page, as text."""
    labels = {c["index"]: cell_label(c["execution_count"], c["index"]) for c in report["cells"]}
    order = rerun.recorded.order or _saved_order(rerun)
    uses = session_map.file_uses({i: f.data for i, f in rerun.recorded.cells.items() if f.data}, order)
    name = Path(report["notebook"]).name
    failure = report.get("failure")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nbrepro verify: {_e(name)} ({_e(report['verdict'])})</title>
<style>{_css()}</style></head><body>
<header class="top">
<div class="brand">nbrepro verify</div>
<h1>{_e(name)} <span class="verdict {_e(report['verdict'])}">{_e(report['verdict'])}</span></h1>
<p class="meta"><span title="the notebook verified">{_e(report['notebook'])}</span> · recorded side: {_e(report['recorded'])}</p>
{f'<p class="failure">The rerun failed: {_e(failure)}</p>' if failure else ''}
{_stamp(report)}
<nav><a href="#summary">Summary</a><a href="#session">Session</a><a href="#environment">Environment</a><a href="#notebook">Notebook</a></nav>
</header>
<main>
{_summary(report, labels)}
{_session(report, rerun, labels, order, uses)}
{_environment(report)}
{_notebook(report, rerun, labels, order, uses)}
</main>
<footer>Written by nbrepro {_e(__version__)}. The same report as JSON: <code>nbrepro verify {_e(name)} --json</code>.</footer>
</body></html>
"""


def _stamp(report: VerifyReport) -> str:
    """The notebook's stamp checked against its seal, when it carries one."""
    stamp = report.get("stamp")
    return f"<p class='stamp {_e(stamp['state'])}'>{_e(stamp['detail'])}</p>" if stamp else ""


# -- summary --------------------------------------------------------------------------------
def _summary(report: VerifyReport, labels: Mapping[int, str]) -> str:
    cells = report["cells"]
    counts = {s: sum(1 for c in cells if c["status"] == s) for s in _STATUSES}
    stats = "".join(
        f"<div class='stat {s}'><b>{n}</b><span>{s}</span></div>" for s, n in counts.items() if n
    ) or "<p class='empty'>no code cells</p>"
    bad = [c for c in cells if c["status"] in _LOOK_AT]
    links = "".join(
        f"<a class='jump {c['status']}' href='#cell-{c['index']}'>{_e(labels[c['index']])}"
        f" <span>{_e(c['status'])}</span></a>"
        for c in bad
    )
    look = f"<div class='jumps'><h3>Cells to look at</h3>{links}</div>" if bad else ""
    return f"""<section id="summary" class="card">
<h2>Summary</h2>
<div class="stats">{stats}</div>
{look}
{_causes_by_kind(cells, labels)}
</section>"""


def _causes_by_kind(cells: Sequence[CellVerdict], labels: Mapping[int, str]) -> str:
    """Every cause found, once per kind and detail, with the cells it was named on and the
    cell it came from (``via cell N``)."""
    groups: dict[tuple[str, str], tuple[set[int], list[int]]] = {}
    for cell in cells:
        for cause in cell["causes"]:
            detail, origin = cause["detail"], cell["index"]
            found = _ORIGIN.match(detail)
            if found:
                origin = int(found["cell"])
                if found["via"]:
                    detail = detail[found.end():]
            origins, named = groups.setdefault((cause["kind"], detail), (set(), []))
            origins.add(origin)
            if cell["index"] not in named:
                named.append(cell["index"])
    if not groups:
        if any(c["status"] in ("differs", "error") for c in cells):
            return "<p class='empty'>No cause could be named: see the recorded side above.</p>"
        if any(c["status"] in ("failed", "not-run") for c in cells):
            return ""  # they have no causes; the failure above says why the rerun stopped
        return "<p class='ok'>Every compared cell reproduced.</p>"
    blocks = []
    for kind in sorted({k for k, _ in groups}, key=lambda k: _KINDS.index(k) if k in _KINDS else len(_KINDS)):
        items = []
        for (k, detail), (origins, named) in groups.items():
            if k != kind:
                continue
            cells_in = ", ".join(_cell_link(i, labels) for i in named)
            sources = sorted(origins - set(named))
            came = f" · from {', '.join(_cell_link(i, labels) for i in sources)}" if sources else ""
            items.append(f"<li><span class='detail'>{_detail(detail, labels)}</span><span class='where'>in {cells_in}{came}</span></li>")
        blocks.append(f"<div class='kind-group'><span class='kind k-{_e(kind)}'>{_e(kind)}</span><ul>{''.join(items)}</ul></div>")
    return f"<div class='causes-found'><h3>Causes found</h3>{''.join(blocks)}</div>"


# -- the session ----------------------------------------------------------------------------
def _session(
    report: VerifyReport, rerun: Rerun, labels: Mapping[int, str], order: list[int], uses: Sequence[session_map.FileUse],
) -> str:
    recorded = rerun.recorded
    status = {c["index"]: c["status"] for c in report["cells"]}
    rows = sorted(set(status) | set(order))
    row_labels = {i: labels.get(i) or cell_label(rerun.nb.cells[i].get("execution_count"), i) for i in rows}
    runs = session_map.runs(order)
    if recorded.order:
        what = f"{len(runs)} runs of {len(set(order))} cells, from the {recorded.source}"
    elif order:
        what = "no recorded session: the order of the saved execution counts"
    else:
        what = "no recorded session and no saved execution counts"
    notes = [
        f"run {r.step}: cell {_cell_link(r.index, row_labels)} after cell {_cell_link(order[r.step - 2], row_labels)}"
        + (", run again" if r.again else "")
        for r in runs if r.out_of_order
    ]
    notes += [
        f"cell {_cell_link(u.index, row_labels)} read <code>{_e(u.path)}</code>: {_detail(u.flag, row_labels)}"
        for u in uses if u.flag
    ]
    if notes:
        more = f"<li>… and {len(notes) - _MAX_NOTES} more</li>" if len(notes) > _MAX_NOTES else ""
        listed = f"<ul class='notes'>{''.join(f'<li>{n}</li>' for n in notes[:_MAX_NOTES])}{more}</ul>"
    elif runs:
        listed = "<p class='ok'>Every cell ran once, top to bottom, and no cell read a file another cell wrote later or below it.</p>"
    else:
        listed = ""
    return f"""<section id="session" class="card">
<h2>Session</h2>
<p class="meta">{_e(what)}{_session_id(report)}</p>
<div class="map">{session_map.svg(rows, order, row_labels, status, uses)}</div>
<p class="legend"><span><i class="g last"></i>a cell's last run, colored by its verdict</span>
<span><i class="g earlier"></i>an earlier run, its outputs replaced</span>
<span><i class="g amber-line"></i>ran at or above the cell run before it</span>
<span><i class="g wrote"></i>wrote the file</span><span><i class="g read"></i>read it</span>
<span><i class="g read stale"></i>read it before a later or lower cell wrote it</span></p>
{listed}
</section>"""


def _session_id(report: VerifyReport) -> str:
    session = report["session"] or {}
    ident = session.get("id")
    return f" · session <code title='{_e(ident)}'>{_e(str(ident)[:8])}</code>" if ident else ""


def _saved_order(rerun: Rerun) -> list[int]:
    """With no recorded order, the one the saved execution counts give (each cell's last run)."""
    counted = [(c.get("execution_count"), i) for i, c in enumerate(rerun.nb.cells) if c.cell_type == "code"]
    return [i for n, i in sorted((n, i) for n, i in counted if isinstance(n, int))]


# -- the environment ------------------------------------------------------------------------
def _environment(report: VerifyReport) -> str:
    env = report["environment"]
    params = env["params"]
    param_rows = [
        (name, repr(params["recorded"][name]) if name in params["recorded"] else None,
         repr(params["rerun"][name]) if name in params["rerun"] else None)
        for name in sorted(set(params["recorded"]) | set(params["rerun"]))
    ]
    data_rows = [(d["path"], d["recorded"], d["rerun"]) for d in env["data"]]
    git = _side_rows(env["git"], ("commit", "branch", "dirty", "snapshot"))
    hardware = _side_rows(env["hardware"], ("cpu", "arch", "cores", "memory_bytes", "os", "gpus", "blas", "threads"))
    packages = [(p["name"], p["recorded"], p["rerun"]) for p in env["packages"]]
    changed = [p for p in packages if p[1] != p[2]]
    same = [p for p in packages if p[1] == p[2]]
    if not packages:
        package_html = "<p class='empty'>no packages recorded</p>"
    else:
        package_html = _table(("distribution", "recorded", "rerun"), changed) if changed else "<p class='ok'>No package changed.</p>"
        if same:
            package_html += f"<details><summary>{len(same)} unchanged</summary>{_table(('distribution', 'recorded', 'rerun'), same)}</details>"
    return f"""<section id="environment" class="card">
<h2>Environment</h2>
<div class="env-grid">
<div><h3>Parameters</h3>{_table(('name', 'recorded', 'rerun'), param_rows, 'no parameters')}</div>
<div><h3>Data files read</h3>{_table(('file', 'recorded', 'rerun'), data_rows, 'no data files read')}</div>
<div><h3>Git</h3>{_table(('', 'recorded', 'rerun'), git, 'not a git project')}</div>
<div><h3>Hardware</h3>{_table(('', 'recorded', 'rerun'), hardware, 'not recorded')}</div>
<div class="wide"><h3>Packages{f" <span class='changed-n'>{len(changed)} changed</span>" if changed else ''}</h3>{package_html}</div>
</div>
</section>"""


def _side_rows(sides: Sides, first: Sequence[str]) -> list[tuple[str, Any, Any]]:
    before, after = sides["recorded"], sides["rerun"]
    keys = [k for k in first if k in before or k in after]
    keys += sorted((set(before) | set(after)) - set(keys))
    return [(k, before.get(k), after.get(k)) for k in keys]


def _table(head: Sequence[str], rows: Iterable[tuple[str, Any, Any]], empty: str = "none") -> str:
    body = "".join(
        f"<tr class='{'changed' if a != b else 'same'}'><th>{_e(_key(name))}</th>"
        f"<td>{_value(name, a)}</td><td>{_value(name, b)}</td></tr>"
        for name, a, b in rows
    )
    if not body:
        return f"<p class='empty'>{_e(empty)}</p>"
    return f"<table class='sides'><thead><tr>{''.join(f'<th>{_e(h)}</th>' for h in head)}</tr></thead><tbody>{body}</tbody></table>"


def _key(name: str) -> str:
    return {"memory_bytes": "memory"}.get(name, name)


def _value(key: str, value: Any) -> str:
    """One value as a cell shows it: hashes short (whole on hover), sizes in GiB, lists joined."""
    if value is None:
        return "<span class='none'>—</span>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "memory_bytes" and isinstance(value, int):
        return f"{value / 2**30:.1f} GiB"
    if isinstance(value, str) and (_HASH.fullmatch(value) or re.fullmatch(r"[0-9a-f]{40,64}", value)):
        short = short_hashes(value) if _HASH.fullmatch(value) else value[:12] + "…"
        return f"<code class='hash' title='{_e(value)}'>{_e(short)}</code>"
    return _e(_plain(key, value)) or "none"


def _plain(key: str, value: Any) -> str:
    """A hardware fact in words: GPUs and BLAS pools by name and version, lists joined."""
    if key == "blas" and isinstance(value, dict):
        if isinstance(value.get("pools"), list):  # threadpoolctl's view
            return "; ".join(
                f"{p.get('api')} {p.get('version')} ({p.get('architecture')}, {p.get('threads')} threads)" for p in value["pools"]
            )
        return "; ".join(" ".join(str(v) for v in part.values() if v) for part in value.values() if isinstance(part, dict))
    if isinstance(value, list):
        return ", ".join(str(v["name"]) if isinstance(v, dict) and "name" in v else _plain(key, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(key, v)}" for k, v in value.items())
    return str(value)


# -- the notebook ---------------------------------------------------------------------------
def _notebook(
    report: VerifyReport, rerun: Rerun, labels: Mapping[int, str], order: list[int], uses: Sequence[session_map.FileUse],
) -> str:
    verdicts = {c["index"]: c for c in report["cells"]}
    executed = {o: c for o, c in zip(rerun.origin, rerun.run_nb.cells, strict=True) if o is not None}
    runs = session_map.runs(order)
    stale = [u for u in uses if u.flag]
    parts = []
    for index, cell in enumerate(rerun.nb.cells):
        if cell.cell_type == "markdown" and cell.source.strip():
            parts.append(f"<div class='markdown'>{_markdown(cell.source)}</div>")
        elif index in verdicts:
            mine = ([r for r in runs if r.index == index], [u for u in stale if u.index == index])
            parts.append(_code_cell(verdicts[index], rerun, executed, labels, *mine))
    return f"<section id='notebook'><h2>Notebook</h2>{''.join(parts)}</section>"


def _code_cell(
    verdict: CellVerdict, rerun: Rerun, executed: Mapping[int, Any], labels: Mapping[int, str],
    runs: Sequence[session_map.Run], stale: Sequence[session_map.FileUse],
) -> str:
    index, status = verdict["index"], verdict["status"]
    facts = rerun.recorded.cells.get(index)
    cell = rerun.nb.cells[index]
    before = facts.outputs if facts is not None and facts.outputs is not None else canon.canonical(cell.get("outputs", []))
    after = canon.canonical(executed[index].get("outputs", [])) if index in executed else []
    flags = []
    if len(runs) > 1:
        flags.append(f"<span class='flag'>ran {len(runs)} times in the recorded session</span>")
    if any(r.out_of_order for r in runs):
        flags.append("<a class='flag amber' href='#session'>ran out of order</a>")
    flags += [f"<a class='flag amber' href='#session' title='{_e(u.flag)}'>stale read: {_e(u.path)}</a>" for u in stale]
    causes = "".join(
        f"<li><span class='kind k-{_e(c['kind'])}'>{_e(c['kind'])}</span> {_detail(c['detail'], labels)}</li>"
        for c in verdict["causes"]
    )
    if status in ("failed", "not-run"):
        # What the rerun printed before it stopped is not the cell's output: the recorded
        # side, and why the rerun has nothing to compare.
        body = _panes(("recorded", "recorded", before)) + f"<p class='note {_e(status)}'>{_e(verdict.get('reason', ''))}</p>"
    elif status in ("differs", "error"):
        body = _panes(("recorded", "recorded", before), ("rerun", "rerun", after))
        if verdict["diff"]:
            # A long diff (a DataFrame's HTML) folds: the panes above already show the change.
            lines = verdict["diff"].count("\n") + 1
            body += (
                f"<details class='diff'{' open' if lines <= _OPEN_DIFF_LINES else ''}><summary>diff, {lines} line{'s' if lines > 1 else ''}</summary>"
                f"<pre class='diff'>{_diff(verdict['diff'])}</pre></details>"
            )
    elif status == "skipped":
        # Not compared, so the rerun's outputs are not shown: they would only tell where the
        # rerun kept its temporary store.
        body = _panes(("recorded", "recorded", before)) + f"<p class='note'>Rerun, not compared: the cell is tagged <code>{_e(SKIP_TAG)}</code>.</p>"
    elif status == "new":
        body = _panes(("rerun", "rerun", after)) + "<p class='note'>No recorded run of this cell to compare with.</p>"
    else:  # reproduced: the recorded outputs stand for both
        body = _panes(("recorded", "output, the same in the rerun", before)) if before else ""

    return f"""<section class="cell {_e(status)}" id="cell-{index}">
<div class="cell-head"><a class="label" href="#cell-{index}">{_e(labels[index])}</a><span class="badge {_e(status)}">{_e(status)}</span>{''.join(flags)}</div>
<pre class="source">{_source(cell.source)}</pre>
{f"<ul class='causes'>{causes}</ul>" if causes else ''}
{body}
</section>"""


def _panes(*sides: tuple[str, str, list[dict[str, Any]]]) -> str:
    """Output panes side by side; each side is (recorded or rerun, its heading, its outputs)."""
    return "<div class='panes'>" + "".join(
        f"<div class='pane {side}'><h3>{_e(title)}</h3>{_outputs(outputs)}</div>" for side, title, outputs in sides
    ) + "</div>"


def _outputs(outputs: list[dict[str, Any]]) -> str:
    """Canonical outputs (already redacted): images, DataFrame tables, markdown, then text."""
    parts = []
    for o in outputs:
        kind = o["output_type"]
        if kind == "stream":
            parts.append(f"<pre class='stream {_e(o['name'])}'>{_e(o['text'])}</pre>")
        elif kind == "error":
            parts.append(f"<pre class='error'>{_e(o['ename'])}: {_e(o['evalue'])}</pre>")
        else:
            data = o.get("data", {})
            image = next((m for m in IMAGE_MIMES if m in data), None)
            table = safe_table(canon.as_text(data["text/html"])) if "text/html" in data and not image else ""
            if image:
                parts.append(f"<img alt='{_e(image)} output' src='data:{image};base64,{_e(canon.as_text(data[image]))}'>")
            elif "image/svg+xml" in data:  # an <img> never runs what an SVG holds
                svg = canon.as_text(data["image/svg+xml"]).encode("utf-8")
                parts.append(f"<img alt='SVG output' src='data:image/svg+xml;base64,{base64.b64encode(svg).decode()}'>")
            elif table:
                parts.append(f"<div class='table'>{table}</div>")
            elif "text/markdown" in data:
                parts.append(f"<div class='markdown'>{_markdown(canon.as_text(data['text/markdown']))}</div>")
            elif "text/plain" in data:
                parts.append(f"<pre>{_e(canon.as_text(data['text/plain']))}</pre>")
            elif data:
                mime = sorted(data)[0]
                parts.append(f"<pre>{_e(mime)}: {_e(canon.as_text(data[mime])[:2000])}</pre>")
    return "".join(parts) or "<p class='empty'>(no output)</p>"


# -- text -----------------------------------------------------------------------------------
def _detail(text: str, labels: Mapping[int, str]) -> str:
    """A cause as the page shows it: hashes short (whole on hover), each cell it names a link
    labelled as the cells are (``[5] #3``), ``->`` an arrow."""
    out, last = [], 0
    for m in _DETAIL.finditer(text):
        out.append(_e(text[last:m.start()]))
        if m["hash"]:
            out.append(f"<code class='hash' title='{m['hash']}'>{_e(short_hashes(m['hash']))}</code>")
        elif m["cell"]:
            out.append(f"cell {_cell_link(int(m['cell']), labels)}")
        else:
            out.append(" → ")
        last = m.end()
    out.append(_e(text[last:]))
    return "".join(out)


def _cell_link(index: int, labels: Mapping[int, str]) -> str:
    return f"<a href='#cell-{index}'>{_e(labels.get(index, f'#{index}'))}</a>"


def _diff(text: str) -> str:
    lines = []
    for line in text.splitlines():
        css = "hunk" if line.startswith("@@") else "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        lines.append(f"<span class='{css}'>{_e(line)}</span>" if css else _e(line))
    return "\n".join(lines)


def _source(text: str) -> str:
    """A cell's source, redacted, highlighted as IPython (magics and shell escapes too)."""
    return str(highlight(redact(text), _LEXER, HtmlFormatter(nowrap=True))).rstrip("\n")


def _markdown(text: str) -> str:
    """Markdown, redacted, as HTML: CommonMark with tables, raw HTML shown as text, and no
    link to a script (markdown-it refuses javascript:, vbscript:, file: and data: links)."""
    return str(_MARKDOWN.render(redact(text)))


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _css() -> str:
    own = resources.files("nbrepro").joinpath("verify/html.css").read_text("utf-8")
    return own + str(HtmlFormatter(style="default").get_style_defs(".source"))
