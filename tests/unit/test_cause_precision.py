"""Causes land on the cells that use them, and on no others (issue 16, items 1, 2 and 4).

The facts are built the way ``notebook.facts.from_records`` builds them from a store; the
notebook sources are real cells, read by the real name-flow analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbrepro.notebook.facts import CellFacts, SessionFacts
from nbrepro.record.hashing import hash_text
from nbrepro.verify.causes import CauseFinder


def _session(
    sources: list[str], source: str, *, order: list[int] | None = None, imported: dict[int, dict[str, str]] | None = None,
    data: dict[int, list[dict[str, Any]]] | None = None, params: dict[str, Any] | None = None,
    unseeded: dict[int, list[str]] | None = None,
) -> SessionFacts:
    order = list(range(len(sources))) if order is None else order
    facts = SessionFacts(source=source, order=order, params=dict(params or {}))
    loaded: dict[str, str] = {}
    for n, index in enumerate(order):
        here = (imported or {}).get(index, {})
        loaded.update(here)
        facts.cells[index] = CellFacts(
            index=index, source_hash=hash_text(sources[index]), imported=dict(loaded), imported_here=dict(here),
            data=list((data or {}).get(index, [])), unseeded=list((unseeded or {}).get(index, [])), order=order[: n + 1],
        )
    return facts


def _finder(sources: list[str], recorded: SessionFacts, rerun: SessionFacts, tmp_path: Path, **kw: Any) -> CauseFinder:
    return CauseFinder(recorded, rerun, sources, tmp_path, tmp_path, lambda _path: None, **kw)


def _kinds(finder: CauseFinder, index: int) -> list[tuple[str, str]]:
    return [(c["kind"], c["detail"]) for c in finder.for_cell(index)]


def test_a_package_reaches_only_cells_that_use_what_it_bound(tmp_path: Path) -> None:
    sources = [
        "import pandas as pd\nimport numpy as np",
        "!ls data",
        "a = np.arange(3)",
        "df = pd.DataFrame({'a': a})",
        "total = a.sum()",
        "print(df.shape)",
    ]
    recorded = _session(sources, "store", imported={0: {"pandas": "3.1.1", "numpy": "2.4.6"}})
    rerun = _session(sources, "rerun", imported={0: {"pandas": "2.3.3", "numpy": "2.4.6"}})
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert _kinds(finder, 0) == [("package", "pandas: 3.1.1 -> 2.3.3")]
    assert _kinds(finder, 1)[0][0] == "nondeterminism"  # a shell cell reads no name
    assert _kinds(finder, 2)[0][0] == "nondeterminism"  # numpy only, though cell 0 also loaded pandas
    assert _kinds(finder, 3) == [("package", "via cell 0: pandas: 3.1.1 -> 2.3.3")]
    assert _kinds(finder, 4)[0][0] == "nondeterminism"
    assert _kinds(finder, 5) == [("package", "via cell 0: pandas: 3.1.1 -> 2.3.3")]  # df came from cell 3


def test_each_cause_is_named_once(tmp_path: Path) -> None:
    sources = ["import pandas as pd", "df = pd.DataFrame()\nimport pandas\nn = len(df)"]
    recorded = _session(sources, "store", imported={0: {"pandas": "3.1.1"}})
    rerun = _session(sources, "rerun", imported={0: {"pandas": "2.3.3"}})
    causes = _finder(sources, recorded, rerun, tmp_path).for_cell(1)
    assert [c["kind"] for c in causes] == ["package"]


def test_a_dependency_loaded_without_a_binding_rides_on_what_the_cell_computed(tmp_path: Path) -> None:
    sources = ["import pandas as pd", "df = pd.read_parquet('x.parquet')", "n = 3", "print(df, n)", "print(n)"]
    recorded = _session(sources, "store", imported={0: {"pandas": "3.1.1"}, 1: {"pyarrow": "20.0"}})
    rerun = _session(sources, "rerun", imported={0: {"pandas": "3.1.1"}, 1: {"pyarrow": "21.0"}})
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert _kinds(finder, 3) == [("package", "via cell 1: pyarrow: 20.0 -> 21.0")]
    assert _kinds(finder, 4)[0][0] == "nondeterminism"


def test_each_parameter_is_traced_through_its_own_name(tmp_path: Path) -> None:
    sources = ["markup = 1.0\nn_samples = 2", "price = 10 * markup", "rows = list(range(n_samples))", "print(price, len(rows))", "x = 1"]
    recorded = _session(sources, "store", params={"markup": 1.0, "n_samples": 2})
    rerun = _session(sources, "rerun", params={"markup": 2.0, "n_samples": 3})
    finder = _finder(sources, recorded, rerun, tmp_path, params_cells={0: {"markup", "n_samples"}})
    assert _kinds(finder, 1) == [("parameters", "via cell 0: markup: 1.0 -> 2.0")]
    assert _kinds(finder, 2) == [("parameters", "via cell 0: n_samples: 2 -> 3")]
    assert sorted(_kinds(finder, 3)) == [
        ("parameters", "via cell 0: markup: 1.0 -> 2.0"), ("parameters", "via cell 0: n_samples: 2 -> 3"),
    ]
    assert _kinds(finder, 4)[0][0] == "nondeterminism"


def test_a_parameter_no_cell_assigns_reaches_the_cells_that_read_it(tmp_path: Path) -> None:
    sources = ["y = alpha * 2", "z = 5"]
    recorded = _session(sources, "store", params={"alpha": 1})
    rerun = _session(sources, "rerun", params={"alpha": 2})
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert _kinds(finder, 0) == [("parameters", "alpha: 1 -> 2")]
    assert _kinds(finder, 1)[0][0] == "nondeterminism"


def test_a_folder_another_cell_wrote_into_is_a_data_cause_naming_the_writer(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    sources = ["!ls data", "x = 1", "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('data/out.csv')"]
    write = [{"path": "data/out.csv", "hash": "blake3:aa", "mode": "w", "seen_by": "open"}]
    # Recorded: the author ran the writing cell, then listed the folder.
    recorded = _session(sources, "store", order=[2, 0, 1], data={2: write})
    rerun = _session(sources, "rerun", data={2: write})
    finder = _finder(sources, recorded, rerun, tmp_path)
    causes = _kinds(finder, 0)
    assert causes[0][0] == "data" and causes[0][1].startswith("data/out.csv: written by cell 2")
    assert _kinds(finder, 1)[0][0] == "nondeterminism"


def test_a_read_of_a_file_another_cell_wrote_names_the_writer_and_the_changed_write(tmp_path: Path) -> None:
    sources = ["open('out.txt', 'w').write(str(seed))", "text = open('out.txt').read()", "print(1)"]
    recorded = _session(
        sources, "store",
        data={0: [{"path": "out.txt", "hash": "blake3:aa", "mode": "w"}], 1: [{"path": "out.txt", "hash": "blake3:aa", "mode": "r"}]},
    )
    rerun = _session(
        sources, "rerun",
        data={0: [{"path": "out.txt", "hash": "blake3:bb", "mode": "w"}], 1: [{"path": "out.txt", "hash": "blake3:bb", "mode": "r"}]},
    )
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert _kinds(finder, 1) == [("data", "out.txt: blake3:aa -> blake3:bb (written by cell 0)")]
    assert _kinds(finder, 2)[0][0] == "nondeterminism"


def test_order_is_a_cause_only_where_a_read_name_came_from_elsewhere(tmp_path: Path) -> None:
    sources = ["x = 1", "y = x + 1", "x = 100", "z = 7"]
    recorded = _session(sources, "store", order=[0, 2, 1, 3])  # cell 1 read x from cell 2
    rerun = _session(sources, "rerun")
    finder = _finder(sources, recorded, rerun, tmp_path)
    order = [d for k, d in _kinds(finder, 1) if k == "order"]
    assert order == ["the recorded run read x from cell 2 (in notebook order: cell 0); recorded order of cell runs: 0, 2, 1, 3"]
    assert _kinds(finder, 3)[0][0] == "nondeterminism"  # ran after the out-of-order cell, reads nothing


def test_a_cell_rerun_on_its_own_result_is_an_order_cause_downstream(tmp_path: Path) -> None:
    sources = ["x = 1", "x = x + 1", "x * 10"]
    recorded = _session(sources, "store", order=[0, 1, 1, 2])
    rerun = _session(sources, "rerun")
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert _kinds(finder, 2) == [(
        "order", "via cell 1: the recorded run read x from its own earlier run (in notebook order: cell 0); "
        "recorded order of cell runs: 0, 1, 1, 2",
    )]


def test_unseeded_randomness_reaches_the_cells_computed_from_it(tmp_path: Path) -> None:
    sources = ["import random\nr = random.random()", "print(r)", "print(2)"]
    recorded = _session(sources, "store", unseeded={0: ["random"]})
    rerun = _session(sources, "rerun")
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert [k for k, _ in _kinds(finder, 1)] == ["seed"]
    assert _kinds(finder, 2)[0][0] == "nondeterminism"


def test_calling_a_module_function_is_not_a_redefinition_for_order(tmp_path: Path) -> None:
    sources = ["import statistics", "m = statistics.mean([1, 2])", "print(statistics.median([m]))"]
    recorded = _session(sources, "store")
    rerun = _session(sources, "rerun")
    finder = _finder(sources, recorded, rerun, tmp_path)
    assert _kinds(finder, 2)[0][0] == "nondeterminism"
