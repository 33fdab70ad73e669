"""Notebook → pipeline.py: the generated source, and what it does when imported and run."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import uuid
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbrepro.export import runtime_template
from nbrepro.export.transform import Parameter, ResultSpec, Transformed, TransformError, transform


def notebook(*cells: str | nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strings are code cells; ``"md: ..."`` strings are markdown cells."""
    made = []
    for cell in cells:
        if isinstance(cell, str):
            cell = new_markdown_cell(cell[4:]) if cell.startswith("md: ") else new_code_cell(cell)
        made.append(cell)
    return new_notebook(cells=made)


def params(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": ["parameters"]})


def export(nb: nbformat.NotebookNode, **kwargs: object) -> Transformed:
    result = transform(nb, **kwargs)  # type: ignore[arg-type]
    compile(result.source, "pipeline.py", "exec")
    return result


def kinds(result: Transformed) -> list[tuple[int, str]]:
    return [(r.cell, r.kind) for r in result.rewrites]


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write the pipeline and the runtime into a package and import it, as an export would."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    names: list[str] = []

    def load(result: Transformed) -> ModuleType:
        name = f"exported_{uuid.uuid4().hex[:8]}"
        package = tmp_path / "src" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "pipeline.py").write_text(result.source)
        shutil.copy(runtime_template.__file__, package / "_runtime.py")
        monkeypatch.syspath_prepend(str(tmp_path / "src"))
        names.append(name)
        return importlib.import_module(f"{name}.pipeline")

    yield load
    for module in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[module]


# --- parameters ---------------------------------------------------------------------


def test_parameters_from_annotations_and_literals() -> None:
    nb = notebook(
        params("alpha = 0.5\nn: int = 3\nlabel = 'x'\nflag = True\nitems = [1, 2]\nnothing = None\nratio: float = 1")
    )
    result = export(nb)
    assert result.has_parameters_cell
    assert result.parameters == [
        Parameter("alpha", "float", 0.5, "0.5"),
        Parameter("n", "int", 3, "3"),
        Parameter("label", "str", "x", "'x'"),
        Parameter("flag", "bool", True, "True"),
        Parameter("items", "list", [1, 2], "[1, 2]"),
        Parameter("nothing", "object", None, "None"),
        Parameter("ratio", "float", 1, "1"),
    ]
    assert "    n: int = 3,\n" in result.source
    assert "    ratio: float = 1,\n" in result.source
    assert "PARAMETERS: dict[str, object] = {\n    'alpha': 0.5," in result.source


def test_a_default_that_is_not_a_literal_is_computed_only_when_not_passed(load) -> None:
    nb = notebook(params("base = 'data'\npath = base + '/in.csv'"), "print(path)")
    result = export(nb)
    assert result.parameters[1] == Parameter("path", "object", None, "base + '/in.csv'")
    pipeline = load(result)
    pipeline.run()
    assert pipeline._runtime.last_results().stdout[1] == "data/in.csv\n"
    pipeline.run(base="other")
    assert pipeline._runtime.last_results().stdout[1] == "other/in.csv\n"
    pipeline.run(path="given.csv")
    assert pipeline._runtime.last_results().stdout[1] == "given.csv\n"


def test_without_a_parameters_cell_there_are_none() -> None:
    result = export(notebook("alpha = 0.5", "print(alpha)"))
    assert not result.has_parameters_cell
    assert result.parameters == []
    assert "def run(\n    *,\n    workdir:" in result.source
    assert "PARAMETERS: dict[str, object] = {}" in result.source


def test_reassigning_a_parameter_is_reported(load) -> None:
    result = export(notebook(params("n = 3"), "n = n + 1", "for n in range(2):\n    pass", "m = n"))
    assert [r for r in result.rewrites if r.kind == "parameter-reassigned"] == [
        r for r in result.rewrites if r.cell in (1, 2)
    ]
    assert kinds(result) == [(1, "parameter-reassigned"), (2, "parameter-reassigned")]
    assert "'n'" in result.rewrites[0].detail


def test_run_checks_parameter_types_lightly(load) -> None:
    pipeline = load(export(notebook(params("n: int = 3\nx = 1.5\nmaybe: str | None = None\nthing: Foo = 1"))))
    pipeline.run(n=4, x=2, maybe="s", thing=object())
    with pytest.raises(TypeError, match="x must be float or int, not str"):
        pipeline.run(x="2")
    with pytest.raises(TypeError, match="maybe must be str or NoneType"):
        pipeline.run(maybe=3)
    with pytest.raises(TypeError):
        pipeline.run(unknown=1)


def test_a_parameter_named_like_a_run_keyword_is_refused() -> None:
    with pytest.raises(TransformError, match="outdir"):
        transform(notebook(params("outdir = 'out'")))


def test_a_notebook_binding_run_is_refused() -> None:
    with pytest.raises(TransformError, match="cell 0 binds 'run'"):
        transform(notebook("def run():\n    pass"))


# --- magics -------------------------------------------------------------------------


def test_pip_installs_become_requirements() -> None:
    result = export(
        notebook("!pip install -q numpy 'pandas>=2'\n%pip install -U scipy -i https://example.invalid/simple  # why\nx = 1")
    )
    assert result.requirements == ["numpy", "pandas>=2", "scipy"]
    assert kinds(result) == [(0, "pip-install"), (0, "pip-install")]
    assert "ignored -U -i https://example.invalid/simple" in result.rewrites[1].detail
    assert "pip" not in result.source


def test_configuration_magics_are_dropped() -> None:
    result = export(notebook("%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n%config InlineBackend.x = 1\ny = 2"))
    assert kinds(result) == [(0, "dropped-magic")] * 4
    assert "%" not in result.source.split("def step_01_setup")[1]
    assert "y = 2" in result.source


def test_timing_magics_run_the_code_once(load) -> None:
    nb = notebook(
        "%%time\na = 1\nb = a + 1",
        "%%timeit -n 10 -r 3 c = 10\nd = c * 2",
        "%time e = d + 1\n%timeit -n 10 -r 3 print('once')",
        "f = %time e * 2",
    )
    result = export(nb)
    assert [cell for cell, kind in kinds(result) if kind == "unwrapped-timing"] == [0, 1, 2, 2, 3]
    assert "%time" not in result.source and "timeit" not in result.source
    pipeline = load(result)
    pipeline.run()
    assert (pipeline.b, pipeline.d, pipeline.e, pipeline.f) == (2, 20, 21, 42)
    assert pipeline._runtime.last_results().stdout[2] == "once\n"


def test_shell_commands_run_through_the_runtime(load, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "a.txt").write_text("")
    nb = notebook("name = 'a.txt'\nfound = !ls {name}\n!echo hello {name} | awk '{print $1}'")
    result = export(nb)
    assert "found = _runtime.shell(f'ls {name}', echo=False)" in result.source
    assert "_runtime.shell(f\"echo hello {name} | awk '{{print $1}}'\")" in result.source
    assert kinds(result) == [(0, "shell"), (0, "shell")]
    pipeline = load(result)
    pipeline.run(workdir=tmp_path / "work")
    assert pipeline.found == ["a.txt"]
    assert pipeline._runtime.last_results().stdout[0] == "hello\n"


def test_other_magics_stay_as_marked_comments() -> None:
    result = export(notebook("%who\nif True:\n    %env X={y}\n", "%%capture out\nprint(1)", "%%bash --out o\necho hi"))
    assert kinds(result) == [(0, "kept-magic"), (0, "kept-magic"), (1, "kept-magic"), (2, "kept-magic")]
    assert "# nbrepro: magic not exported: %who\n" in result.source
    assert "            # nbrepro: magic not exported: %env X={y}\n            pass\n" in result.source
    assert "# nbrepro: magic not exported: %%capture out\n        # print(1)\n        pass" in result.source


def test_env_bash_and_writefile_run_as_in_ipython(load, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBREPRO_T_FLAG", raising=False)
    nb = notebook(
        "%env NBREPRO_T_FLAG=on",
        "%%bash\necho \"from bash $NBREPRO_T_FLAG\"",
        "%%writefile note.txt\nfirst\n",
        "%%writefile -a note.txt\nsecond\n",
        "%%writefile note.txt\nagain\n",
    )
    result = export(nb)
    assert kinds(result) == [(0, "env"), (1, "shell"), (2, "writefile"), (3, "writefile"), (4, "writefile")]
    (tmp_path / "work").mkdir()
    pipeline = load(result)
    pipeline.run(workdir=tmp_path / "work")
    out = pipeline._runtime.last_results().stdout
    assert os.environ["NBREPRO_T_FLAG"] == "on" and out[0] == "env: NBREPRO_T_FLAG=on\n"
    assert out[1] == "from bash on\n"  # the variable reached the bash child
    assert [out[2], out[3], out[4]] == ["Writing note.txt\n", "Appending to note.txt\n", "Overwriting note.txt\n"]
    assert (tmp_path / "work" / "note.txt").read_text() == "again\n"


# --- results, displays, plots -------------------------------------------------------


def test_last_expressions_and_displays_become_results(load) -> None:
    nb = notebook(
        "x = 2\nx * 10",
        "display(x)\nfor i in range(1):\n    display(i, 'two')\nprint('shown')",
        "x + 1;",
        "def show(v):\n    display(v)",
        "show('inside')",
    )
    result = export(nb)
    assert result.results == [
        ResultSpec("cell_0", 0, "value"),
        ResultSpec("cell_1_display_1", 1, "display"),
        ResultSpec("cell_1_display_2", 1, "display"),
        ResultSpec("cell_1_display_3", 1, "display"),
        ResultSpec("cell_4", 4, "value"),  # show() returns None: listed, but never recorded
    ]
    assert "results.value(0, x * 10)" in result.source
    assert "results.display(1, i, 'two')" in result.source
    assert "_runtime.display(v)" in result.source
    pipeline = load(result)
    values = pipeline.run()
    assert values == {
        "cell_0": 20,
        "cell_1_display_1": 2,
        "cell_1_display_2": 0,
        "cell_1_display_3": "two",
        "cell_4_display_1": "inside",
    }
    assert pipeline._runtime.last_results().stdout[1] == "shown\n"  # displays stay out of the stream text


def test_figures_are_saved_instead_of_shown(load, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    nb = notebook(
        "import matplotlib.pyplot as plt",
        "plt.plot([1, 2])\nplt.show()",
        "fig, ax = plt.subplots()\nax.plot([3, 1])\nax",
    )
    result = export(nb)
    assert "_runtime.save_figures(1)" in result.source
    assert (1, "plot") in kinds(result) and (2, "plot") in kinds(result)
    assert [r.key for r in result.results] == ["cell_2"]
    pipeline = load(result)
    pipeline.run(outdir=tmp_path / "out")
    figures = pipeline._runtime.last_results().figures
    assert figures == {1: [tmp_path / "out" / "cell_1_figure_1.png"], 2: [tmp_path / "out" / "cell_2_figure_1.png"]}
    assert all(p.read_bytes().startswith(b"\x89PNG") for paths in figures.values() for p in paths)


# --- steps and globals --------------------------------------------------------------


def test_markdown_headings_split_steps() -> None:
    nb = notebook(
        "a = 1",
        "md: # Load the *raw* data — café [docs](https://x.invalid)\ntext",
        "b = 2",
        "md: no heading here\n```\n# a comment in a fence\n```",
        "c = 3",
        "md: ## An extremely long heading that goes on and on beyond any reason",
        "md: ### Only markdown here",
        "md: #hashtag is not a heading",
        "import os",
    )
    result = export(nb)
    assert result.steps == [
        "step_01_setup",
        "step_02_load_the_raw_data_cafe_docs",
        "step_03_only_markdown_here",
    ]
    step2 = result.source.split("def step_02")[1].split("def step_03")[0]
    assert "with results.cell(2):" in step2 and "with results.cell(4):" in step2
    assert '"""Only markdown here"""\n\n\n' in result.source  # its only cell moved to the imports


def test_long_headings_are_cut_at_a_word(load) -> None:
    result = export(notebook("md: ## An extremely long heading that goes on and on beyond any reason", "x = 1"))
    assert result.steps == ["step_01_an_extremely_long_heading_that_goes_on"]


def test_steps_declare_their_names_global_so_functions_see_them(load) -> None:
    nb = notebook(
        "import math",
        "def area():\n    return math.pi * radius ** 2",
        "md: # Compute",
        "radius: float = 2.0\nfor i in range(2):\n    last = i\ntry:\n    1 / 0\nexcept ZeroDivisionError as problem:\n    kept = str(problem)\n"
        "with open(__file__) as fh:\n    pass\nsquares = [k * k for k in range(3)]\nif (big := 10) > 5:\n    pass\nresult = area()",
        "print(round(result, 2), last, kept, big)",
    )
    result = export(nb)
    assert "global big, fh, i, kept, last, problem, radius, result, squares\n" in result.source
    assert "k," not in result.source.split("global")[1].split("\n")[0]
    assert result.source.index("def area") < result.source.index("def step_01")
    pipeline = load(result)
    pipeline.run()
    assert pipeline._runtime.last_results().stdout[4] == "12.57 1 division by zero 10\n"


def test_functions_reading_step_names_when_defined_stay_in_their_step() -> None:
    nb = notebook("size = 3", "def pad(x, width=size):\n    return x", "class Box:\n    limit = size", "def f():\n    pass", "f = 2")
    result = export(nb)
    module_level = result.source.split("def step_01")[0]
    assert "def pad" not in module_level and "class Box" not in module_level and "def f" not in module_level
    assert "global Box, f, pad, size" in result.source


def test_a_notebook_name_called_results_moves_the_step_argument_aside(load) -> None:
    result = export(notebook("results = [1]", "results.append(2)\nresults"))
    assert "def step_01_setup(_results: _runtime.Results)" in result.source
    assert load(result).run() == {"cell_1": [1, 2]}


# --- errors -------------------------------------------------------------------------


def test_expected_errors_are_recorded_and_others_raise(load) -> None:
    nb = notebook("import no_such_module_nbrepro", "x = 1\n1 / 0\nx = 2", "print('after', x)")
    result = export(nb, expect_errors={0: "ModuleNotFoundError", 1: "ZeroDivisionError"})
    assert result.error_cells == [0, 1]
    assert "with results.cell(1, expect_error='ZeroDivisionError'):" in result.source
    assert result.source.index("import no_such_module_nbrepro") > result.source.index("def step_01")
    pipeline = load(result)
    pipeline.run()
    record = pipeline._runtime.last_results()
    assert record.errors == {0: "ModuleNotFoundError", 1: "ZeroDivisionError"}
    assert record.stdout[2] == "after 1\n"

    wrong = load(export(notebook("1 / 0"), expect_errors={0: "KeyError"}))
    with pytest.raises(ZeroDivisionError):
        wrong.run()
    with pytest.raises(ValueError, match="not a code cell"):
        transform(notebook("md: # x"), expect_errors={0: "KeyError"})


def test_invalid_cells_become_reported_comments() -> None:
    result = export(notebook("x = (", "await thing()"))
    assert kinds(result) == [(0, "unparsable"), (1, "unparsable")]
    assert "# x = (" in result.source and "# await thing()" in result.source


# --- end to end ---------------------------------------------------------------------


def test_exported_pipeline_runs_with_a_new_parameter(load, tmp_path: Path) -> None:
    notebook_dir = tmp_path / "project"
    notebook_dir.mkdir()
    (notebook_dir / "numbers.txt").write_text("1\n2\n3\n")
    nb = notebook(
        "%matplotlib inline\nimport json",
        params("scale = 2\nlabel: str = 'run'"),
        "md: # Load",
        "with open('numbers.txt') as fh:\n    numbers = [int(line) for line in fh]\nprint(label, len(numbers))",
        "md: # Compute",
        "def scaled():\n    return [n * scale for n in numbers]\n",
        "values = scaled()\nprint(json.dumps(values))\nsum(values)",
    )
    result = export(nb, notebook_dir=os.path.relpath(notebook_dir, tmp_path / "src" / "pkg"))
    assert result.steps == ["step_01_setup", "step_02_load", "step_03_compute"]
    assert result.imports == ["json"]
    pipeline = load(result)
    # NOTEBOOK_DIR is relative to the package folder, whose name the fixture picks
    pipeline.NOTEBOOK_DIR = os.path.relpath(notebook_dir, Path(pipeline.__file__).parent)
    cwd = os.getcwd()
    assert pipeline.run(scale=10, label="test") == {"cell_6": 60}
    assert os.getcwd() == cwd
    record = pipeline._runtime.last_results()
    assert record.stdout == {3: "test 3\n", 6: "[10, 20, 30]\n"}
    assert pipeline.run() == {"cell_6": 12}
