"""Static name flow between cells: what each cell defines and uses, and who inherits a difference."""

from __future__ import annotations

import ast

import pytest

from nbrepro.notebook.flow import BlockNames, CellNames, block_names, cell_names, dependencies, imported_modules


def upstream_of(deps: list[dict[str, int]], index: int) -> set[int]:
    """Every cell whose names reached cell ``index``, transitively."""
    seen: set[int] = set()
    todo = list(deps[index].values())
    while todo:
        u = todo.pop()
        if u not in seen:
            seen.add(u)
            todo.extend(deps[u].values())
    return seen


def downstream(sources: list[str], index: int) -> set[int]:
    """Cells a difference in cell ``index`` reaches, as verify finds them: every cell that
    has ``index`` among the cells upstream of it."""
    deps = dependencies(sources)
    return {i for i in range(len(sources)) if index in upstream_of(deps, i)}


def names(source: str) -> tuple[set[str], set[str]]:
    found = cell_names(source)
    return set(found.defines), set(found.uses)


def test_assignments_of_every_shape_define() -> None:
    assert names("a = b") == ({"a"}, {"b"})
    assert names("a, (b, *c) = d") == ({"a", "b", "c"}, {"d"})
    assert names("a = b = 1") == ({"a", "b"}, set())
    assert names("n: int = m") == ({"n"}, {"m"})
    assert names("total += x") == ({"total"}, {"total", "x"})
    assert names("print(y := f(1))") == ({"y"}, {"f"})


def test_bare_annotation_binds_nothing() -> None:
    assert names("n: Width") == (set(), {"Width"})


def test_statements_that_bind() -> None:
    assert names("for i, row in rows:\n    pass") == ({"i", "row"}, {"rows"})
    assert names("with open(path) as fh:\n    pass") == ({"fh"}, {"path"})
    assert names("try:\n    pass\nexcept KeyError as err:\n    pass") == ({"err"}, set())
    assert names("import os.path, numpy as np\nfrom a.b import c as d, e") == ({"os", "np", "d", "e"}, set())
    assert names("def f(a):\n    return a\nclass C(Base):\n    pass") == ({"f", "C"}, {"Base"})
    assert names("del x, y") == ({"x", "y"}, set())
    assert names("match p:\n    case [a, *rest]:\n        pass\n    case {'k': v, **others}:\n        pass") == (
        {"a", "rest", "v", "others"},
        {"p"},
    )


def test_star_import_is_not_seen() -> None:
    assert names("from math import *") == (set(), set())


def test_builtins_are_not_uses() -> None:
    assert names("print(len(x), max(x))") == (set(), {"x"})
    assert names("display(df)\nget_ipython()") == (set(), {"df"})


def test_mutations_define_and_use() -> None:
    assert names("cfg.lr = 0.1") == ({"cfg"}, {"cfg"})
    assert names("table[k] = v") == ({"table"}, {"table", "k", "v"})
    assert names("model.layers[0].w += 1") == ({"model"}, {"model"})
    assert names("del cache[k]") == ({"cache"}, {"cache", "k"})
    assert names("items.append(1)") == ({"items"}, {"items"})
    assert names("df.fillna(0, inplace=True)") == ({"df"}, {"df"})
    assert names("np.random.seed(0)") == (set(), {"np"})  # only a method on a bare name counts


def test_reading_a_name_after_binding_it_in_the_cell_is_not_a_use() -> None:
    assert names("x = 1\nprint(x)") == ({"x"}, set())
    assert names("x = x + 1") == ({"x"}, {"x"})
    assert names("print(x)\nx = 1") == ({"x"}, {"x"})
    # A binding inside a branch may not happen: the earlier value may still be read.
    assert names("if c:\n    x = 1\nprint(x)") == ({"x"}, {"c", "x"})


def test_function_bodies_give_free_names_only() -> None:
    source = "def f(a, *args, k=default, **kw):\n    b = a + g\n    return [i * scale for i in args]"
    assert names(source) == ({"f"}, {"default", "g", "scale"})
    assert names("f = lambda a, b=c: a + d") == ({"f"}, {"c", "d"})
    assert names("@decorate\ndef f(a: Type) -> Ret:\n    pass") == ({"f"}, {"decorate", "Type", "Ret"})


def test_closures_do_not_reach_module_level() -> None:
    source = "def outer():\n    v = 1\n    def inner():\n        nonlocal v\n        v += w\n    return inner"
    assert names(source) == ({"outer"}, {"w"})


def test_global_declarations_define() -> None:
    source = "def reset():\n    global counter, seen\n    counter = 0\n    seen.clear()\n    return limit"
    assert names(source) == ({"reset", "counter", "seen"}, {"seen", "limit"})
    assert names("def f():\n    local = 1\n    local.append(2)") == ({"f"}, set())


def test_class_bodies_hide_their_names_from_methods() -> None:
    source = "class C:\n    size = 3\n    other = size * 2\n    def m(self):\n        return size"
    assert names(source) == ({"C"}, {"size"})  # the method's `size` is the module's


def test_comprehensions_scope_their_targets() -> None:
    assert names("out = [x * k for x in xs if x]") == ({"out"}, {"k", "xs"})
    assert names("out = {k: v for k, v in zip(ks, vs)}") == ({"out"}, {"ks", "vs"})
    assert names("out = [x for x in x]") == ({"out"}, {"x"})  # the outer iterable is the module's x
    assert names("any((last := v) > 0 for v in vals)") == ({"last"}, {"vals"})


def test_ipython_syntax() -> None:
    assert names("%matplotlib inline\nimport numpy as np") == ({"np"}, set())
    assert names("files = !ls $folder") == ({"files"}, {"folder"})
    assert names("!echo {name}") == (set(), {"name"})
    assert names("%%time\nresult = fit(data)\nprint(result)") == ({"result"}, {"fit", "data"})
    assert names("%%capture --no-stderr captured\nrun(cfg)") == ({"captured"}, {"run", "cfg"})
    assert names("%time y = f(x)") == ({"y"}, {"f", "x"})
    assert names("%timeit -n 10 f(x)") == (set(), {"f", "x"})
    assert names("%%bash\necho hi") == (set(), set())


def test_invalid_source_gives_empty_sets() -> None:
    assert cell_names("def f(:") == CellNames(frozenset(), frozenset())
    assert cell_names("x = (") == CellNames(frozenset(), frozenset())
    assert cell_names("") == CellNames(frozenset(), frozenset())


def test_cell_names_is_frozen() -> None:
    with pytest.raises(AttributeError):
        cell_names("a = 1").defines = frozenset()  # type: ignore[misc]


# -- dependencies and downstream --------------------------------------------------------------


def test_dependencies_point_at_the_latest_earlier_definer() -> None:
    cells = ["a = 1", "b = a * 2", "a = 10", "c = a + b", "print(z)"]
    assert dependencies(cells) == [{}, {"a": 0}, {}, {"a": 2, "b": 1}, {}]


def test_a_cell_does_not_depend_on_itself_or_later_cells() -> None:
    assert dependencies(["x = x + 1", "x = 2"]) == [{}, {}]


def test_mutation_makes_a_cell_the_definer() -> None:
    cells = ["items = []", "items.append(1)", "print(items)"]
    assert dependencies(cells) == [{}, {"items": 0}, {"items": 1}]
    assert downstream(cells, 0) == {1, 2}


def test_calling_a_module_function_does_not_redefine_the_module() -> None:
    cells = ["import numpy as np", "a = np.zeros(3)", "b = np.ones(3)"]
    assert dependencies(cells) == [{}, {"np": 0}, {"np": 0}]
    assert downstream(cells, 1) == set()
    # Storing into the module is a change, though.
    cells = ["import numpy as np", "np.pi = 3", "print(np.pi)"]
    assert dependencies(cells)[2] == {"np": 1}


def test_a_rebound_builtin_is_a_dependency() -> None:
    cells = ["max = 3", "print(max)", "print(len([]))"]
    assert dependencies(cells) == [{}, {"max": 0}, {}]


def test_function_reads_flow_through() -> None:
    cells = ["scale = 2", "def f(x):\n    return x * scale", "y = f(3)"]
    assert dependencies(cells) == [{}, {"scale": 0}, {"f": 1}]
    assert downstream(cells, 0) == {1, 2}


def test_downstream_is_transitive_and_excludes_unrelated_cells() -> None:
    cells = ["a = 1", "b = a", "c = 2", "d = b + c", "e = c", "print(d)", "a = 5", "print(a)"]
    assert downstream(cells, 0) == {1, 3, 5}
    assert downstream(cells, 2) == {3, 4, 5}
    assert downstream(cells, 6) == {7}
    assert downstream(cells, 7) == set()


def test_downstream_stops_at_a_redefinition() -> None:
    cells = ["df = load()", "df = clean(raw)", "df.plot()"]
    assert downstream(cells, 0) == set()
    assert downstream(cells, 1) == {2}


def test_downstream_ignores_cells_that_do_not_parse() -> None:
    cells = ["a = 1", "b = (", "c = a"]
    assert downstream(cells, 0) == {2}



# -- block names: what export's steps pass ------------------------------------------------------


def block(source: str) -> BlockNames:
    return block_names(ast.parse(source).body)


def test_blocks_read_in_the_order_their_statements_run() -> None:
    found = block("with open(path) as fh:\n    rates = json.load(fh)\nsorted(rates)")
    assert found.reads == {"open", "path", "json", "sorted"} and found.certain == {"fh", "rates"}
    assert block("for i in items:\n    last = i\nprint(last)").reads == {"items", "print", "last"}
    assert block("try:\n    v = f()\nexcept E as e:\n    print(e)\n    v = 0").certain == {"v"}


def test_certain_needs_every_way_through() -> None:
    assert block("if c:\n    x = 1\nelse:\n    x = 2").certain == {"x"}
    assert block("if c:\n    x = 1").certain == set()
    assert block("x = 1\ndel x").certain == set()
    assert block("while c:\n    y = 1").certain == set()


def test_functions_read_late_and_bind_through_global() -> None:
    found = block("def loss(w):\n    return w @ Xs + PENALTY\nclass M:\n    k = base\n    def fit(self):\n        return loss(1)")
    assert found.binds == {"loss", "M"} and found.reads == {"base"}
    assert found.late == {"Xs", "PENALTY", "loss"}
    assert block("def add(n):\n    global total\n    total += n").global_writes == {"total"}


def test_imported_modules_in_order() -> None:
    modules = [ast.parse("import os.path, numpy as np\nfrom a.b import c\nfrom . import d\nfrom __future__ import annotations")]
    assert imported_modules(modules) == ["os", "numpy", "a"]
