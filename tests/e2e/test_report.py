"""The reviewer's HTML report, rendered by headless Chromium: a notebook whose plot and numbers
changed with its data, verified with ``--html``, must show both plots side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbrepro.notebook import kernel

from .conftest import git, isolated_env, screenshot_path

pytestmark = pytest.mark.e2e

CELLS = [
    "%load_ext nbrepro",
    "import csv\nwith open('data/points.csv') as fh:\n    points = [(float(x), float(y)) for x, y in csv.reader(fh)]",
    "ys = [y for _, y in points]\nprint(f'{len(points)} points, mean y {sum(ys) / len(ys):.3f}, max y {max(ys):.1f}')",
    "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(4, 2.6), dpi=80)\n"
    "ax.plot(*zip(*points), marker='o')\nax.set_title('points.csv')\nplt.show()",
]
POINTS = "".join(f"{x},{y}\n" for x, y in [(0, 1.0), (1, 2.5), (2, 2.0), (3, 3.5), (4, 3.0)])
PLOT = 3


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A plotting notebook recorded through nbclient, its data then changed, verified to HTML."""
    env = isolated_env(tmp_path / "env")
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "points.csv").write_text(POINTS)
    path = root / "plot.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS]), path)
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "plot")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # plots into the notebook
    nb = kernel.execute(nbformat.read(path, as_version=4), root, env=env)
    assert any("image/png" in o.get("data", {}) for o in nb.cells[PLOT].outputs), "the recorded run drew no plot"
    nbformat.write(nb, path)
    (root / "data" / "points.csv").write_text(POINTS.replace("3,3.5", "3,9.5"))
    html = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "nbrepro", "verify", "plot.ipynb", "--json", "--html", str(html)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    result = json.loads(done.stdout)
    assert done.returncode == 1 and result["verdict"] == "differs", result
    return html, result


def box(locator: Any) -> dict[str, float]:
    """The element's box in page coordinates (those of a full-page screenshot)."""
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; }"
    )


def test_the_report_shows_recorded_and_rerun_plots_side_by_side(
    report: tuple[Path, dict[str, Any]], browser: Any, tmp_path: Path,
) -> None:
    from PIL import Image, ImageChops, ImageStat

    html, result = report
    statuses = {c["index"]: c["status"] for c in result["cells"]}
    assert statuses[2] == "differs" and statuses[PLOT] == "differs", statuses
    page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    try:
        page.goto(html.as_uri())
        assert page.locator("h1 .verdict.differs").inner_text() == "differs"
        for index in (2, PLOT):
            section = page.locator(f"section#cell-{index}.differs")
            assert section.locator(".panes .pane.recorded").count() == 1
            assert section.locator(".panes .pane.rerun").count() == 1
            assert section.locator("pre.diff").count() == 1
            assert "data/points.csv" in section.locator("ul.causes").inner_text()
        assert "9.5" in page.locator("section#cell-2 .pane.rerun").inner_text()
        images = [page.locator(f"section#cell-{PLOT} .pane.{side} img") for side in ("recorded", "rerun")]
        assert [i.count() for i in images] == [1, 1]
        assert all(i.evaluate("e => e.complete && e.naturalWidth > 0") for i in images), "an image did not decode"
        left, right = (box(i) for i in images)
        assert min(left["width"], left["height"], right["width"], right["height"]) > 50
        assert left["x"] + left["width"] <= right["x"], "the rerun plot is not to the right of the recorded one"
        assert left["y"] < right["y"] + right["height"] and right["y"] < left["y"] + left["height"], "not on one row"

        shot = screenshot_path(tmp_path, "verify-report.png")
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    with Image.open(shot) as full:
        image = full.convert("RGB")
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20, "the screenshot is blank"
    crops = [image.crop((round(b["x"]), round(b["y"]), round(b["x"] + b["width"]), round(b["y"] + b["height"])))
             for b in (left, right)]
    for crop in crops:
        assert ImageStat.Stat(crop.convert("L")).stddev[0] > 10, "a plot is blank in the screenshot"
    same = crops[0].size == crops[1].size and ImageChops.difference(*crops).getbbox() is None
    assert not same, "the recorded and rerun plots look the same"
