"""The reviewer's HTML report, rendered by headless Chromium. A notebook with markdown, a table,
a plot and a file one cell writes and another reads is recorded as a person runs it (one cell
out of order, one run again), its data then changed, and verified with ``--html``: the page
must open on a summary of what differs and why, picture the session, show the environment,
the notebook's story and its DataFrame as a table, and the recorded and rerun plots side by
side; it loads nothing and runs nothing."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbrepro.notebook import kernel
from nbrepro.record.compare import SKIP_TAG

from .conftest import git, isolated_env, screenshot_path

pytestmark = pytest.mark.e2e

MARKDOWN = {
    0: "# Points\n\nA small look at `data/points.csv`: its mean, a table, a plot, and a summary file.",
    5: "## The plot\n\nThe points in order of *x*. <b>Raw HTML</b> stays text.",
}
CODE = {
    1: "%load_ext nbrepro",
    2: "import csv\nwith open('data/points.csv') as fh:\n    points = [(float(x), float(y)) for x, y in csv.reader(fh)]",
    3: "ys = [y for _, y in points]\nprint(f'{len(points)} points, mean y {sum(ys) / len(ys):.3f}, max y {max(ys):.1f}')",
    4: "import pandas as pd\n\npd.DataFrame(points, columns=['x', 'y']).describe().loc[['mean', 'max']]",
    6: "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(4, 2.6), dpi=80)\n"
       "ax.plot(*zip(*points), marker='o')\nax.set_title('points.csv')\nplt.show()",
    7: "with open('data/summary.txt', 'w') as fh:\n    fh.write(f'max y {max(ys)}\\n')",
    8: "print(open('data/summary.txt').read())",
    9: "%nbrepro status",
}
# As a person ran it: cell 8 read the summary before cell 7 rewrote it, then cell 3 ran again.
ORDER = [1, 2, 3, 4, 6, 8, 7, 3, 9]
POINTS = "".join(f"{x},{y}\n" for x, y in [(0, 1.0), (1, 2.5), (2, 2.0), (3, 3.5), (4, 3.0)])
PLOT, TABLE, STALE, SKIPPED = 6, 4, 8, 9


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """The notebook recorded through nbclient in ``ORDER``, saved with each cell's last outputs
    (as Jupyter saves it), its data then changed, verified to HTML; (page, JSON, HEAD)."""
    base = tmp_path_factory.mktemp("report")
    env = isolated_env(base / "env")
    root = base / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "points.csv").write_text(POINTS)
    (root / "data" / "summary.txt").write_text("max y 3.0\n")  # from an earlier day
    cells = [nbformat.v4.new_markdown_cell(MARKDOWN[i]) if i in MARKDOWN else nbformat.v4.new_code_cell(CODE[i])
             for i in range(len(MARKDOWN) + len(CODE))]
    cells[SKIPPED].metadata["tags"] = [SKIP_TAG]
    nb = nbformat.v4.new_notebook(cells=cells)
    path = root / "points.ipynb"
    nbformat.write(nb, path)
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "points")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, env=env, capture_output=True, text=True, check=True).stdout.strip()
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # plots into the notebook
    session = kernel.execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CODE[i]) for i in ORDER]), root, env=env)
    for index, ran in zip(ORDER, session.cells, strict=True):
        nb.cells[index].outputs, nb.cells[index].execution_count = ran.outputs, ran.execution_count
    assert any("image/png" in o.get("data", {}) for o in nb.cells[PLOT].outputs), "the recorded run drew no plot"
    nbformat.write(nb, path)
    (root / "data" / "points.csv").write_text(POINTS.replace("3,3.5", "3,9.5"))
    html = base / "report.html"
    done = subprocess.run([sys.executable, "-m", "nbrepro", "verify", "points.ipynb", "--json", "--html", str(html)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    result = json.loads(done.stdout)
    assert done.returncode == 1 and result["verdict"] == "differs", result
    return html, result, head


@pytest.fixture
def page(report: tuple[Path, dict[str, Any], str], browser: Any) -> Any:
    """The report open in Chromium, every request it makes noted in ``page.requests``."""
    page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto(report[0].as_uri())
    yield page
    page.close()


def label(index: int) -> str:
    """A cell as the page names it: the execution count of its last run in ``ORDER``, its position."""
    return f"[{len(ORDER) - ORDER[::-1].index(index)}] #{index}"


def box(locator: Any) -> dict[str, float]:
    """The element's box in page coordinates (those of a full-page screenshot)."""
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; }"
    )


def test_the_report_shows_recorded_and_rerun_plots_side_by_side(
    report: tuple[Path, dict[str, Any], str], page: Any, tmp_path: Path,
) -> None:
    from PIL import Image, ImageChops, ImageStat

    _html, result, _head = report
    statuses = {c["index"]: c["status"] for c in result["cells"]}
    assert statuses[3] == "differs" and statuses[PLOT] == "differs", statuses
    assert page.locator("h1 .verdict.differs").inner_text() == "differs"
    for index in (3, PLOT):
        section = page.locator(f"section#cell-{index}.differs")
        assert section.locator(".panes .pane.recorded").count() == 1
        assert section.locator(".panes .pane.rerun").count() == 1
        assert section.locator("pre.diff").count() == 1
        assert "data/points.csv" in section.locator("ul.causes").inner_text()
    assert "9.5" in page.locator("section#cell-3 .pane.rerun").inner_text()
    images = [page.locator(f"section#cell-{PLOT} .pane.{side} img") for side in ("recorded", "rerun")]
    assert [i.count() for i in images] == [1, 1]
    assert all(i.evaluate("e => e.complete && e.naturalWidth > 0") for i in images), "an image did not decode"
    left, right = (box(i) for i in images)
    assert min(left["width"], left["height"], right["width"], right["height"]) > 50
    assert left["x"] + left["width"] <= right["x"], "the rerun plot is not to the right of the recorded one"
    assert left["y"] < right["y"] + right["height"] and right["y"] < left["y"] + left["height"], "not on one row"

    shot = screenshot_path(tmp_path, "verify-report.png")
    page.screenshot(path=str(shot), full_page=True)
    top = screenshot_path(tmp_path, "verify-report-summary.png")  # what a reviewer sees first
    page.screenshot(path=str(top), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": box(page.locator("#environment"))["y"]})
    with Image.open(shot) as full:
        image = full.convert("RGB")
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20, "the screenshot is blank"
    crops = [image.crop((round(b["x"]), round(b["y"]), round(b["x"] + b["width"]), round(b["y"] + b["height"])))
             for b in (left, right)]
    for crop in crops:
        assert ImageStat.Stat(crop.convert("L")).stddev[0] > 10, "a plot is blank in the screenshot"
    same = crops[0].size == crops[1].size and ImageChops.difference(*crops).getbbox() is None
    assert not same, "the recorded and rerun plots look the same"


def test_the_page_opens_on_counts_causes_and_links_to_each_differing_cell(
    report: tuple[Path, dict[str, Any], str], page: Any,
) -> None:
    _html, result, _head = report
    counts: dict[str, int] = {}
    for cell in result["cells"]:
        counts[cell["status"]] = counts.get(cell["status"], 0) + 1
    stats = page.locator("#summary .stat")
    shown = {stats.nth(i).locator("span").inner_text(): int(stats.nth(i).locator("b").inner_text()) for i in range(stats.count())}
    assert shown == counts
    summary = box(page.locator("#summary"))
    assert summary["y"] + summary["height"] < box(page.locator("#notebook"))["y"], "the summary is not at the top"
    bad = [c["index"] for c in result["cells"] if c["status"] in ("differs", "error")]
    jumps = page.locator("#summary a.jump")
    assert [jumps.nth(i).get_attribute("href") for i in range(jumps.count())] == [f"#cell-{i}" for i in bad]
    jumps.nth(jumps.count() - 1).click()  # the last one: far down the page
    target = page.locator(f"section#cell-{bad[-1]}")
    assert page.evaluate("location.hash") == f"#cell-{bad[-1]}"
    assert abs(target.evaluate("e => e.getBoundingClientRect().top")) < 2, "the link did not bring its cell to the top"
    found = page.locator("#summary .kind-group").all_inner_texts()
    assert any(text.startswith("data") and "data/points.csv" in text for text in found), found


def test_the_session_is_pictured_with_its_out_of_order_run_and_stale_read(page: Any) -> None:
    from PIL import Image, ImageStat

    svg = page.locator("#session svg")
    assert svg.is_visible() and box(svg)["width"] > 200
    titles = svg.locator("title").all_text_contents()
    assert [t for t in titles if t.startswith("run ")][7] == f"run 8: cell {label(3)} (out of order; run again)"
    assert page.locator("#session ul.notes li").all_inner_texts() == [
        f"run 7: cell {label(7)} after cell {label(STALE)}",
        f"run 8: cell {label(3)} after cell {label(7)}, run again",
        f"cell {label(STALE)} read data/summary.txt: read at run 6, before cell {label(7)} wrote data/summary.txt at run 7",
    ]
    assert page.locator(f"section#cell-{STALE} .cell-head a.flag").inner_text() == "stale read: data/summary.txt"
    with Image.open(io.BytesIO(page.locator("#session .map").screenshot())) as image:
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 10, "the session picture is blank"


def test_the_environment_shows_data_git_hardware_and_packages(report: tuple[Path, dict[str, Any], str], page: Any) -> None:
    _html, result, head = report
    env = page.locator("#environment")
    points = env.locator("tr", has_text="data/points.csv")
    assert points.get_attribute("class") == "changed"
    recorded = next(d["recorded"] for d in result["environment"]["data"] if d["path"] == "data/points.csv")
    assert points.locator("td").first.inner_text() == recorded[: len("blake3:") + 12] + "…"
    assert points.locator("td code").first.get_attribute("title") == recorded
    assert env.locator("tr", has_text="commit").locator("td").first.inner_text() == head[:12] + "…"
    assert int(env.locator("tr", has_text="cores").locator("td").first.inner_text()) >= 1
    env.locator("details summary").click()
    names = env.locator("tbody th").all_inner_texts()
    assert {"pandas", "matplotlib", "numpy"} <= set(names), names


def test_the_notebook_reads_in_order_with_markdown_and_the_dataframe_as_a_table(page: Any) -> None:
    blocks = page.locator("#notebook > .markdown, #notebook > section.cell")
    ids = [blocks.nth(i).get_attribute("id") or "markdown" for i in range(blocks.count())]
    assert ids == ["markdown", *(f"cell-{i}" for i in range(1, 5)), "markdown", *(f"cell-{i}" for i in range(6, 10))]
    first = page.locator("#notebook > .markdown").first
    assert first.locator("h1").inner_text() == "Points" and first.locator("code").inner_text() == "data/points.csv"
    second = page.locator("#notebook > .markdown").nth(1)
    assert "<b>Raw HTML</b> stays text." in second.inner_text() and second.locator("b").count() == 0
    for side in ("recorded", "rerun"):
        table = page.locator(f"section#cell-{TABLE} .pane.{side} table")
        assert table.count() == 1 and table.locator("tbody tr").count() == 2
        assert table.locator("tbody th").all_inner_texts() == ["mean", "max"]
    assert page.locator(f"section#cell-{TABLE} .pane.rerun td").all_inner_texts() != page.locator(
        f"section#cell-{TABLE} .pane.recorded td").all_inner_texts()


def test_the_page_loads_nothing_hides_the_rerun_store_and_has_the_umask_mode(
    report: tuple[Path, dict[str, Any], str], page: Any,
) -> None:
    html, _result, _head = report
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []
    assert page.locator("script, iframe, object, embed, link").count() == 0
    text = html.read_text()
    assert "nbrepro-verify-" not in text, "the rerun's temporary store is shown"
    skipped = page.locator(f"section#cell-{SKIPPED}.skipped")
    assert skipped.locator(".pane").count() == 1 and skipped.locator(".pane.recorded").count() == 1
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(html.stat().st_mode) == 0o666 & ~umask
