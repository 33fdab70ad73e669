"""read_notebook (nbrepro.notebook.read): cell ids as Jupyter reads them, said in one warning;
files that are not notebooks are one NotebookError."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from nbrepro._errors import NotebookError, NotebookRepaired
from nbrepro.notebook.read import read_notebook


def code(source: str, cell_id: str | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def markdown(source: str, cell_id: str | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "markdown", "metadata": {}, "source": source}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def write(path: Path, minor: int, cells: list[dict[str, Any]], major: Any = 4) -> bytes:
    text = json.dumps({"nbformat": major, "nbformat_minor": minor, "metadata": {}, "cells": cells}, indent=1)
    path.write_text(text, encoding="utf-8")
    return path.read_bytes()


def warning_lines(recwarn: pytest.WarningsRecorder) -> list[str]:
    """The NotebookRepaired warnings (the CLI prints each as one line)."""
    return [str(w.message) for w in recwarn if w.category is NotebookRepaired]


def test_a_4_2_notebook_whose_cells_carry_ids_is_read_as_4_5(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "old.ipynb"
    before = write(path, 2, [code("a = 1", "aaa"), markdown("# t", "mmm"), code("b = 2", "aaa"), code("c = 3", "ccc")])
    nb = read_notebook(path)
    assert nb.nbformat == 4 and nb.nbformat_minor == 5
    ids = [c["id"] for c in nb.cells]
    assert ids[0] == "aaa" and ids[1] == "mmm" and ids[3] == "ccc"  # unique ones kept
    assert ids[2] not in ("aaa", "mmm", "ccc") and len(set(ids)) == 4  # the duplicate replaced
    assert [c.source for c in nb.cells] == ["a = 1", "# t", "b = 2", "c = 3"]
    lines = warning_lines(recwarn)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ")
    assert "read as nbformat 4.5" in lines[0] and "1 duplicate cell id(s) replaced" in lines[0]
    assert path.read_bytes() == before


def test_a_4_2_notebook_with_some_ids_gets_the_rest(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "old.ipynb"
    before = write(path, 2, [code("a = 1", "aaa"), code("b = 2")])
    nb = read_notebook(path)
    assert nb.nbformat_minor == 5
    assert nb.cells[0]["id"] == "aaa" and isinstance(nb.cells[1].get("id"), str) and nb.cells[1]["id"]
    lines = warning_lines(recwarn)
    assert len(lines) == 1 and "read as nbformat 4.5" in lines[0] and "1 missing cell id(s) added" in lines[0]
    assert path.read_bytes() == before


def test_a_4_4_notebook_without_ids_is_left_as_it_is(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "old.ipynb"
    before = write(path, 4, [code("a = 1"), markdown("t")])
    nb = read_notebook(path)
    assert nb.nbformat_minor == 4 and all("id" not in c for c in nb.cells)
    assert warning_lines(recwarn) == []
    assert path.read_bytes() == before


def test_a_4_5_notebook_missing_ids_gets_them_in_one_line(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "nb.ipynb"
    before = write(path, 5, [code("a = 1", "aaa"), code("b = 2"), markdown("t"), code("c = 3", "ccc")])
    nb = read_notebook(path)
    ids = [c.get("id") for c in nb.cells]
    assert ids[0] == "aaa" and ids[3] == "ccc"
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 4
    lines = warning_lines(recwarn)
    assert lines == [f"{path}: 2 missing cell id(s) added, as Jupyter does when it opens it"]
    assert path.read_bytes() == before


def test_a_4_5_notebook_with_duplicate_ids_has_them_replaced(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "nb.ipynb"
    before = write(path, 5, [code("a = 1", "aaa"), code("b = 2", "aaa"), code("c = 3", "ccc")])
    nb = read_notebook(path)
    ids = [c["id"] for c in nb.cells]
    assert ids[0] == "aaa" and ids[2] == "ccc" and len(set(ids)) == 3
    assert len(warning_lines(recwarn)) <= 1
    assert path.read_bytes() == before


def test_duplicate_ids_of_a_4_5_notebook_are_said(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "nb.ipynb"
    write(path, 5, [code("a = 1", "aaa"), code("b = 2", "aaa"), code("c = 3", "ccc")])
    read_notebook(path)
    assert warning_lines(recwarn) == [
        f"{path}: 1 duplicate cell id(s) replaced, as Jupyter does when it opens it"
    ]


def test_a_valid_4_5_notebook_prints_nothing(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "nb.ipynb"
    before = write(path, 5, [code("a = 1", "aaa"), markdown("# t", "mmm"), code("b = 2", "bbb")])
    nb = read_notebook(path)
    assert [c["id"] for c in nb.cells] == ["aaa", "mmm", "bbb"]
    assert nb.nbformat_minor == 5
    assert warning_lines(recwarn) == []
    assert path.read_bytes() == before


def test_the_same_file_read_twice_gets_fresh_ids_but_keeps_its_own(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "nb.ipynb"
    write(path, 2, [code("a = 1", "aaa"), code("b = 2", "aaa")])
    first, second = read_notebook(path), read_notebook(path)
    assert first.cells[0]["id"] == second.cells[0]["id"] == "aaa"
    assert len(warning_lines(recwarn)) == 2  # one per read


def test_nbformat_logs_nothing_while_reading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat

    # what traitlets.log.get_logger() gives outside a running Application (another test may leave one)
    monkeypatch.setattr(nbformat, "get_logger", lambda: logging.getLogger("traitlets"))
    path = tmp_path / "old.ipynb"
    write(path, 2, [code("a = 1", "aaa"), code("b = 2", "aaa")])
    with caplog.at_level(logging.DEBUG), pytest.warns(NotebookRepaired):
        read_notebook(path)
    assert [(r.name, r.getMessage().splitlines()[0]) for r in caplog.records] == []


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[]", "not a Jupyter notebook"),
    ('{"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}', "nbformat 3 notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "abc"}', "not a Jupyter notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [5]}', "not a Jupyter notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": null}', "not a Jupyter notebook"),
    ('{"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": ["x"]}', "not a Jupyter notebook"),
    # nbformat would read these as version 1 (every source dropped), or fail past them
    ('{"nbformat_minor": 5, "metadata": {}, "cells": []}', 'no integer "nbformat" version'),
    ('{"nbformat": true, "nbformat_minor": 5, "metadata": {}, "cells": []}', 'no integer "nbformat" version'),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {"a": ' + "[" * 101 + "]" * 101 + '}, "cells": []}', "nested more than 100"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {"a": ' + "{\"b\": " * 5000 + "1" + "}" * 5000 + '}, "cells": []}',
     "nested more than 100"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {"a": "\\udc80"}, "cells": []}', "lone surrogate"),
])
def test_broken_files_raise_notebook_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NotebookError, match=message) as info:
        read_notebook(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("minor", [2, 5])
def test_a_cell_missing_its_cell_type_is_not_a_notebook(tmp_path: Path, minor: int, recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "bad.ipynb"
    cell = code("x = 1", "aaa")
    del cell["cell_type"]
    before = write(path, minor, [code("a = 1", "bbb"), cell])
    with pytest.raises(NotebookError, match="not a valid notebook"):
        read_notebook(path)
    assert warning_lines(recwarn) == []  # no warning about ids for a file that is rejected
    assert path.read_bytes() == before


def test_paths_that_are_not_notebook_files(tmp_path: Path) -> None:
    with pytest.raises(NotebookError, match="no such file"):
        read_notebook(tmp_path / "missing.ipynb")
    (tmp_path / "dir.ipynb").mkdir()
    with pytest.raises(NotebookError, match="is a directory"):
        read_notebook(tmp_path / "dir.ipynb")
    (tmp_path / "nb.json").write_text("{}")
    with pytest.raises(NotebookError, match="not a .ipynb"):
        read_notebook(tmp_path / "nb.json")
    (tmp_path / "latin.ipynb").write_bytes(b'{"x": "\xff"}')
    with pytest.raises(NotebookError, match="cannot read it"):
        read_notebook(tmp_path / "latin.ipynb")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "nb.ipynb"
    os.mkfifo(fifo)
    with pytest.raises(NotebookError, match="not a regular file"):
        read_notebook(fifo)


def test_write_atomic_keeps_the_mode_and_writes_through_a_link(tmp_path: Path) -> None:
    from nbrepro.notebook.read import write_atomic

    real = tmp_path / "real.ipynb"
    real.write_text("old")
    real.chmod(0o644)
    link = tmp_path / "link.ipynb"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    fresh = tmp_path / "fresh.html"
    write_atomic(fresh, "page")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # as any new file, not mkstemp's 0600
