"""Notebook → the source of an exported package's ``pipeline.py``: the cells, rewritten.

Imports, functions and classes move to module level; every other statement runs in a step
function (one per markdown heading, see ``steps``) whose arguments and return values are
the names that flow between steps. What a cell only showed (its last expression, its
``display()`` calls) is kept apart from the steps, in the module's ``SHOWN`` and
``DISPLAYED`` tables, which the runtime evaluates where the cell ended (``codegen``).

IPython syntax is turned into Python by IPython's own ``TransformerManager`` first, so
magics arrive as ``get_ipython().run_line_magic(...)`` calls wherever they were written;
each is then rewritten, dropped or kept as a comment, and always reported as a
``Rewrite``: an export must never change behaviour silently.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nbformat

from ..notebook.flow import block_names, cell_names, imported_modules, scope_nodes
from ..notebook.params import cell_tags, literal, parameters_role, simple_assignment
from ..notebook.syntax import (
    DROPPED_MAGICS,
    ENV_ASSIGN,
    SCRIPT_MAGICS,
    TIMEIT_FLAGS,
    TIMING_MAGICS,
    WRITEFILE,
    expr,
    magic_call,
    magic_text,
    parse_expression,
    pip_args,
    pip_requirements,
    shell_call,
    to_python,
)
from ..record.redact import redact
from . import codegen
from .codegen import Parameter as Parameter
from .codegen import checked_types
from .steps import MARKER, MARKER_LINE, Cell, Section, Step, plan

# Names the generated module defines itself; a notebook binding them would break it.
RESERVED = frozenset({"run", "PARAMETERS", "NOTEBOOK_DIR", "SHOWN", "DISPLAYED", "_runtime", "_share_parameters"})
# run()'s own keywords; a parameter of the same name could not be passed.
RUN_KEYWORDS = frozenset({"workdir", "outdir"})
# Methods that change the object they are called on: a last expression calling one stays in
# its step (``model.fit(X, y)`` shows the model, but it is also the pipeline's work).
_MUTATING = frozenset({
    "fit", "fit_transform", "fit_predict", "partial_fit", "train", "append", "extend", "insert", "pop",
    "popitem", "remove", "clear", "update", "setdefault", "add", "discard", "sort", "reverse", "write",
    "writelines", "send", "close", "seek", "truncate", "put", "backward", "step", "zero_grad",
})

_SLUG_MAX = 40


class TransformError(ValueError):
    """A notebook the export cannot turn into a working module; the message says why."""


@dataclass(frozen=True)
class Rewrite:
    """One change the export made to the notebook's code, for the export summary."""

    cell: int
    kind: str
    detail: str


@dataclass(frozen=True)
class ResultSpec:
    """What a cell showed, recorded under ``key`` in ``_runtime.last_results().values``:
    its last expression ("value") or an object it displayed ("display"). Display keys are
    numbered per cell in the order the calls are written; the runtime numbers them as they
    run, which agrees unless a display call sits in a loop or a branch, or runs inside one
    of the notebook's functions (then it is recorded under the calling cell and not listed
    here). A last expression that evaluates to None (a call like ``df.info()``) records
    nothing, as a notebook shows nothing for it."""

    key: str
    cell: int
    kind: str


@dataclass
class Transformed:
    """``pipeline.py``'s source and what the package assembly needs to know about it.
    ``explicit`` counts the steps whose names all flow as arguments and return values
    (no module global bound or read: no fallback)."""

    source: str
    parameters: list[Parameter]
    requirements: list[str]
    rewrites: list[Rewrite]
    imports: list[str]
    steps: list[str]
    results: list[ResultSpec]
    error_cells: list[int]
    has_parameters_cell: bool
    explicit: int = 0


def transform(
    nb: nbformat.NotebookNode,
    *,
    expect_errors: dict[int, str] | None = None,
    notebook_dir: str | None = None,
    inputs: tuple[str, ...] = (),
    local: Callable[[list[str]], set[str]] = lambda imports: set(),
) -> Transformed:
    """Turn a notebook into the source of ``pipeline.py`` (without provenance header).

    ``expect_errors`` maps a cell index to the exception type name the cell raised when
    recorded: that cell records the error instead of raising. ``notebook_dir`` is the
    notebook's folder relative to the package folder (where ``pipeline.py`` and
    ``_runtime.py`` sit), e.g. ``"../.."`` for ``src/PKG`` under the notebook's folder:
    ``run()`` works there unless given ``workdir``; None runs in the current folder.
    ``inputs`` are the files and folders the notebook reads, relative to its folder: a run
    given ``outdir`` works there and finds them as links (``INPUTS``). ``local`` says which
    of the notebook's imported modules are its own: the package carries them in ``local/``,
    and ``pipeline.py`` imports them from there.
    """
    expect_errors = dict(expect_errors or {})
    cells = list(nb.cells)
    for index in expect_errors:
        if not (0 <= index < len(cells) and cells[index].cell_type == "code"):
            raise ValueError(f"expect_errors names cell {index}, which is not a code cell")
    ctx = _Context()
    trees = {i: _parse_cell(i, _text(c.source), ctx) for i, c in enumerate(cells) if c.cell_type == "code"}
    ctx.plt_names = _pyplot_aliases([p.module for p in trees.values()])

    sections: list[Section] = [Section(None)]
    params_cell: int | None = None
    injected: Cell | None = None
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            heading = _heading(_text(cell.source))
            if heading is not None:
                sections.append(Section(heading))
        elif cell.cell_type == "code":
            role = parameters_role(cell_tags(cell))
            rewritten = _rewrite_cell(i, trees[i], expect_errors.get(i), ctx)
            if role == "injected":
                injected = rewritten  # papermill's: its values become the defaults
                continue
            if params_cell is None and role == "parameters":
                params_cell = i
            sections[-1].cells.append(rewritten)
    sections = [s for s in sections if s.cells]

    all_cells = [c for s in sections for c in s.cells]
    for cell in all_cells:
        _fill_empty_bodies(ast.Module(cell.body, []))
    by_index = {c.index: c for c in all_cells}
    parameters = _take_parameters(by_index[params_cell]) if params_cell is not None else []
    if injected is not None:
        parameters = _inject(parameters, injected, ctx)
        params_cell = injected.index if params_cell is None else params_cell
    _check_names(all_cells, parameters, params_cell, ctx)
    modules = imported_modules([ast.Module(c.body, []) for c in all_cells])
    imports, defs = _hoist(all_cells)
    imports = codegen.relative_imports(imports, local(modules))
    writers = {d.name for d in defs if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) and block_names([d]).global_writes}
    for cell in all_cells:
        _split(cell, writers, ctx)

    kept = [s for s in sections if any(_runs(c.body) for c in s.cells)]
    steps = [Step(name, s) for name, s in zip(_step_names(kept), kept, strict=True)]
    flow = plan(steps, [p.name for p in parameters], defs, ctx.report)
    source = codegen.module(
        codegen.Parts(
            imports=imports, defs=defs, steps=steps, sections=sections, flow=flow, cells=all_cells, parameters=parameters,
            notebook_dir=notebook_dir, inputs=inputs, plt_names=ctx.plt_names,
        ),
        ctx.report,
    )
    return Transformed(
        source=codegen.expand_comments(source, ctx.comments) + "\n",
        parameters=parameters,
        requirements=list(dict.fromkeys(ctx.requirements)),
        rewrites=sorted(ctx.rewrites, key=lambda r: r.cell),
        imports=modules,
        steps=[s.name for s in steps],
        results=ctx.results,
        error_cells=sorted(expect_errors),
        has_parameters_cell=params_cell is not None,
        explicit=sum(1 for s in steps if s.explicit),
    )


@dataclass
class _Context:
    """What the rewriting of all cells shares and reports."""

    plt_names: frozenset[str] = frozenset({"plt"})
    requirements: list[str] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    results: list[ResultSpec] = field(default_factory=list)
    comments: list[list[str]] = field(default_factory=list)

    def report(self, cell: int, kind: str, detail: str) -> None:
        # Details quote the notebook's code, and the README and the console show them.
        self.rewrites.append(Rewrite(cell, kind, redact(detail)))

    def comment(self, lines: list[str]) -> ast.stmt:
        """A statement that becomes comment lines in the output (ast keeps no comments)."""
        self.comments.append(lines)
        return ast.Expr(ast.Name(MARKER.format(len(self.comments) - 1), ast.Load()))


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


# --- parsing and magics -------------------------------------------------------------


@dataclass
class _Parsed:
    module: ast.Module
    quiet: bool  # the source ends with ``;``


def _parse_cell(index: int, source: str, ctx: _Context) -> _Parsed:
    """The cell as Python; a cell that is not valid Python even after IPython's
    transformations becomes a comment, reported, since the notebook never ran it either."""
    try:
        python = to_python(source)
        module = ast.parse(python)
    except SyntaxError as exc:
        return _unexported(index, source, f"is not valid Python ({exc.msg})", ctx)
    if any(isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith)) for n in scope_nodes(module.body)):
        return _unexported(index, source, "uses top-level await, which a step function cannot run", ctx)
    return _Parsed(module, _ends_with_semicolon(python))


def _unexported(index: int, source: str, why: str, ctx: _Context) -> _Parsed:
    ctx.report(index, "unparsable", f"cell {index} {why}; kept as a comment")
    lines = [f"nbrepro: cell not exported: it {why}", *source.splitlines()]
    return _Parsed(ast.Module([ctx.comment(lines)], []), False)


class _CellRewriter(ast.NodeTransformer):
    """Rewrites one cell's IPython-isms in place; reports each through the context."""

    def __init__(self, index: int, ctx: _Context) -> None:
        self.index = index
        self.ctx = ctx
        self.depth = 0  # > 0 inside the notebook's own functions and classes
        self.displays = 0
        self.plots = False

    def rewrite(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            new = self.visit(stmt)
            out.extend(new if isinstance(new, list) else [new] if new is not None else [])
        return out

    def _nested(self, node: ast.AST) -> ast.AST:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _nested

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if not self.depth and isinstance(func, ast.Name) and func.id in ("exec", "eval") and len(node.args) == 1:
            # At a notebook's top level, exec and eval work in its namespace: in a step,
            # the module's is the one that lasts (the step's locals would be a copy).
            node.args.append(ast.Call(ast.Name("globals", ast.Load()), [], []))
        if not self.depth and isinstance(func, ast.Name) and func.id in ("locals", "vars") and not node.args:
            func.id = "globals"  # the same namespace, at a notebook's top level
        if (isinstance(func, ast.Attribute) and func.attr == "plot") or _root_name(func) in self.ctx.plt_names:
            self.plots = True
        return self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> Any:
        magic = magic_call(node.value)
        if magic is not None:
            return self._magic_statement(*magic)
        call = node.value
        if isinstance(call, ast.Call) and _is_display(call.func):
            return self._display(call)
        if isinstance(call, ast.Call) and _is_show(call.func, self.ctx.plt_names):
            self.plots = True
            return expr("_runtime.save_figures()")
        return self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> Any:
        magic = magic_call(node.value)
        if magic is None:
            return self.generic_visit(node)
        method, args = magic
        text = magic_text(method, args)
        if method in ("getoutput", "system"):
            self.ctx.report(self.index, "shell", f"cell {self.index}: `{text}` runs through _runtime.shell")
            node.value = shell_call(args[0], echo=False)
            return node
        if method == "run_line_magic" and args[0] in TIMING_MAGICS:
            stmt = TIMEIT_FLAGS.sub("", args[1]) if args[0] == "timeit" else args[1]
            with_value = parse_expression(stmt)
            if with_value is not None:
                self.ctx.report(self.index, "unwrapped-timing", f"cell {self.index}: `{text}` runs once, untimed")
                node.value = with_value
                return node
        return self._kept(text, args)

    def _magic_statement(self, method: str, args: list[str]) -> list[ast.stmt]:
        text = magic_text(method, args)
        i = self.index
        pip = pip_args(method, args)
        if pip is not None:
            specs, dropped = pip_requirements(pip)
            self.ctx.requirements.extend(specs)
            note = f"; ignored {' '.join(dropped)}" if dropped else ""
            became = ", ".join(specs) or "(none)"
            self.ctx.report(i, "pip-install", f"cell {i}: `{text}` became requirements {became}{note}")
            return []
        if method in ("system", "getoutput"):
            self.ctx.report(i, "shell", f"cell {i}: `{text}` runs through _runtime.shell")
            return [ast.Expr(shell_call(args[0], echo=True))]
        name = args[0]
        if method == "run_line_magic" and name in DROPPED_MAGICS:
            self.ctx.report(i, "dropped-magic", f"cell {i}: dropped `{text}`, which only configures IPython")
            return []
        if name in TIMING_MAGICS:
            if method == "run_line_magic":
                code = TIMEIT_FLAGS.sub("", args[1]) if name == "timeit" else args[1]
            else:  # %%timeit's line is setup code, run before the body as timeit does
                setup = TIMEIT_FLAGS.sub("", args[1] + " ").strip() if name == "timeit" else ""
                code = f"{setup}\n{args[2]}" if setup else args[2]
            try:
                body = ast.parse(to_python(code)).body
            except SyntaxError:
                return self._kept(text, args)
            first = text.splitlines()[0]
            self.ctx.report(i, "unwrapped-timing", f"cell {i}: `{first}` removed; the code runs once, untimed")
            return self.rewrite(body)
        literal = "{" not in args[1] and "$" not in args[1]  # IPython expands these at run time
        env = ENV_ASSIGN.match(args[1]) if method == "run_line_magic" and name == "env" and literal else None
        if env is not None:
            self.ctx.report(i, "env", f"cell {i}: `{text}` sets os.environ through _runtime.setenv")
            return [expr(f"_runtime.setenv({env['name']!r}, {env['value']!r})")]
        if method == "run_cell_magic" and name in SCRIPT_MAGICS and not args[1].strip():  # no --out, --bg
            self.ctx.report(i, "shell", f"cell {i}: `%%{name}` runs through _runtime.script")
            return [expr(f"_runtime.script({SCRIPT_MAGICS[name]!r}, {args[2]!r})")]
        written = WRITEFILE.match(args[1]) if method == "run_cell_magic" and name == "writefile" and literal else None
        if written is not None:
            append = bool(written["append"])
            self.ctx.report(i, "writefile", f"cell {i}: `{text.splitlines()[0]}` writes through _runtime.writefile")
            return [expr(f"_runtime.writefile({written['path']!r}, {args[2]!r}, append={append})")]
        return self._kept(text, args)

    def _kept(self, text: str, args: list[str]) -> list[ast.stmt]:
        lines = text.splitlines() + (args[2].splitlines() if text.startswith("%%") else [])
        self.ctx.report(self.index, "kept-magic", f"cell {self.index}: `{lines[0]}` has no export; kept as a comment")
        return [self.ctx.comment([f"nbrepro: magic not exported: {lines[0]}", *lines[1:]])]

    def _display(self, call: ast.Call) -> ast.stmt:
        """``_runtime.display(...)``, which records under the running cell; the cell's own
        calls are numbered here (``_split`` may move them out of the step)."""
        args = ", ".join(ast.unparse(a) for a in call.args)
        if not self.depth:
            for _ in call.args:
                self.displays += 1
                key = f"cell_{self.index}_display_{self.displays}"
                self.ctx.results.append(ResultSpec(key, self.index, "display"))
        return expr(f"_runtime.display({args})")


def _rewrite_cell(index: int, parsed: _Parsed, expect_error: str | None, ctx: _Context) -> Cell:
    rewriter = _CellRewriter(index, ctx)
    body = rewriter.rewrite(parsed.module.body)
    shown = None
    last = body[-1] if body else None
    if isinstance(last, ast.Expr) and not _is_marker(last) and _shows_value(last.value, ctx) and not parsed.quiet:
        shown = last.value
        body.pop()
        ctx.results.append(ResultSpec(f"cell_{index}", index, "value"))
    if rewriter.plots:
        ctx.report(index, "plot", f"cell {index}: figures are saved as PNG under outdir instead of shown")
    if any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(ast.Module(body, []))):
        ctx.report(index, "kept-magic", f"cell {index}: calls get_ipython(), which fails outside IPython")
    return Cell(index, body, expect_error, shown)


def _split(cell: Cell, writers: set[str], ctx: _Context) -> None:
    """Keep what the cell only shows out of its step: the last expression, unless it changes
    state (then ``_runtime.result(...)`` records it in the step), and its ``display()``
    calls, when all of them sit at the cell's top level and nothing after them in the cell
    changes what they show (shown at the cell's end, they must show the same). A cell that
    failed in the notebook with code in its step keeps them there: where it failed decides
    what it showed."""
    i = cell.index
    failing = cell.expect_error is not None and _runs(cell.body)
    if failing:
        ctx.report(
            i, "expected-error",
            f"cell {i} raised {cell.expect_error} when recorded: its code runs in _runtime.expected_error, which"
            " records the error and goes on",
        )
    if cell.shown is not None and failing:
        cell.body.append(expr(f"_runtime.result({ast.unparse(cell.shown)})"))
        ctx.report(i, "result", f"cell {i}: its last expression stays in the failing cell's step, recorded as cell_{i}")
        cell.shown = None
    elif cell.shown is not None and _changes_state(cell.shown, writers):
        text = ast.unparse(cell.shown)
        cell.body.append(expr(f"_runtime.result({text})"))
        ctx.report(i, "result", f"cell {i}: `{_short(text)}` changes state: it stays in the step, its value recorded as cell_{i}")
        cell.shown = None
    elif cell.shown is not None:
        ctx.report(i, "result", f"cell {i}: last expression kept apart in SHOWN[{i}], recorded as cell_{i}")
    calls = [n for n in scope_nodes(cell.body) if isinstance(n, ast.Call) and _is_runtime_display(n)]
    top: list[ast.stmt] = []
    args: list[ast.expr] = []
    for stmt in cell.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and _is_runtime_display(stmt.value):
            top.append(stmt)
            args += stmt.value.args
    keys = [r.key for r in ctx.results if r.cell == i and r.kind == "display"]
    movable = not failing and len(top) == len(calls) and all(_unchanged_after(cell.body, s) for s in top)
    movable = movable and not any(isinstance(a, ast.Starred) for a in args)
    if top and movable:
        cell.displays = args
        cell.body = [s for s in cell.body if s not in top]
        where = f"kept apart in DISPLAYED[{i}]"
    else:
        where = "recorded by _runtime.display in the step"
    for key in keys:
        ctx.report(i, "display", f"cell {i}: display() {where}, as {key}")


def _changes_state(node: ast.expr, writers: set[str]) -> bool:
    for n in ast.walk(node):
        if isinstance(n, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(n, ast.Call):
            if isinstance(n.func, ast.Attribute) and n.func.attr in _MUTATING:
                return True
            if isinstance(n.func, ast.Name) and n.func.id in ("exec", "eval"):
                return True
            if isinstance(n.func, ast.Name) and n.func.id in writers:
                return True
            if any(k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value) for k in n.keywords):
                return True
    return False


def _unchanged_after(body: list[ast.stmt], stmt: ast.stmt) -> bool:
    """Whether no statement after ``stmt`` binds or changes (a store through it, a method
    call on it) a name ``stmt`` reads."""
    after = body[body.index(stmt) + 1 :]
    if not after:
        return True
    changed = cell_names(ast.unparse(ast.Module(after, []))).defines
    call = stmt.value if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) else None
    shown = ast.Expr(ast.Tuple(list(call.args), ast.Load())) if call is not None else stmt  # what it shows, not `_runtime`
    return not (block_names([shown]).reads & changed)


def _is_runtime_display(call: ast.Call) -> bool:
    return ast.unparse(call.func) == "_runtime.display"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _runs(body: list[ast.stmt]) -> bool:
    """Whether a body has a statement that runs (not only comments left by removed magics)."""
    return any(not _is_marker(s) for s in body)


def _ends_with_semicolon(source: str) -> bool:
    """A trailing ``;`` hides the last expression's value in a notebook."""
    last = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER, tokenize.DEDENT):
                last = tok
    except (tokenize.TokenError, SyntaxError):
        return False
    return last is not None and last.type == tokenize.OP and last.string == ";"


def _shows_value(node: ast.expr, ctx: _Context) -> bool:
    """Whether a notebook would show this last expression as the cell's result."""
    if not isinstance(node, ast.Call):
        return not isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom))
    func = node.func
    if isinstance(func, ast.Name) and func.id in ("print", "display"):
        return False
    if isinstance(func, ast.Attribute) and func.attr == "plot":
        return False
    return _root_name(func) not in ctx.plt_names | {"_runtime"}


def _root_name(node: ast.expr) -> str | None:
    """``plt`` for ``plt.gca().set_title``: the name a chain of attributes and calls starts at."""
    while isinstance(node, (ast.Attribute, ast.Call)):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _is_display(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "display") or ast.unparse(func) == "IPython.display.display"


def _is_show(func: ast.expr, plt_names: frozenset[str]) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "show"
        and (
            (isinstance(func.value, ast.Name) and func.value.id in plt_names)
            or ast.unparse(func.value) == "matplotlib.pyplot"
        )
    )


def _pyplot_aliases(modules: list[ast.Module]) -> frozenset[str]:
    names = {"plt"}
    for module in modules:
        for node in ast.walk(module):
            if isinstance(node, ast.Import):
                names.update(a.asname for a in node.names if a.name == "matplotlib.pyplot" and a.asname)
            elif isinstance(node, ast.ImportFrom) and node.module == "matplotlib":
                names.update(a.asname or a.name for a in node.names if a.name == "pyplot")
    return frozenset(names)


# --- parameters, names, hoisting ----------------------------------------------------


_LITERAL_TYPES: tuple[type, ...] = (bool, int, float, complex, str, bytes, list, dict, tuple, set)


def _take_parameters(cell: Cell) -> list[Parameter]:
    """Parameters from the parameters cell's simple assignments, which leave the cell:
    ``run()`` sets them. A default that is not a literal stays, computed only when the
    caller passes nothing."""
    found: dict[str, Parameter] = {}
    body: list[ast.stmt] = []
    for stmt in cell.body:
        assigned = simple_assignment(stmt)
        if assigned is None:
            body.append(stmt)
            continue
        target, value, annotated = assigned
        annotation = None if annotated is None else ast.unparse(annotated)
        source = ast.unparse(value)
        try:
            default = literal(value)
        except ValueError:
            found[target] = Parameter(target, annotation or "object", None, source)
            body.append(ast.parse(f"if {target} is _runtime.NOTEBOOK_DEFAULT:\n    {target} = {source}").body[0])
            continue
        found[target] = Parameter(target, annotation or _literal_type(default), default, source)
    cell.body = body
    return list(found.values())


def _inject(parameters: list[Parameter], cell: Cell, ctx: _Context) -> list[Parameter]:
    """papermill's injected values as the defaults: ``papermill -p scale 5`` made the
    notebook run with ``scale = 5``, so the export does too. A declared type is kept when
    the new value fits it; a name the parameters cell lacks becomes a parameter too."""
    merged = {p.name: p for p in parameters}
    taken = _take_parameters(cell)
    if cell.body:
        ctx.report(cell.index, "injected-parameters", f"cell {cell.index}: statements other than assignments dropped")
    for new in taken:
        old = merged.get(new.name)
        kind = new.type
        if old is not None and new.default is not None:
            types = checked_types(old.type)
            if types and any(type(new.default).__name__ == t for t in types):
                kind = old.type
        merged[new.name] = Parameter(new.name, kind, new.default, new.source)
    if taken:
        values = ", ".join(f"{p.name} = {p.source}" for p in taken)
        detail = f"cell {cell.index}: papermill's injected values are run()'s defaults: {values}"
        ctx.report(cell.index, "injected-parameters", detail)
    return list(merged.values())


def _literal_type(value: object) -> str:
    return next((t.__name__ for t in _LITERAL_TYPES if isinstance(value, t)), "object")


def _check_names(cells: list[Cell], parameters: list[Parameter], params_cell: int | None, ctx: _Context) -> None:
    clash = RUN_KEYWORDS & {p.name for p in parameters}
    if clash:
        name = sorted(clash)[0]
        raise TransformError(f"parameter {name!r} has the name of a run() keyword; rename it in the notebook")
    names = {p.name for p in parameters}
    for cell in cells:
        bound = set(block_names(cell.body).binds)
        reserved = bound & RESERVED
        if reserved:
            raise TransformError(
                f"cell {cell.index} binds {sorted(reserved)[0]!r}, a name the exported module defines;"
                " rename it in the notebook"
            )
        if cell.index == params_cell or params_cell is None:
            continue
        when = "after" if cell.index > params_cell else "before"
        for name in sorted(bound & names):
            ctx.report(
                cell.index,
                "parameter-reassigned",
                f"cell {cell.index} assigns parameter {name!r} {when} the parameters cell;"
                " the value passed to run() does not survive it",
            )


def _hoist(cells: list[Cell]) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """Move imports, then functions and classes, to module level: where an engineer looks
    for them, and where they exist before any step runs. A cell expected to fail keeps
    everything (the failure may be the import). A ``def`` stays in its step when its
    name is bound elsewhere too (order matters then) or when it reads, as it is defined,
    a name that does not exist at import. Each moved ``def`` remembers its cell
    (``nbrepro_cell``) for the summary."""
    bindings: dict[str, int] = {}
    for cell in cells:
        for stmt in cell.body:
            for name in block_names([stmt]).binds:
                bindings[name] = bindings.get(name, 0) + 1
    movable = [c for c in cells if c.expect_error is None]
    imports: list[ast.stmt] = []
    for cell in movable:
        imports += [s for s in cell.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        for stmt in cell.body:
            stmt.nbrepro_cell = cell.index  # type: ignore[attr-defined]
        cell.body = [s for s in cell.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    available = set(codegen.BUILTINS) | set(block_names(imports).binds)
    defs: list[ast.stmt] = []
    for cell in movable:
        kept: list[ast.stmt] = []
        for stmt in cell.body:
            if (
                isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and bindings[stmt.name] == 1
                and block_names([stmt]).reads <= available
            ):
                defs.append(stmt)
                available.add(stmt.name)
            else:
                kept.append(stmt)
        cell.body = kept
    return imports, defs


def _is_marker(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Name)
        and MARKER_LINE.match(node.value.id) is not None
    )


def _fill_empty_bodies(tree: ast.AST) -> None:
    """Blocks left empty, or holding only comments, by removed magics get ``pass``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module):
            continue
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list) or (name != "body" and not block):
                continue
            if all(_is_marker(s) for s in block):
                block.append(ast.Pass())
        if isinstance(node, ast.Try) and not node.handlers and not node.finalbody:
            node.finalbody = [ast.Pass()]


# --- steps --------------------------------------------------------------------------


def _heading(markdown: str) -> str | None:
    """The first ATX heading outside code fences: a step starts there."""
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            match = re.match(r"^#{1,6}(?:\s+(.*?))?\s*#*\s*$", line)
            if match:
                return match.group(1) or ""
    return None


def _slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if len(slug) > _SLUG_MAX:
        cut = slug[: _SLUG_MAX + 1]
        slug = cut.rsplit("_", 1)[0] if "_" in cut else slug[:_SLUG_MAX]
    return slug or "section"


def _step_names(sections: list[Section]) -> list[str]:
    width = max(2, len(str(len(sections))))
    return [
        f"step_{n:0{width}d}_{'setup' if s.heading is None else _slug(s.heading)}" for n, s in enumerate(sections, 1)
    ]
