"""The parameters cell and ``-p`` values: one reading of each, wherever it is needed."""

from __future__ import annotations

import pytest

from nbrepro import UsageError
from nbrepro.notebook.params import (
    assignments,
    injection_point,
    is_parameters_cell,
    literal,
    papermill_value,
    parameters_role,
    parse_param,
)

PAPERMILL_VALUES = ["True", "False", "None", "5", "-3", "1_000", " 7 ", "2.5", "1e3", "inf", "nan", "[1, 2]", "'a'", "x", ""]


@pytest.mark.parametrize("text", PAPERMILL_VALUES)
def test_papermill_values_are_typed_as_papermills_cli_types_them(text: str) -> None:
    import papermill.cli

    expected = papermill.cli._resolve_type(text)
    actual = papermill_value(text)
    assert type(actual) is type(expected)
    assert repr(actual) == repr(expected)  # repr: nan equals nothing


def test_verify_p_takes_any_python_literal_else_the_text() -> None:
    assert parse_param("scale", "3") == ("scale", 3)
    assert parse_param("sizes", "[1, 2]") == ("sizes", [1, 2])  # papermill's CLI would keep the text
    assert parse_param("label", "b") == ("label", "b")
    assert parse_param("label", "'b'") == ("label", "b")
    assert parse_param("bad", "{[]: 1}") == ("bad", "{[]: 1}")  # literal syntax, yet no value: the text
    with pytest.raises(UsageError):
        parse_param("not-a-name", "1")


def test_literal_raises_value_error_for_anything_not_a_literal() -> None:
    assert literal("{'a': (1, 2.5)}") == {"a": (1, 2.5)}
    for text in ("f(1)", "a +", "{[]: 1}", "x"):
        with pytest.raises(ValueError):
            literal(text)


def test_assignments_keep_what_is_not_a_json_literal_as_its_source() -> None:
    source = "a = 1\nb: str = 'x'\nc = f(a)\nd = float('nan')\ne = {1, 2}\nf: int\nx, y = 1, 2\nimport os\n"
    assert assignments(source) == {"a": 1, "b": "x", "c": {"expr": "f(a)"}, "d": {"expr": "float('nan')"}, "e": {"expr": "{1, 2}"}}
    assert assignments("a = (") == {}


def test_a_parameters_cell_is_found_by_its_tags_or_papermills_comment() -> None:
    assert is_parameters_cell("x = 1", ["parameters"])
    assert is_parameters_cell("x = 1", ["injected-parameters"])
    assert is_parameters_cell("  # Parameters\nx = 1", [])
    assert not is_parameters_cell("x = 1", ["other"])
    assert parameters_role(["injected-parameters", "parameters"]) == "parameters"  # the notebook's own wins
    assert parameters_role(["injected-parameters"]) == "injected"
    assert parameters_role([]) is None


def cell(kind: str, tags: list[str]) -> dict[str, object]:
    return {"cell_type": kind, "source": "", "metadata": {"tags": tags}}


def test_injection_point_follows_papermill() -> None:
    assert injection_point([cell("code", []), cell("code", [])]) == (0, False)
    assert injection_point([cell("code", []), cell("code", ["parameters"]), cell("code", [])]) == (2, False)
    injected = [cell("code", ["parameters"]), cell("code", ["injected-parameters"]), cell("code", [])]
    assert injection_point(injected) == (1, True)
    assert injection_point([cell("markdown", ["injected-parameters"]), cell("code", [])]) == (1, False)
