"""The exported package's runtime renders values as a notebook shows them, when their cell
shows them, with the display options of a notebook's kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from nbrepro.export import runtime_template as runtime


class Bundle:
    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        return {"text/plain": "shown by its bundle", "text/html": "<b>x</b>"}

    def __repr__(self) -> str:
        return "not what a notebook shows"


def test_values_render_as_ipython_displays_them() -> None:
    assert runtime.render(bool) == "bool"  # repr: <class 'bool'>
    assert runtime.render(iter(range(3))).startswith("<range_iterator at 0x")  # repr: "... object at"
    assert runtime.render({3, 1, 2}) == "{1, 2, 3}"
    assert runtime.render(Bundle()) == "shown by its bundle"
    assert runtime.render(Bundle) == f"{__name__}.Bundle"  # a class has no bundle
    assert runtime.render(list(range(40))).count("\n") == 39  # wrapped at 79 columns, as IPython does


def test_a_value_keeps_the_text_its_cell_showed() -> None:
    results = runtime.Results()
    arr = np.arange(3)
    with results.cell(0):
        results.value(0, arr)
        results.display(0, arr)
    with results.cell(1):
        arr[:] = 7
    assert results.texts == {"cell_0": "array([0, 1, 2])", "cell_0_display_1": "array([0, 1, 2])"}
    assert results.values["cell_0"] is arr


def test_cells_start_with_the_hook_and_pandas_gets_a_kernels_display_options() -> None:
    # In a fresh plain process pandas picks max_columns 0 (fit the terminal); a kernel, 20.
    code = textwrap.dedent("""
        import pandas as pd
        from nbrepro.export import runtime_template as runtime
        before = pd.get_option("display.max_columns")
        started = []
        runtime.set_cell_start(started.append)
        results = runtime.Results()
        with results.cell(4):
            pass
        print(before, pd.get_option("display.max_columns"), started)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "20", "[4]"]
