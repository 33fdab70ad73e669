"""``pytest --nbrepro path/``: every notebook is verified, one test item per code cell.

Each notebook is rerun once (by the first of its items); each item then passes when its
cell reproduced, is skipped when the cell is tagged ``nbrepro:skip-compare`` or has no
record, and fails with the diff and the causes when it differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from ..verify.verdict import Cause, VerifyReport


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("nbrepro")
    group.addoption("--nbrepro", action="store_true", default=False,
                    help="verify .ipynb notebooks with nbrepro: one test per code cell")
    group.addoption("--nbrepro-timeout", type=int, default=600, help="seconds per cell (default 600)")


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    if parent.config.getoption("nbrepro") and file_path.suffix == ".ipynb" and ".ipynb_checkpoints" not in file_path.parts:
        return NotebookFile.from_parent(parent, path=file_path)
    return None


class CellDiffers(Exception):
    def __init__(self, status: str, causes: list[Cause], diff: str) -> None:
        super().__init__(status)
        self.status, self.causes, self.diff = status, causes, diff


class NotebookFile(pytest.File):
    _report: VerifyReport | None = None

    def collect(self) -> Any:
        from ..notebook.read import read_notebook

        nb = read_notebook(self.path)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and cell.source.strip():
                yield CellItem.from_parent(self, name=f"cell[{index}]", index=index)

    def report(self) -> VerifyReport:
        if self._report is None:
            from ..verify.runner import verify

            self._report, _ = verify(self.path, timeout=self.config.getoption("nbrepro_timeout"))
        return self._report


class CellItem(pytest.Item):
    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index

    def runtest(self) -> None:
        assert isinstance(self.parent, NotebookFile)
        report = self.parent.report()
        entry = next((c for c in report["cells"] if c["index"] == self.index), None)
        if entry is None or entry["status"] in ("skipped", "new"):
            reason = "tagged nbrepro:skip-compare" if entry and entry["status"] == "skipped" else "no recorded run of this cell"
            pytest.skip(reason)
        if entry["status"] != "reproduced":
            # A failed or not-run cell has no diff: its reason says why (timeout after 1 s).
            raise CellDiffers(entry["status"], entry["causes"], entry.get("reason") or entry["diff"])
        if report.get("failure"):
            raise CellDiffers("failed", entry["causes"], report["failure"])

    def repr_failure(self, excinfo: Any, style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, CellDiffers):
            differs = excinfo.value
            lines = [f"cell {self.index} {differs.status} when rerun"]
            lines += [f"  cause {c['kind']}: {c['detail']}" for c in differs.causes]
            if differs.diff:
                lines += ["", differs.diff]
            return "\n".join(lines)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.path.name}::cell[{self.index}]"
