"""Notebook → pipeline.py: the generated source, and what it does when imported and run."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
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
    values = pipeline.run()
    assert (values["b"], values["d"], values["e"], values["f"]) == (2, 20, 21, 42)
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
    assert pipeline.run(workdir=tmp_path / "work")["found"] == ["a.txt"]
    assert pipeline._runtime.last_results().stdout[0] == "hello\n"


def test_other_magics_stay_as_marked_comments() -> None:
    result = export(notebook("%who\nif True:\n    %env X={y}\n", "%%capture out\nprint(1)", "%%bash --out o\necho hi"))
    assert kinds(result) == [(0, "kept-magic"), (0, "kept-magic"), (1, "kept-magic"), (2, "kept-magic")]
    assert "# nbrepro: magic not exported: %who\n" in result.source
    assert "        # nbrepro: magic not exported: %env X={y}\n        pass\n" in result.source
    assert "    # cell 1\n    # nbrepro: magic not exported: %%capture out\n    # print(1)\n" in result.source


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


# --- what cells showed, plots ---------------------------------------------------------


def test_what_cells_show_stays_out_of_the_steps(load) -> None:
    nb = notebook(
        "x = 2\nx * 10",
        "display(x)\nfor i in range(1):\n    display(i, 'two')\nprint('shown')",
        "x + 1;",
        "def show(v):\n    display(v)",
        "show('inside')",
        "import IPython.display\nIPython.display.display({'k': x})\ny = x\nx += 1",
    )
    result = export(nb)
    assert result.results == [
        ResultSpec("cell_0", 0, "value"),
        ResultSpec("cell_1_display_1", 1, "display"),
        ResultSpec("cell_1_display_2", 1, "display"),
        ResultSpec("cell_1_display_3", 1, "display"),
        ResultSpec("cell_4", 4, "value"),  # show() returns None: listed, but never recorded
        ResultSpec("cell_5_display_1", 5, "display"),
    ]
    step = result.source.split("def step_01_setup():")[1].split("\n\n\n")[0]
    assert "x * 10" not in step and "    0: lambda x: x * 10,\n" in result.source  # apart, in SHOWN
    assert "_runtime.display(i, 'two')" in step  # in a loop: it stays, and so does the cell's other call
    assert "_runtime.display({'k': x})" in step  # x changes after it: shown at the cell's end, it would differ
    assert "_runtime.display(v)" in result.source
    pipeline = load(result)
    pipeline.run()
    record = pipeline._runtime.last_results()
    assert record.values == {
        "cell_0": 20,
        "cell_1_display_1": 2,
        "cell_1_display_2": 0,
        "cell_1_display_3": "two",
        "cell_4_display_1": "inside",
        "cell_5_display_1": {"k": 2},
    }
    assert record.stdout[1] == "shown\n"  # displays stay out of the stream text


def test_a_shown_value_is_taken_when_its_cell_ends(load) -> None:
    result = export(notebook("items = [1]", "items", "items.append(2)\nlen(items)", "md: # Later", "items.append(3)"))
    assert "1: lambda items: items," in result.source
    pipeline = load(result)
    pipeline.run()
    assert pipeline._runtime.last_results().texts["cell_1"] == "[1]"  # not [1, 2, 3]
    assert pipeline._runtime.last_results().values["cell_2"] == 2


def test_a_last_expression_that_changes_state_stays_in_its_step(load) -> None:
    result = export(notebook("seen = []", "seen.append(1)", "seen.pop()", "md: # Next", "print(seen)"))
    step = result.source.split("def step_01_setup():")[1].split("\n\n\n")[0]
    assert "seen.append(1)" in step and "_runtime.result(seen.pop())" in step
    pipeline = load(result)
    pipeline.run()
    record = pipeline._runtime.last_results()
    assert record.values == {"cell_2": 1} and record.stdout[4] == "[]\n"


def test_figures_are_saved_instead_of_shown(load, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    nb = notebook(
        "import matplotlib.pyplot as plt",
        "plt.plot([1, 2])\nplt.show()",
        "fig, ax = plt.subplots()\nax.plot([3, 1])\nax",
    )
    result = export(nb)
    assert "_runtime.save_figures()" in result.source
    assert (1, "plot") in kinds(result) and (2, "plot") in kinds(result)
    assert [r.key for r in result.results] == ["cell_2"]
    pipeline = load(result)
    pipeline.run(outdir=tmp_path / "out")
    figures = pipeline._runtime.last_results().figures
    assert figures == {1: [tmp_path / "out" / "cell_1_figure_1.png"], 2: [tmp_path / "out" / "cell_2_figure_1.png"]}
    assert all(p.read_bytes().startswith(b"\x89PNG") for paths in figures.values() for p in paths)


# --- steps and names ----------------------------------------------------------------


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
    # The last section held only an import, which moved to module level: no step is left of it.
    assert result.steps == ["step_01_setup", "step_02_load_the_raw_data_cafe_docs"]
    step2 = result.source.split("def step_02")[1].split("def run")[0]
    assert "    # cell 2\n    b = 2\n    # cell 4\n    c = 3\n" in step2


def test_long_headings_are_cut_at_a_word() -> None:
    result = export(notebook("md: ## An extremely long heading that goes on and on beyond any reason", "x = 1"))
    assert result.steps == ["step_01_an_extremely_long_heading_that_goes_on"]


def test_steps_take_what_they_read_and_return_what_later_steps_read(load) -> None:
    nb = notebook(
        params("n = 3"),
        "md: # Load",
        "raw = list(range(n))\ntmp = 5\nunused = tmp * 2",
        "md: # Clean",
        "if raw:\n    clean = [r for r in raw if r]\nelse:\n    clean = []\nraw = None",
        "md: # Report",
        "print(len(clean), raw, n)",
    )
    result = export(nb)
    assert "def step_01_load(n):\n" in result.source
    assert "    return raw, tmp, unused\n" in result.source  # raw for a later step; tmp, unused: results
    assert "def step_02_clean(raw):\n" in result.source and "    return raw, clean\n" in result.source
    assert "def step_03_report(n, raw, clean):\n" in result.source
    assert "        raw, tmp, unused = step_01_load(n)\n" in result.source
    assert "global" not in result.source and result.explicit == len(result.steps) == 3
    pipeline = load(result)
    values = pipeline.run(n=4)
    assert values == {"clean": [1, 2, 3], "raw": None, "tmp": 5, "unused": 10}
    assert pipeline._runtime.last_results().stdout[6] == "3 None 4\n"


def test_a_name_a_step_may_leave_unbound_comes_in_too(load) -> None:
    nb = notebook("best = 0", "md: # Scan", "for v in [3, 1]:\n    if v > best:\n        best = v", "md: # Show", "print(best)")
    result = export(nb)
    assert "def step_02_scan(best):\n" in result.source and "    return best\n" in result.source
    pipeline = load(result)
    pipeline.run()
    assert pipeline._runtime.last_results().stdout[4] == "3\n"


def test_functions_reading_notebook_names_keep_them_module_globals(load) -> None:
    nb = notebook(
        "import math",
        params("scale = 2"),
        "def area():\n    return math.pi * radius ** 2 * scale",
        "md: # Compute",
        "radius: float = 2.0\nresult = area()",
        "print(round(result, 2))",
    )
    result = export(nb)
    assert result.source.index("def area") < result.source.index("def step_01")
    assert "    global radius\n" in result.source and "    radius = 2.0\n" in result.source  # no annotation with global
    assert "def _share_parameters(values: dict[str, object]) -> None:" in result.source
    assert "    _share_parameters({'scale': scale})\n" in result.source
    fallbacks = [r.detail for r in result.rewrites if r.kind == "fallback"]
    assert fallbacks == ["cell 2: area() reads the notebook's radius, scale: module globals, declared global where a step binds them"]
    assert result.explicit == 0 and result.steps == ["step_01_compute"]
    pipeline = load(result)
    pipeline.run(scale=3)
    assert pipeline._runtime.last_results().stdout[5] == "37.7\n"


def test_functions_reading_step_names_when_defined_stay_in_their_step() -> None:
    nb = notebook("size = 3", "def pad(x, width=size):\n    return x", "class Box:\n    limit = size", "def f():\n    pass", "f = 2")
    result = export(nb)
    module_level = result.source.split("def step_01")[0]
    assert "def pad" not in module_level and "class Box" not in module_level and "def f" not in module_level
    assert "global" not in result.source


def test_a_name_nothing_binds_raises_where_the_notebook_raised(load) -> None:
    result = export(notebook("print('before')\nprint(missing + 1)", "missing_too"), expect_errors={0: "NameError", 1: "NameError"})
    assert "print(_runtime.undefined('missing') + 1)" in result.source
    assert "1: lambda missing_too: missing_too," in result.source  # the runtime finds no such name
    assert [r.kind for r in result.rewrites if r.cell == 0] == ["expected-error", "undefined"]
    pipeline = load(result)
    pipeline.run()
    record = pipeline._runtime.last_results()
    assert record.errors == {0: "NameError", 1: "NameError"} and record.stdout[0] == "before\n"


def test_star_imports_become_the_names_read(load) -> None:
    result = export(notebook("from math import *", "print(floor(pi))"))
    assert "from math import floor, pi\n" in result.source
    assert (0, "star-import") in kinds(result)
    load(result).run()


def test_unused_imports_are_dropped_and_reported() -> None:
    result = export(notebook("import os, json\nfrom collections import Counter, deque", "deque([json.dumps(1)])"))
    assert "import json\nimport os\nfrom collections import deque\n" in result.source  # os: run() needs it
    assert [r.detail for r in result.rewrites if r.kind == "unused-import"] == [
        "cell 0: dropped `from collections import Counter`: nothing reads Counter"
    ]


def test_exec_keeps_its_names_module_globals(load) -> None:
    result = export(notebook("x = 1\nexec('y = x + 1', globals())", "print(x, y)"))
    assert (0, "fallback") in kinds(result)
    pipeline = load(result)
    pipeline.run()
    assert pipeline._runtime.last_results().stdout[1] == "1 2\n"


def test_generated_source_is_lint_clean(tmp_path: Path) -> None:
    nb = notebook(
        "import json\nimport os",
        params("n = 2"),
        "md: # Work",
        "data = {'n': n}\ntext = json.dumps(data)\ntext",
        "with open(os.devnull) as fh:\n    size = len(fh.read())",
        "display(data)",
        "def helper():\n    return text",
        "print(helper(), size)",
    )
    path = tmp_path / "pipeline.py"
    path.write_text(export(nb).source)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E4,E7,E9,F,I", str(path)],
                          capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout


# --- errors -------------------------------------------------------------------------


def test_expected_errors_are_recorded_and_others_raise(load) -> None:
    nb = notebook("import no_such_module_nbrepro", "x = 1\n1 / 0\nx = 2", "print('after', x)")
    result = export(nb, expect_errors={0: "ModuleNotFoundError", 1: "ZeroDivisionError"})
    assert result.error_cells == [0, 1]
    assert "    # cell 1: raised ZeroDivisionError in the notebook\n    with _runtime.expected_error('ZeroDivisionError'):\n" in result.source
    assert result.source.index("import no_such_module_nbrepro") > result.source.index("def step_01")
    pipeline = load(result)
    pipeline.run()
    record = pipeline._runtime.last_results()
    assert record.errors == {0: "ModuleNotFoundError", 1: "ZeroDivisionError"}
    assert record.stdout[2] == "after 1\n"

    wrong = load(export(notebook("x = 1 / 0"), expect_errors={0: "KeyError"}))
    with pytest.raises(ZeroDivisionError):
        wrong.run()
    shown = load(export(notebook("1 / 0"), expect_errors={0: "KeyError"}))
    shown.run()  # what a cell only showed never stops the run: the error is recorded for the tests
    assert shown._runtime.last_results().errors == {0: "ZeroDivisionError"}
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
    assert result.steps == ["step_01_load", "step_02_compute"]
    assert result.imports == ["json"]
    pipeline = load(result)
    # NOTEBOOK_DIR is relative to the package folder, whose name the fixture picks
    pipeline.NOTEBOOK_DIR = os.path.relpath(notebook_dir, Path(pipeline.__file__).parent)
    cwd = os.getcwd()
    assert pipeline.run(scale=10, label="test") == {"values": [10, 20, 30]}
    assert os.getcwd() == cwd
    record = pipeline._runtime.last_results()
    assert record.stdout == {3: "test 3\n", 6: "[10, 20, 30]\n"} and record.values == {"cell_6": 60}
    pipeline.run()
    assert pipeline._runtime.last_results().values == {"cell_6": 12}


def test_with_outdir_the_notebook_writes_there_and_reads_its_inputs(load, tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "data").mkdir(parents=True)
    (work / "data" / "in.txt").write_text("5")
    nb = notebook("import os", "value = int(open('data/in.txt').read())",
                  "os.makedirs('results', exist_ok=True)\nwith open('results/out.txt', 'w') as fh:\n    fh.write(str(value * 2))")
    pipeline = load(export(nb, inputs=("data",)))
    pipeline.run(workdir=work, outdir=out)
    assert (out / "results" / "out.txt").read_text() == "10" and not (work / "results").exists()
    assert (out / "data").is_symlink()


def test_a_tracer_already_set_keeps_seeing_the_steps(load) -> None:
    pipeline = load(export(notebook("a = 1", "md: # Next", "b = a + 1\nb")))
    seen: list[str] = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name.startswith("step_"):
            seen.append(event)
        return tracer

    sys.settrace(tracer)
    try:
        pipeline.run()
    finally:
        sys.settrace(None)
    assert seen.count("call") == 2 and "line" in seen
    assert pipeline._runtime.last_results().values == {"cell_2": 2}
