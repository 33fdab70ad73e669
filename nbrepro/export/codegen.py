"""The text of ``pipeline.py``: imports, the notebook's functions and classes, the steps,
what the cells showed (``SHOWN``, ``DISPLAYED``) and ``run()``.

The steps carry no capture code: each cell's statements follow a ``# cell N`` comment, and
the runtime (``_runtime.Notebook``) watches the step functions run to capture what each cell
printed, save its figures, and evaluate what it showed where it ended. The module is meant
to pass ``ruff check`` with its default rules: imports sorted and each used, no name that
nothing binds, nothing assigned that nothing reads.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..notebook.flow import block_names, scope_nodes
from ..notebook.params import literal
from .steps import MARKER_LINE, Cell, Flow, Section, Step, undefined

# Builtins, and the names every module has (``__file__``).
BUILTINS = frozenset(dir(builtins)) | {"__file__", "__cached__", "__annotations__", "__builtins__"}

_LITERAL_TYPES = ("bool", "int", "float", "complex", "str", "bytes", "list", "dict", "tuple", "set")
_CHECKABLE = frozenset(_LITERAL_TYPES) | {"frozenset"}
_WIDENED = {"float": ["float", "int"], "complex": ["complex", "float", "int"]}
_CONTAINERS = ("list", "dict", "set")
_LINE = 88  # ruff's default line length, which its import sorting wraps at

Report = Callable[[int, str, str], None]


@dataclass(frozen=True)
class Parameter:
    """A papermill parameter. ``default`` is the literal value; a default that is not a
    literal has type ``object``, ``default`` None, and is computed from ``source`` by the
    parameters cell unless the caller passes a value."""

    name: str
    type: str
    default: Any
    source: str


@dataclass
class Parts:
    imports: list[ast.stmt]
    defs: list[ast.stmt]
    steps: list[Step]
    sections: list[Section]  # all, with those no step runs (their cells' comments are kept)
    flow: Flow
    cells: list[Cell]
    parameters: list[Parameter]
    notebook_dir: str | None
    inputs: tuple[str, ...]
    plt_names: frozenset[str] = field(default_factory=frozenset)


def module(parts: Parts, report: Report) -> str:
    """The source of ``pipeline.py`` (comment markers still to expand)."""
    shared = set(parts.flow.shared)
    params = [p.name for p in parts.parameters]
    bound = {n for s in parts.steps for c in s.section.cells for n in block_names(c.body).binds}
    defined = set(block_names([*parts.imports, *parts.defs]).binds)
    needed = _free_names(parts) - bound - set(params) - defined - BUILTINS
    imports, unresolved = _resolve_star_imports(parts.imports, needed, report)
    module_names = set(block_names([*imports, *parts.defs]).binds) | {"run", "os", "_runtime", "_share_parameters"}
    if not parts.flow.dynamic and not unresolved:
        for step in parts.steps:
            _mark_undefined(step, module_names | shared, report)
    shared_params = [p for p in params if p in shared]
    blocks = [
        *(ast.unparse(d) for d in parts.defs),
        _constants(parts.notebook_dir, parts.parameters, parts.inputs),
        *([_share_source(shared_params, parts.flow)] if shared_params else []),
        *_steps_and_notes(parts),
        _tables(parts.cells, module_names, shared, bound | set(params)),
        _run_source(parts.parameters, parts.steps, shared_params),
    ]
    body = "\n\n\n".join(blocks)
    used = _loaded(body)
    kept = _used_imports(imports, used, report)
    # ruff's isort: two blank lines before a def or a class, one before anything else
    return _imports_block(kept) + ("\n\n\n" if parts.defs else "\n\n") + body


def relative_imports(imports: list[ast.stmt], local: set[str]) -> list[ast.stmt]:
    """Imports of the notebook's own modules, which the package carries in ``local/``, as
    relative imports: ``import features`` becomes ``from .local import features``. ``import
    a.b`` (binding ``a``) is left to ``local.localize``, which names the package."""
    out: list[ast.stmt] = []
    for stmt in imports:
        new: list[ast.stmt] = [stmt]
        if isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module and stmt.module.partition(".")[0] in local:
            new = [ast.ImportFrom(f"local.{stmt.module}", stmt.names, 1)]
        elif isinstance(stmt, ast.Import) and any(a.name.partition(".")[0] in local for a in stmt.names):
            new = []
            for alias in stmt.names:
                package, _, name = alias.name.rpartition(".")
                if alias.name.partition(".")[0] not in local or (package and not alias.asname):
                    new.append(ast.Import([alias]))
                else:
                    new.append(ast.ImportFrom(f"local.{package}".rstrip("."), [ast.alias(name, alias.asname)], 1))
        for made in new:
            made.nbrepro_cell = getattr(stmt, "nbrepro_cell", -1)  # type: ignore[attr-defined]
        out += new
    return out


def expand_comments(source: str, comments: list[list[str]]) -> str:
    def lines(match: re.Match[str]) -> str:
        indent = match.group("indent")
        return "\n".join(f"{indent}# {line}".rstrip() if line.strip() else f"{indent}#" for line in comments[int(match.group("n"))])

    return MARKER_LINE.sub(lines, source)


# --- parameters ---------------------------------------------------------------------


def default_source(parameter: Parameter) -> str:
    """The default as ``run()`` and ``PARAMETERS`` write it: a literal, or the marker
    that lets the parameters cell compute it."""
    try:
        literal(parameter.source)
    except ValueError:
        return "_runtime.NOTEBOOK_DEFAULT"
    return parameter.source


def checked_types(annotation: str) -> list[str] | None:
    """The types ``run()`` checks a parameter against, for annotations simple enough to
    check (builtins, their generics, ``| None``, ``Optional``); None means unchecked."""

    def types(node: ast.expr) -> list[str] | None:
        if (isinstance(node, ast.Constant) and node.value is None) or (isinstance(node, ast.Name) and node.id == "None"):
            return ["type(None)"]
        if isinstance(node, ast.Name) and node.id in _CHECKABLE:
            return _WIDENED.get(node.id, [node.id])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            left, right = types(node.left), types(node.right)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            if node.value.id == "Optional":
                inner = types(node.slice)
                return None if inner is None else [*inner, "type(None)"]
            return [node.value.id] if node.value.id in _CHECKABLE else None
        return None

    try:
        parsed = ast.parse(annotation.strip(), mode="eval").body
    except SyntaxError:
        return None
    checked = types(parsed)
    return None if checked is None else list(dict.fromkeys(checked))


def _annotation(text: str) -> str:
    """Annotations beyond builtins are quoted: they may name a class the notebook defines
    in a step, which does not exist yet when ``run`` is defined."""
    return text if text == "object" or checked_types(text) is not None else repr(text)


# --- names --------------------------------------------------------------------------


def _free_names(parts: Parts) -> set[str]:
    """Every name the notebook's code reads: what a star import may have to provide."""
    names: set[str] = set()
    for cell in parts.cells:
        found = block_names([*cell.body, *(ast.Expr(e) for e in [*cell.displays, *filter(None, [cell.shown])])])
        names |= found.reads | found.late
    return names | block_names(parts.defs).late


def _resolve_star_imports(imports: list[ast.stmt], needed: set[str], report: Report) -> tuple[list[ast.stmt], bool]:
    """``from m import *`` as the names the notebook reads from ``m`` (imported here to
    find them): the names it binds become known, and the file lint-clean. A module that
    does not import here stays a star import (reported): its names are unknown."""
    out: list[ast.stmt] = []
    unresolved = False
    for stmt in imports:
        if not (isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names) and stmt.module):
            out.append(stmt)
            continue
        cell = getattr(stmt, "nbrepro_cell", -1)
        try:
            found = importlib.import_module(stmt.module)
        except Exception:  # noqa: BLE001 - any failure of the notebook's module means: unknown names
            unresolved = True
            out.append(stmt)
            report(cell, "fallback", f"cell {cell}: `from {stmt.module} import *` kept: {stmt.module} does not import here")
            continue
        public = getattr(found, "__all__", None) or [n for n in dir(found) if not n.startswith("_")]
        names = sorted(needed & set(public))
        needed -= set(names)
        shown = ", ".join(names) or "nothing the notebook reads"
        report(cell, "star-import", f"cell {cell}: `from {stmt.module} import *` became an import of {shown}")
        if names:
            new = ast.ImportFrom(stmt.module, [ast.alias(n) for n in names], 0)
            new.nbrepro_cell = cell  # type: ignore[attr-defined]
            out.append(new)
    return out, unresolved


def _mark_undefined(step: Step, known: set[str], report: Report) -> None:
    """A name the step reads that nothing binds becomes ``_runtime.undefined('name')``,
    which raises the NameError the notebook raised, in the same place."""
    missing = undefined(step, known)
    if not missing:
        return
    for cell in step.section.cells:
        hit: set[str] = set()
        for node in scope_nodes(cell.body):
            for name, child in ast.iter_fields(node):
                values = child if isinstance(child, list) else [child]
                for k, value in enumerate(values):
                    if isinstance(value, ast.Name) and isinstance(value.ctx, ast.Load) and value.id in missing:
                        call = ast.parse(f"_runtime.undefined({value.id!r})", mode="eval").body
                        if isinstance(child, list):
                            child[k] = call
                        else:
                            setattr(node, name, call)
                        hit.add(value.id)
        for name in sorted(hit):
            report(
                cell.index, "undefined",
                f"cell {cell.index} reads {name}, which nothing binds before it: _runtime.undefined({name!r})"
                " raises the NameError the notebook raised",
            )


def _loaded(source: str) -> set[str]:
    tree = ast.parse(source)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


# --- imports ------------------------------------------------------------------------


def _used_imports(imports: list[ast.stmt], used: set[str], report: Report) -> list[ast.stmt]:
    """One statement per imported name; names nothing reads are dropped, and reported."""
    kept: list[ast.stmt] = []
    for stmt in imports:
        assert isinstance(stmt, (ast.Import, ast.ImportFrom))
        cell = getattr(stmt, "nbrepro_cell", -1)
        for alias in stmt.names:
            bound = alias.asname or alias.name.partition(".")[0]
            single: ast.stmt = ast.Import([alias]) if isinstance(stmt, ast.Import) else ast.ImportFrom(stmt.module, [alias], stmt.level)
            if alias.name == "*" or bound in used or (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"):
                kept.append(single)
            else:
                report(cell, "unused-import", f"cell {cell}: dropped `{ast.unparse(single)}`: nothing reads {bound}")
    return kept


def _imports_block(imports: list[ast.stmt]) -> str:
    """The imports as ruff's isort sorts them: future, standard library, third party, then
    the package's own (relative) modules; plain imports before ``from`` imports in each."""
    sections: dict[int, dict[tuple[Any, ...], str]] = {0: {}, 1: {}, 2: {}, 3: {}}
    froms: dict[tuple[int, str, int], list[ast.alias]] = {}
    for stmt in [*imports, ast.ImportFrom(None, [ast.alias("_runtime")], 1), ast.Import([ast.alias("os")])]:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                text = ast.unparse(ast.Import([alias]))
                sections[_section(alias.name, 0)][(0, alias.name.lower(), alias.name, alias.asname or "")] = text
        else:
            assert isinstance(stmt, ast.ImportFrom)
            key = (_section(stmt.module or "", stmt.level), stmt.module or "", stmt.level)
            froms.setdefault(key, []).extend(stmt.names)
    for (section, mod, level), aliases in froms.items():
        unique = {(a.name, a.asname): a for a in aliases}.values()
        ordered = sorted(unique, key=lambda a: _member_key(a.name, a.asname))
        names = [f"{a.name} as {a.asname}" if a.asname else a.name for a in ordered]
        head = f"from {'.' * level}{mod} import "
        line = head + ", ".join(names)
        if len(line) > _LINE:
            line = head + "(\n" + "".join(f"    {n},\n" for n in names) + ")"
        sections[section][(1, ("." * level + mod).lower(), mod, "")] = line
    blocks = ["\n".join(lines[k] for k in sorted(lines)) for lines in sections.values() if lines]
    return "\n\n".join(blocks)


def _section(module: str, level: int) -> int:
    if level:
        return 3
    if module == "__future__":
        return 0
    top = module.partition(".")[0]
    return 1 if top in sys.stdlib_module_names else 2


def _member_key(name: str, asname: str | None) -> tuple[int, str, str]:
    """ruff's order-by-type: CONSTANTS, then Classes, then everything else."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower(), asname or ""


# --- module text --------------------------------------------------------------------


def _constants(notebook_dir: str | None, parameters: list[Parameter], inputs: tuple[str, ...]) -> str:
    entries = [f"    {p.name!r}: {default_source(p)}," for p in parameters]
    table = "PARAMETERS: dict[str, object] = {" + "".join(f"\n{e}" for e in entries) + ("\n}" if entries else "}")
    return "\n".join(
        [
            "# The notebook's folder, relative to this package's folder: run() works there",
            "# unless given workdir. None: run in the current folder.",
            f"NOTEBOOK_DIR: str | None = {notebook_dir!r}",
            "",
            "# What the notebook read, relative to its folder: a run given outdir works there,",
            "# with these linked from workdir, so what the code writes lands under outdir.",
            f"INPUTS: tuple[str, ...] = {tuple(inputs)!r}",
            "",
            "# The notebook's parameters (its cell tagged 'parameters') and their defaults.",
            table,
        ]
    )


def _share_source(names: list[str], flow: Flow) -> str:
    why = sorted({w for n in names for w in flow.shared[n]})
    return "\n".join(
        [
            "def _share_parameters(values: dict[str, object]) -> None:",
            f'    """nbrepro fallback: {", ".join(why)} read these parameters as module globals."""',
            f"    global {', '.join(names)}",
            *(f"    {n} = values[{n!r}]" for n in names),
        ]
    )


class _InStep(ast.NodeTransformer):
    """A cell's module-level statements, moved into a function, keep their meaning there: a
    ``global`` at a cell's top level does nothing in a notebook (it would in a function),
    and a name both annotated and declared ``global`` is a SyntaxError."""

    def __init__(self, shared: set[str]) -> None:
        self.shared = shared

    def _keep(self, node: ast.AST) -> ast.AST:
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _keep

    def visit_Global(self, node: ast.Global) -> None:
        return None

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if not (isinstance(node.target, ast.Name) and node.target.id in self.shared):
            return node
        return None if node.value is None else ast.copy_location(ast.Assign([node.target], node.value, None), node)


def _steps_and_notes(parts: Parts) -> list[str]:
    """The steps, and where a section has nothing left to run, the comments its cells left
    (a cell that never parsed, a magic kept as a comment), at module level."""
    steps = {id(s.section): s for s in parts.steps}
    out = []
    for section in parts.sections:
        step = steps.get(id(section))
        if step is not None:
            out.append(_step_source(step, parts.flow))
            continue
        notes = [f"# cell {c.index}\n{ast.unparse(s)}" for c in section.cells for s in c.body if _comment_only(s)]
        if notes:
            out.append("\n".join(notes))
    return out


def _step_source(step: Step, flow: Flow) -> str:
    section = step.section
    doc = section.heading if section.heading else "The cells before the first heading."
    lines = [f"def {step.name}({', '.join(step.args)}):", f"    {_docstring(doc or step.name)}"]
    if step.shared:
        why = sorted({w for n in step.shared for w in flow.shared[n]})
        lines += [f"    # nbrepro fallback: module globals, for {', '.join(why)}", f"    global {', '.join(step.shared)}"]
    shared = set(flow.shared)
    for cell in section.cells:
        body = [s for stmt in cell.body for s in _as_list(_InStep(shared).visit(stmt))]
        if not body:
            continue
        if cell.expect_error and any(not _comment_only(s) for s in body):
            lines.append(f"    # cell {cell.index}: raised {cell.expect_error} in the notebook")
            wrapped = ast.parse(f"with _runtime.expected_error({cell.expect_error!r}):\n    pass").body[0]
            assert isinstance(wrapped, ast.With)
            wrapped.body = body
            body = [wrapped]
        else:
            lines.append(f"    # cell {cell.index}")
        for stmt in body:
            lines += [f"    {line}" if line else "" for line in ast.unparse(stmt).splitlines()]
    if step.returns:
        lines.append(f"    return {', '.join(step.returns)}")
    return "\n".join(lines)


def _docstring(text: str) -> str:
    plain = '"' not in text and "\\" not in text and "\n" not in text
    return f'"""{text}"""' if plain else ast.unparse(ast.Constant(text))


def _comment_only(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name) and MARKER_LINE.match(stmt.value.id) is not None


def _as_list(node: ast.AST | list[ast.AST] | None) -> list[ast.stmt]:
    if node is None:
        return []
    return node if isinstance(node, list) else [node]  # type: ignore[list-item, return-value]


def _tables(cells: list[Cell], module_names: set[str], shared: set[str], notebook_names: set[str]) -> str:
    """``SHOWN`` and ``DISPLAYED``: per cell, a function of the names it shows, which the
    runtime passes from the steps' state. Module globals (imports, functions, the names that
    stay module globals) it reads itself; a module-level name a step rebinds is the step's."""

    def entry(index: int, node: ast.expr) -> str:
        reads = block_names([ast.Expr(node)]).reads - BUILTINS - shared
        args = sorted(n for n in reads if n not in module_names or n in notebook_names)
        return f"    {index}: {ast.unparse(ast.Lambda(_arguments(args), node))},"

    shown = [entry(c.index, c.shown) for c in cells if c.shown is not None]
    displayed = [entry(c.index, ast.List(list(c.displays), ast.Load())) for c in cells if c.displays]
    return "\n".join(
        [
            "# What each cell showed in the notebook, as functions of the names it read: its last",
            "# expression (SHOWN) and the objects it passed to display() (DISPLAYED). run() evaluates",
            "# them where the cell ended; _runtime.last_results() has them as cell_<n>.",
            "SHOWN = {" + "".join(f"\n{e}" for e in shown) + ("\n}" if shown else "}"),
            "DISPLAYED = {" + "".join(f"\n{e}" for e in displayed) + ("\n}" if displayed else "}"),
        ]
    )


def _arguments(names: list[str]) -> ast.arguments:
    return ast.arguments([], [ast.arg(n) for n in names], None, [], [], None, [])


def _run_source(parameters: list[Parameter], steps: list[Step], shared_params: list[str]) -> str:
    path = "str | os.PathLike[str] | None"
    signature = [
        *(f"    {p.name}: {_annotation(p.type)} = {default_source(p)}," for p in parameters),
        f"    workdir: {path} = None,",
        f"    outdir: {path} = None,",
    ]
    checks = []
    for p in parameters:
        types = checked_types(p.type)
        if types:
            checks.append(f"    _runtime.check_type({p.name!r}, {p.name}, {', '.join(types)})")
    for p in parameters:
        if checked_types(p.type) is not None and p.type.partition("[")[0] in _CONTAINERS:
            checks.append(f"    {p.name} = _runtime.fresh({p.name})")
    if shared_params:
        checks.append(f"    _share_parameters({{{', '.join(f'{n!r}: {n}' for n in shared_params)}}})")
    values = "{" + ", ".join(f"{p.name!r}: {p.name}" for p in parameters) + "}"
    calls = []
    for step in steps:
        call = f"{step.name}({', '.join(step.args)})"
        calls.append(f"        {', '.join(step.returns)} = {call}" if step.returns else f"        {call}")
    held = sorted({n for s in steps for n in s.returns})
    result = "    return {" + "".join(f"\n        {n!r}: {n}," for n in held) + ("\n    }" if held else "}")
    return "\n".join(
        [
            "def run(",
            "    *,",
            *signature,
            ") -> dict[str, object]:",
            '    """Run the notebook\'s steps in order; return its variables as they left them.',
            "",
            "    The code runs in ``workdir`` (default: NOTEBOOK_DIR), or, given ``outdir``, in",
            "    ``outdir`` with INPUTS linked from ``workdir``; figures are saved under ``outdir``.",
            "    ``_runtime.last_results()`` has what each cell printed and showed.",
            '    """',
            *checks,
            "    with _runtime.Notebook(",
            f"        SHOWN, DISPLAYED, {values},",
            "        workdir=workdir, default=NOTEBOOK_DIR, outdir=outdir, inputs=INPUTS,",
            "    ):",
            *(calls or ["        pass"]),
            result,
        ]
    )
