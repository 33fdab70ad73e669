"""The HTML report's content, from a report and a rerun built as verify builds them: the summary,
the session picture, the environment, the notebook's markdown and tables, and what it must
never show (a secret in a source, the rerun's temporary store, a script)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import nbformat
import pytest
from conftest import assert_report_valid

from nbrepro.notebook.facts import CellFacts, SessionFacts
from nbrepro.record.compare import SKIP_TAG
from nbrepro.record.redact import REDACTED
from nbrepro.verify.html import page
from nbrepro.verify.tables import safe_table
from nbrepro.verify.runner import Rerun

H_IN, H_IN2, H_OUT = "blake3:" + "a" * 64, "blake3:" + "b" * 64, "blake3:" + "c" * 64
COMMIT, SNAPSHOT = "0123456789abcdef" * 2 + "01234567", "fedcba9876543210" * 2 + "76543210"
SECRET = "hunter2-very-secret"
TEMP_STORE = "/tmp/nbrepro-verify-k3x9q/nbrepro.db"
FRAME = (
    "<div><style scoped>.dataframe tbody tr th { vertical-align: top; }</style>"
    "<table border='1' class='dataframe' onclick='alert(1)'><thead><tr><th></th><th colspan='1'>x</th></tr></thead>"
    "<tbody><tr><th>0</th><td>1</td></tr><tr><th>1</th><td><a href='https://example.com/x'>2</a>"
    "<script>alert(2)</script></td></tr></tbody></table><p>2 rows \u00d7 1 columns</p></div>"
)
MARKDOWN = "# Analysis <script>alert('md')</script>\n\nReads **data/in.csv** and <b>raw</b> HTML."
# (source, tags, execution count, recorded outputs, rerun outputs)
CELLS: list[tuple[str, list[str], int | None, list[dict[str, Any]], list[dict[str, Any]]]] = [
    ("%load_ext nbrepro", [], 1, [], []),
    ("n = 3", ["parameters"], 2, [], []),
    ("import pandas as pd\ndf = pd.read_csv('data/in.csv')\ndf", [], 3,
     [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
       "data": {"text/html": FRAME, "text/plain": "   x\n0  1\n1  2"}}],
     [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
       "data": {"text/html": FRAME.replace("<td>1</td>", "<td>7</td>"), "text/plain": "   x\n0  7\n1  2"}}]),
    (f'api_token = "{SECRET}"\nprint(n)', [], 5,
     [{"output_type": "stream", "name": "stdout", "text": "3\n"}], [{"output_type": "stream", "name": "stdout", "text": "3\n"}]),
    ("%nbrepro status", [SKIP_TAG], 6,
     [{"output_type": "stream", "name": "stdout", "text": "store  .nbrepro/nbrepro.db\n"}],
     [{"output_type": "stream", "name": "stdout", "text": f"store  {TEMP_STORE}\n"}]),
    ("df.to_csv('data/out.csv')", [], 7, [], []),
    ("print(open('data/out.csv').read()[:9])", [], 4,
     [{"output_type": "stream", "name": "stdout", "text": ",x\n0,1\n1,2\n"}],
     [{"output_type": "error", "ename": "FileNotFoundError", "evalue": "data/out.csv", "traceback": []}]),
]
ORDER = [1, 2, 3, 7, 4, 5, 6]  # cell 7 ran before cell 4, and before cell 6 wrote the file it reads
DATA = {3: [{"path": "data/in.csv", "hash": H_IN, "mode": "r"}], 6: [{"path": "data/out.csv", "hash": H_OUT, "mode": "w"}],
        7: [{"path": "data/out.csv", "hash": H_OUT, "mode": "r"}]}


def built() -> tuple[dict[str, Any], Rerun]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MARKDOWN)])
    for source, tags, count, outputs, _ in CELLS:
        cell = nbformat.v4.new_code_cell(source, execution_count=count, outputs=outputs)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    run_nb = copy.deepcopy(nb)
    for cell, (*_, rerun_outputs) in zip(run_nb.cells[1:], CELLS, strict=True):
        cell.outputs = rerun_outputs
    recorded = SessionFacts(source="store", session_id="315b1a18" + "0" * 24, order=ORDER)
    for index in ORDER:
        recorded.cells[index] = CellFacts(index=index, data=DATA.get(index, []))
    via = {"kind": "data", "detail": f"via cell 3: data/in.csv: {H_IN} -> {H_IN2}"}
    cells = [
        {"index": i + 1, "execution_count": count, "cell_id": nb.cells[i + 1].id, "causes": [], "diff": "",
         "status": "skipped" if SKIP_TAG in tags else "reproduced"}
        for i, (_, tags, count, *_) in enumerate(CELLS)
    ]
    cells[2].update(status="differs", diff="output 0 (execute_result text/plain):\n-0  1\n+0  7", causes=[
        {"kind": "data", "detail": f"data/in.csv: {H_IN} -> {H_IN2}"}, {"kind": "package", "detail": "pandas: 2.3.3 -> 3.1.1"}])
    cells[6].update(status="error", diff="output 0: stream -> error", causes=[
        via, {"kind": "order", "detail": "recorded order of cell runs: 1, 2, 3, 7, 4, 5, 6"}])
    report = {
        "schema": "nbrepro.verify/1", "notebook": "work/analysis.ipynb", "verdict": "differs",
        "recorded": "store .nbrepro, session 315b1a18, found by content: 7 of 7 cells",
        "session": {"id": recorded.session_id, "matched_by": "content", "cells": 7, "of": 7, "description": "by content"},
        "cells": cells,
        "environment": {
            "packages": [{"name": "numpy", "recorded": "2.4.6", "rerun": "2.4.6"},
                         {"name": "pandas", "recorded": "2.3.3", "rerun": "3.1.1"}],
            "data": [{"path": "data/in.csv", "recorded": H_IN, "rerun": H_IN2}],
            "git": {"recorded": {"commit": COMMIT, "branch": "main", "dirty": False, "snapshot": SNAPSHOT},
                    "rerun": {"commit": COMMIT, "branch": "main", "dirty": True, "snapshot": None}},
            "hardware": {"recorded": {"cpu": "Xeon", "cores": 8, "memory_bytes": 16 * 2**30},
                         "rerun": {"cpu": "Xeon", "cores": 2, "memory_bytes": 16 * 2**30}},
            "params": {"recorded": {"n": 3}, "rerun": {"n": 5}},
        },
    }
    return assert_report_valid(report), Rerun(nb, run_nb, list(range(len(nb.cells))), recorded)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        found = []
        for child in self.children:
            if isinstance(child, Element):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.attrs.get("class", "").split()):
                    found.append(child)
                found.extend(child.all(tag, cls))
        return found

    def by_id(self, ident: str) -> Element:
        (match,) = [e for e in self.all() if e.attrs.get("id") == ident]
        return match


class _Tree(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "hr", "input", "link"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(text: str) -> Element:
    tree = _Tree()
    tree.feed(text)
    tree.close()
    return tree.root


@pytest.fixture(scope="module")
def html() -> str:
    report, rerun = built()
    return page(report, rerun)


@pytest.fixture(scope="module")
def doc(html: str) -> Element:
    return parse(html)


def test_the_summary_counts_each_status_and_links_each_cell_to_look_at(doc: Element) -> None:
    summary = doc.by_id("summary")
    counts = {s.all("span")[0].text: int(s.all("b")[0].text) for s in summary.all(cls="stat")}
    assert counts == {"differs": 1, "error": 1, "reproduced": 4, "skipped": 1}
    jumps = summary.all("a", cls="jump")
    assert [j.attrs["href"] for j in jumps] == ["#cell-3", "#cell-7"]
    assert [j.text for j in jumps] == ["[3] #3 differs", "[4] #7 error"]
    assert [doc.by_id(j.attrs["href"][1:]).attrs["class"] for j in jumps] == ["cell differs", "cell error"]


def test_the_causes_found_are_grouped_by_kind_each_named_once(doc: Element) -> None:
    groups = {g.all(cls="kind")[0].text: g for g in doc.by_id("summary").all(cls="kind-group")}
    assert list(groups) == ["data", "package", "order"]
    (data,) = groups["data"].all("li")  # named on cell 3 itself and on cell 7 via cell 3: one entry
    assert data.all(cls="detail")[0].text == "data/in.csv: blake3:aaaaaaaaaaaa… → blake3:bbbbbbbbbbbb…"
    assert [a.attrs["href"] for a in data.all(cls="where")[0].all("a")] == ["#cell-3", "#cell-7"]
    assert [c.attrs["title"] for c in data.all("code")] == [H_IN, H_IN2]
    assert "pandas: 2.3.3 → 3.1.1" in groups["package"].text


def test_the_environment_shows_both_sides_with_changes_highlighted(doc: Element) -> None:
    env = doc.by_id("environment")
    rows = {(r.all("th")[0].text, r.attrs["class"]): [td.text for td in r.all("td")] for r in env.all("tr") if r.all("td")}
    assert rows[("pandas", "changed")] == ["2.3.3", "3.1.1"]
    assert rows[("numpy", "same")] == ["2.4.6", "2.4.6"]  # in the unchanged packages, folded
    assert rows[("data/in.csv", "changed")] == ["blake3:aaaaaaaaaaaa…", "blake3:bbbbbbbbbbbb…"]
    assert rows[("commit", "same")] == ["0123456789ab…"] * 2
    assert rows[("dirty", "changed")] == ["no", "yes"]
    assert rows[("snapshot", "changed")] == ["fedcba987654…", "—"]
    assert rows[("cores", "changed")] == ["8", "2"]
    assert rows[("memory", "same")] == ["16.0 GiB", "16.0 GiB"]
    assert rows[("n", "changed")] == ["3", "5"]
    assert [c.attrs["title"] for c in env.all("code", cls="hash")][:2] == [H_IN, H_IN2]


def test_the_session_picture_shows_the_out_of_order_run_and_the_stale_read(doc: Element) -> None:
    session = doc.by_id("session")
    (svg,) = session.all("svg")
    rows = [a.attrs["href"] for a in svg.all("a")]
    assert rows == [f"#cell-{i}" for i in range(1, 8)]  # notebook order
    runs = [t.text for t in svg.all("title") if t.text.startswith("run ")]
    assert len(runs) == len(ORDER) and runs[4] == "run 5: cell [5] #4 (out of order)"
    assert any(t.text.startswith("cell [4] #7 read data/out.csv: read at run 4, before cell 6 wrote") for t in svg.all("title"))
    notes = [li.text for li in session.all("ul", cls="notes")[0].all("li")]
    assert notes[0] == "run 5: cell [5] #4 after cell [4] #7"
    assert notes[1].startswith("cell [4] #7 read data/out.csv: read at run 4, before cell [7] #6 wrote data/out.csv at run 7")
    assert [a.text for a in doc.by_id("cell-4").all("a", cls="flag")] == ["ran out of order"]
    (stale,) = doc.by_id("cell-7").all("a", cls="flag")
    assert stale.text == "stale read: data/out.csv" and stale.attrs["href"] == "#session"


def test_the_notebook_is_shown_in_order_with_markdown_rendered_and_raw_html_escaped(doc: Element, html: str) -> None:
    notebook = doc.by_id("notebook")
    shown = [e.attrs.get("id") or "markdown" for e in notebook.children if isinstance(e, Element) and e.tag != "h2"]
    assert shown == ["markdown", *(f"cell-{i}" for i in range(1, 8))]
    (markdown,) = notebook.all(cls="markdown")
    assert markdown.all("h1")[0].text == "Analysis <script>alert('md')</script>"
    assert markdown.all("strong")[0].text == "data/in.csv"
    assert "<b>raw</b> HTML" in markdown.text and not markdown.all("b")
    assert "&lt;script&gt;alert('md')&lt;/script&gt;" in html


def test_a_dataframe_is_its_table_with_nothing_but_table_markup(doc: Element) -> None:
    recorded, rerun = (doc.by_id("cell-3").all(cls="pane")[i].all("table")[0] for i in (0, 1))
    assert [td.text for td in recorded.all("td")] == ["1", "2"] and [td.text for td in rerun.all("td")] == ["7", "2"]
    assert {e.tag for e in recorded.all()} == {"thead", "tbody", "tr", "th", "td"}
    assert all(not e.attrs or set(e.attrs) == {"colspan"} for e in recorded.all()) and recorded.attrs == {}
    assert "alert" not in recorded.text and "rows" not in recorded.text
    assert safe_table("<p>not a table</p>") == ""


def test_nothing_runs_or_loads_and_no_secret_or_temporary_store_is_shown(doc: Element, html: str) -> None:
    assert SECRET not in html and REDACTED in doc.by_id("cell-4").all("pre", cls="source")[0].text
    assert TEMP_STORE not in html and "nbrepro-verify-" not in html
    skipped = doc.by_id("cell-5")
    assert [p.attrs["class"] for p in skipped.all(cls="pane")] == ["pane recorded"]
    assert ".nbrepro/nbrepro.db" in skipped.text and "not compared" in skipped.text
    elements = doc.all()
    assert not [e.tag for e in elements if e.tag in ("script", "iframe", "object", "embed", "link", "base", "form")]
    assert not [k for e in elements for k in e.attrs if k.startswith("on")]
    assert all(e.attrs["src"].startswith("data:") for e in elements if "src" in e.attrs)
    assert all(e.attrs["href"].startswith("#") for e in elements if "href" in e.attrs)
    (csp,) = [e for e in elements if e.tag == "meta" and e.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp.attrs["content"]


def test_a_stopped_rerun_shows_why_and_only_the_recorded_side_of_the_cells_it_stopped_at() -> None:
    report, rerun = built()
    report.update(verdict="failed", failure="CellTimeoutError: a cell timed out",
                  stamp={"state": "altered", "detail": "stamp altered: cell 3's stamp was edited"})
    report["cells"][6].update(status="failed", reason="timeout after 1 s", causes=[], diff="")
    doc = parse(page(assert_report_valid(report), rerun))
    assert doc.all(cls="failure")[0].text == "The rerun failed: CellTimeoutError: a cell timed out"
    assert doc.all(cls="stamp")[0].text == "stamp altered: cell 3's stamp was edited"
    assert [j.attrs["href"] for j in doc.by_id("summary").all("a", cls="jump")] == ["#cell-3", "#cell-7"]
    stopped = doc.by_id("cell-7")
    assert [p.attrs["class"] for p in stopped.all(cls="pane")] == ["pane recorded"]
    assert stopped.all("p", cls="note")[0].text == "timeout after 1 s"


def test_without_a_recorded_session_the_picture_follows_the_saved_execution_counts() -> None:
    report, rerun = built()
    facts = SessionFacts(source="outputs")
    report.update(session=None, recorded="saved outputs only, so causes cannot be named: no session")
    doc = parse(page(assert_report_valid(report), Rerun(rerun.nb, rerun.run_nb, rerun.origin, facts)))
    session = doc.by_id("session")
    assert session.all("p", cls="meta")[0].text == "no recorded session: the order of the saved execution counts"
    runs = [t.text for t in session.all("title") if t.text.startswith("run ")]
    by_count = sorted((count, i + 1) for i, (_, _, count, *_) in enumerate(CELLS))
    assert runs == [f"run {n}: cell [{count}] #{i}" + (" (out of order)" if (count, i) == (5, 4) else "")
                    for n, (count, i) in enumerate(by_count, 1)]
