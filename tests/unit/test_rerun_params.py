"""`verify -p`: where the parameters go in the copy that is rerun, papermill's way."""

from __future__ import annotations

import nbformat

from nbrepro.notebook.params import assignments, is_parameters_cell
from nbrepro.verify.runner import rerun_copy


def notebook(*cells: tuple[str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def test_injected_after_the_parameters_cell() -> None:
    nb = notebook(("%load_ext nbrepro", []), ("scale = 2", ["parameters"]), ("print(scale)", []))
    run, origin = rerun_copy(nb, {"scale": 3})
    assert origin == [0, 1, None, 2]
    assert run.cells[2].metadata["tags"] == ["injected-parameters"]
    assert assignments(run.cells[2].source) == {"scale": 3}
    assert is_parameters_cell(run.cells[2].source, [])
    assert len(nb.cells) == 3  # the input is left alone


def test_a_cell_papermill_injected_is_replaced_keeping_what_p_does_not_override() -> None:
    papermill_injected = "# Parameters\nscale = 5\nlabel = \"b\"\n"
    nb = notebook(
        ("%load_ext nbrepro", []),
        ("scale = 2\nlabel = 'a'", ["parameters"]),
        (papermill_injected, ["injected-parameters"]),
        ("print(label, scale)", []),
    )
    run, origin = rerun_copy(nb, {"scale": 7})
    assert origin == [0, 1, 2, 3]  # no second injected cell
    assert [c.metadata.get("tags", []) for c in run.cells].count(["injected-parameters"]) == 1
    assert run.cells[2].source.startswith(papermill_injected.rstrip("\n"))
    assert assignments(run.cells[2].source) == {"scale": 7, "label": "b"}
    assert is_parameters_cell(run.cells[2].source, [])  # found as such even without its tags
    scope: dict[str, object] = {}
    for cell in run.cells[1:3]:
        exec(cell.source, scope)  # noqa: S102 - the cells as the kernel runs them
    assert (scope["scale"], scope["label"]) == (7, "b")
    assert nb.cells[2].source == papermill_injected


def test_no_parameters_cell_injects_at_the_top() -> None:
    nb = notebook(("x = 1", []), ("print(x)", []))
    run, origin = rerun_copy(nb, {"x": 2})
    assert origin == [None, 0, 1]
    assert assignments(run.cells[0].source) == {"x": 2}


def test_without_parameters_the_copy_only_loses_its_outputs() -> None:
    nb = notebook(("# Parameters\nscale = 5\n", ["injected-parameters"]), ("print(scale)", []))
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="5\n")]
    run, origin = rerun_copy(nb, {})
    assert origin == [0, 1]
    assert [c.source for c in run.cells] == [c.source for c in nb.cells]
    assert run.cells[1].outputs == [] and nb.cells[1].outputs
