"""Notebook → the source of an exported package's ``pipeline.py``.

The notebook's state lives in module globals, as it did in the kernel: imports and
functions move to module level, every other statement runs in a step function (one per
markdown heading) that declares the names it binds ``global``. Each cell keeps its own
``with results.cell(N):`` block, so the runtime (``runtime_template.py``, shipped as
``_runtime.py``) captures its output the way the notebook recorded it.

IPython syntax is turned into Python by IPython's own ``TransformerManager`` first, so
magics arrive as ``get_ipython().run_line_magic(...)`` calls wherever they were written;
each is then rewritten, dropped or kept as a comment, and always reported as a
``Rewrite``: an export must never change behaviour silently.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import nbformat

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
from .names import bound_names, eager_names, identifiers, imported_modules, scope_nodes

# Names the generated module defines itself; a notebook binding them would break it.
RESERVED = frozenset({"run", "PARAMETERS", "NOTEBOOK_DIR", "_runtime"})
# run()'s own keywords; a parameter of the same name could not be passed.
RUN_KEYWORDS = frozenset({"workdir", "outdir"})

_MARKER = "__nbrepro_comment_{}__"
_MARKER_LINE = re.compile(r"^(?P<indent>[ \t]*)__nbrepro_comment_(?P<n>\d+)__$", re.MULTILINE)
_SLUG_MAX = 40


class TransformError(ValueError):
    """A notebook the export cannot turn into a working module; the message says why."""


@dataclass(frozen=True)
class Parameter:
    """A papermill parameter. ``default`` is the literal value; a default that is not a
    literal has type ``object``, ``default`` None, and is computed from ``source`` by the
    parameters cell unless the caller passes a value."""

    name: str
    type: str
    default: Any
    source: str


@dataclass(frozen=True)
class Rewrite:
    """One change the export made to the notebook's code, for the export summary."""

    cell: int
    kind: str
    detail: str


@dataclass(frozen=True)
class ResultSpec:
    """A result ``run()`` returns under ``key``: a cell's last expression ("value") or
    an object it displays ("display"). Display keys are numbered per cell in the order
    the calls are written; the runtime numbers them as they run, which agrees unless a
    display call sits in a loop or a branch, or runs inside one of the notebook's
    functions (then it is recorded under the calling cell and not listed here). A last
    expression that evaluates to None (a call like ``df.info()``) records nothing, as a
    notebook shows nothing for it."""

    key: str
    cell: int
    kind: str


@dataclass
class Transformed:
    """``pipeline.py``'s source and what the package assembly needs to know about it."""

    source: str
    parameters: list[Parameter]
    requirements: list[str]
    rewrites: list[Rewrite]
    imports: list[str]
    steps: list[str]
    results: list[ResultSpec]
    error_cells: list[int]
    has_parameters_cell: bool


def transform(
    nb: nbformat.NotebookNode,
    *,
    expect_errors: dict[int, str] | None = None,
    notebook_dir: str | None = None,
) -> Transformed:
    """Turn a notebook into the source of ``pipeline.py`` (without provenance header).

    ``expect_errors`` maps a cell index to the exception type name the cell raised when
    recorded: that cell records the error instead of raising. ``notebook_dir`` is the
    notebook's folder relative to the package folder (where ``pipeline.py`` and
    ``_runtime.py`` sit), e.g. ``"../.."`` for ``src/PKG`` under the notebook's folder:
    ``run()`` works there unless given ``workdir``; None runs in the current folder.
    """
    expect_errors = dict(expect_errors or {})
    cells = list(nb.cells)
    for index in expect_errors:
        if not (0 <= index < len(cells) and cells[index].cell_type == "code"):
            raise ValueError(f"expect_errors names cell {index}, which is not a code cell")
    ctx = _Context()
    trees = {i: _parse_cell(i, _text(c.source), ctx) for i, c in enumerate(cells) if c.cell_type == "code"}
    names = set().union(*(identifiers(p.module) for p in trees.values()))
    ctx.results_name = next(n for n in ("results", "_results", "nbrepro_results") if n not in names)
    ctx.plt_names = _pyplot_aliases([p.module for p in trees.values()])

    sections: list[_Section] = [_Section(None)]
    params_cell: int | None = None
    injected: _Cell | None = None
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            heading = _heading(_text(cell.source))
            if heading is not None:
                sections.append(_Section(heading))
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

    steps = _step_names(sections)
    source = "\n\n\n".join(
        [
            _imports_block(imports),
            *(ast.unparse(d) for d in defs),
            _constants_block(notebook_dir, parameters),
            *(_step_source(name, s, ctx) for name, s in zip(steps, sections, strict=False)),
            _run_source(parameters, steps, ctx.results_name),
        ]
    )
    return Transformed(
        source=_expand_comments(source, ctx.comments) + "\n",
        parameters=parameters,
        requirements=list(dict.fromkeys(ctx.requirements)),
        rewrites=sorted(ctx.rewrites, key=lambda r: r.cell),
        imports=modules,
        steps=steps,
        results=ctx.results,
        error_cells=sorted(expect_errors),
        has_parameters_cell=params_cell is not None,
    )


@dataclass
class _Context:
    """What the rewriting of all cells shares and reports."""

    results_name: str = "results"
    plt_names: frozenset[str] = frozenset({"plt"})
    requirements: list[str] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    results: list[ResultSpec] = field(default_factory=list)
    comments: list[list[str]] = field(default_factory=list)

    def report(self, cell: int, kind: str, detail: str) -> None:
        self.rewrites.append(Rewrite(cell, kind, detail))

    def comment(self, lines: list[str]) -> ast.stmt:
        """A statement that becomes comment lines in the output (ast keeps no comments)."""
        self.comments.append(lines)
        return ast.Expr(ast.Name(_MARKER.format(len(self.comments) - 1), ast.Load()))


@dataclass
class _Cell:
    index: int
    body: list[ast.stmt]
    expect_error: str | None


@dataclass
class _Section:
    heading: str | None
    cells: list[_Cell] = field(default_factory=list)


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
            return expr(f"_runtime.save_figures({'' if self.depth else self.index})")
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
        args = ", ".join(ast.unparse(a) for a in call.args)
        if self.depth:
            return expr(f"_runtime.display({args})")
        for _ in call.args:
            self.displays += 1
            key = f"cell_{self.index}_display_{self.displays}"
            self.ctx.results.append(ResultSpec(key, self.index, "display"))
            self.ctx.report(self.index, "display", f"cell {self.index}: display() recorded as result {key}")
        return expr(f"{self.ctx.results_name}.display({self.index}, {args})")


def _rewrite_cell(index: int, parsed: _Parsed, expect_error: str | None, ctx: _Context) -> _Cell:
    rewriter = _CellRewriter(index, ctx)
    body = rewriter.rewrite(parsed.module.body)
    last = body[-1] if body else None
    if isinstance(last, ast.Expr) and not _is_marker(last) and _shows_value(last.value, ctx) and not parsed.quiet:
        body[-1] = expr(f"{ctx.results_name}.value({index}, {ast.unparse(last.value)})")
        ctx.results.append(ResultSpec(f"cell_{index}", index, "value"))
        ctx.report(index, "result", f"cell {index}: last expression recorded as result cell_{index}")
    if rewriter.plots:
        ctx.report(index, "plot", f"cell {index}: figures are saved as PNG under outdir instead of shown")
    if any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(ast.Module(body, []))):
        ctx.report(index, "kept-magic", f"cell {index}: calls get_ipython(), which fails outside IPython")
    return _Cell(index, body, expect_error)


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
    return _root_name(func) not in ctx.plt_names | {ctx.results_name, "_runtime"}


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


# --- scopes and names ---------------------------------------------------------------


class _StepScope(ast.NodeTransformer):
    """Module-level statements moved into a function must keep their meaning there: a
    name both annotated and declared ``global`` is a SyntaxError, and the step declares
    every name itself."""

    def _keep(self, node: ast.AST) -> ast.AST:
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _keep

    def visit_Global(self, node: ast.Global) -> None:
        return None

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if not isinstance(node.target, ast.Name):
            return node
        return None if node.value is None else ast.copy_location(ast.Assign([node.target], node.value, None), node)


def _is_marker(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Name)
        and _MARKER_LINE.match(node.value.id) is not None
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


def _expand_comments(source: str, comments: list[list[str]]) -> str:
    def lines(match: re.Match[str]) -> str:
        indent = match.group("indent")
        return "\n".join(f"{indent}# {line}".rstrip() for line in comments[int(match.group("n"))])

    return _MARKER_LINE.sub(lines, source)


# --- parameters, names, hoisting ----------------------------------------------------


_LITERAL_TYPES: tuple[type, ...] = (bool, int, float, complex, str, bytes, list, dict, tuple, set)
_CHECKABLE = frozenset(t.__name__ for t in _LITERAL_TYPES) | {"frozenset"}
_WIDENED = {"float": ["float", "int"], "complex": ["complex", "float", "int"]}


def _take_parameters(cell: _Cell) -> list[Parameter]:
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


def _inject(parameters: list[Parameter], cell: _Cell, ctx: _Context) -> list[Parameter]:
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
            types = _checked_types(old.type)
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


def _default_source(parameter: Parameter) -> str:
    """The default as ``run()`` and ``PARAMETERS`` write it: a literal, or the marker
    that lets the parameters cell compute it."""
    try:
        literal(parameter.source)
    except ValueError:
        return "_runtime.NOTEBOOK_DEFAULT"
    return parameter.source


def _checked_types(annotation: str) -> list[str] | None:
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

    parsed = parse_expression(annotation)
    checked = None if parsed is None else types(parsed)
    return None if checked is None else list(dict.fromkeys(checked))


def _check_names(cells: list[_Cell], parameters: list[Parameter], params_cell: int | None, ctx: _Context) -> None:
    clash = RUN_KEYWORDS & {p.name for p in parameters}
    if clash:
        name = sorted(clash)[0]
        raise TransformError(f"parameter {name!r} has the name of a run() keyword; rename it in the notebook")
    names = {p.name for p in parameters}
    for cell in cells:
        bound = bound_names(cell.body)
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


def _hoist(cells: list[_Cell]) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """Move imports, then functions and classes, to module level: where an engineer looks
    for them, and where they exist before any step runs. A cell expected to fail keeps
    everything (the failure may be the import). A ``def`` stays in its step when its
    name is bound elsewhere too (order matters then) or when it reads, as it is defined,
    a name that does not exist at import."""
    bindings: dict[str, int] = {}
    for cell in cells:
        for stmt in cell.body:
            for name in bound_names([stmt]):
                bindings[name] = bindings.get(name, 0) + 1
    movable = [c for c in cells if c.expect_error is None]
    imports: list[ast.stmt] = []
    for cell in movable:
        imports += [s for s in cell.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        cell.body = [s for s in cell.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    available = set(dir(builtins)) | bound_names(imports)
    defs: list[ast.stmt] = []
    for cell in movable:
        kept: list[ast.stmt] = []
        for stmt in cell.body:
            if (
                isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and bindings[stmt.name] == 1
                and eager_names(stmt) <= available
            ):
                defs.append(stmt)
                available.add(stmt.name)
            else:
                kept.append(stmt)
        cell.body = kept
    return imports, defs


# --- output -------------------------------------------------------------------------


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


def _step_names(sections: list[_Section]) -> list[str]:
    width = max(2, len(str(len(sections))))
    return [
        f"step_{n:0{width}d}_{'setup' if s.heading is None else _slug(s.heading)}" for n, s in enumerate(sections, 1)
    ]


def _imports_block(imports: list[ast.stmt]) -> str:
    texts = list(dict.fromkeys(ast.unparse(s) for s in imports))
    future = [t for t in texts if t.startswith("from __future__ ")]
    rest = [t for t in texts if t not in future]
    if "import os" not in rest:  # run()'s signature names os.PathLike
        rest.append("import os")
    return "\n".join([*future, *rest, "from . import _runtime"])


def _constants_block(notebook_dir: str | None, parameters: list[Parameter]) -> str:
    entries = [f"    {p.name!r}: {_default_source(p)}," for p in parameters]
    table = "PARAMETERS: dict[str, object] = {" + "".join(f"\n{e}" for e in entries) + ("\n}" if entries else "}")
    return "\n".join(
        [
            "# The notebook's folder, relative to this package's folder: run() works there",
            "# unless given workdir. None: run in the current folder.",
            f"NOTEBOOK_DIR: str | None = {notebook_dir!r}",
            "",
            "# The notebook's parameters (its cell tagged 'parameters') and their defaults.",
            table,
        ]
    )


def _step_source(name: str, section: _Section, ctx: _Context) -> str:
    results = ctx.results_name
    func = ast.parse(f"def {name}({results}: _runtime.Results) -> None:\n    pass").body[0]
    assert isinstance(func, ast.FunctionDef)
    doc = section.heading if section.heading is not None else "The cells before the first heading."
    blocks: list[ast.stmt] = []
    names: set[str] = set()
    for cell in section.cells:
        if not cell.body:
            continue
        body = [s for stmt in cell.body for s in _as_list(_StepScope().visit(stmt))]
        names |= bound_names(body)
        expect = f", expect_error={cell.expect_error!r}" if cell.expect_error else ""
        block = ast.parse(f"with {results}.cell({cell.index}{expect}):\n    pass").body[0]
        assert isinstance(block, ast.With)
        block.body = body
        blocks.append(block)
    func.body = [ast.Expr(ast.Constant(doc or name)), *([ast.Global(sorted(names))] if names else []), *blocks]
    _fill_empty_bodies(func)
    return ast.unparse(func)


def _as_list(node: ast.AST | list[ast.AST] | None) -> list[ast.stmt]:
    if node is None:
        return []
    return node if isinstance(node, list) else [node]  # type: ignore[list-item, return-value]


def _annotation(text: str) -> str:
    """Annotations beyond builtins are quoted: they may name a class the notebook defines
    in a step, which does not exist yet when ``run`` is defined."""
    return text if text == "object" or _checked_types(text) is not None else repr(text)


def _run_source(parameters: list[Parameter], steps: list[str], results: str) -> str:
    path = "str | os.PathLike[str] | None"
    signature = [
        *(f"    {p.name}: {_annotation(p.type)} = {_default_source(p)}," for p in parameters),
        f"    workdir: {path} = None,",
        f"    outdir: {path} = None,",
    ]
    checks = []
    for p in parameters:
        types = _checked_types(p.type)
        if types:
            checks.append(f"    _runtime.check_type({p.name!r}, {p.name}, {', '.join(types)})")
    if parameters:
        checks.append(f"    _runtime.set_parameters(globals(), {', '.join(f'{p.name}={p.name}' for p in parameters)})")
    calls = [f"        {step}({results})" for step in steps] or ["        pass"]
    return "\n".join(
        [
            "def run(",
            "    *,",
            *signature,
            ") -> dict[str, object]:",
            '    """Run the notebook\'s code in order; return its results by key.',
            "",
            "    Parameters become module globals, as papermill injects them. The code runs in",
            "    ``workdir`` (default: NOTEBOOK_DIR) and saves figures under ``outdir`` (default:",
            "    not saved). ``_runtime.last_results()`` has each cell's captured output.",
            '    """',
            *checks,
            "    _runtime.set_outdir(outdir)",
            f"    {results} = _runtime.Results()",
            "    with _runtime.workdir(workdir, default=NOTEBOOK_DIR):",
            *calls,
            f"    return {results}.values",
        ]
    )
