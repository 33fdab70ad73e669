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
import shlex
import tokenize
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

# Names the generated module defines itself; a notebook binding them would break it.
RESERVED = frozenset({"run", "PARAMETERS", "NOTEBOOK_DIR", "_runtime"})
# run()'s own keywords; a parameter of the same name could not be passed.
RUN_KEYWORDS = frozenset({"workdir", "outdir"})

_DROPPED_MAGICS = frozenset(
    {"matplotlib", "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport", "config", "nbrepro"}
)
_TIMING_MAGICS = frozenset({"time", "timeit"})
# pip options that take a value: the value is not a requirement either.
_PIP_VALUE_FLAGS = frozenset(
    {
        "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
        "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
        "--trusted-host", "--platform", "--python-version", "--implementation", "--abi",
        "--src", "--upgrade-strategy", "--progress-bar", "--cache-dir", "--log",
    }
)  # fmt: skip
_PIP_COMMAND = re.compile(r"^\s*(?:python3?\s+-m\s+)?pip3?\s+install\b(?P<args>.*)$", re.DOTALL)
_TIMEIT_FLAGS = re.compile(r"^\s*(?:-[nrp]\s*\S+\s+|-[tcqo]+\s+)*")
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
    functions (then it is recorded under the calling cell and not listed here)."""

    key: str
    cell: int
    kind: str


@dataclass
class Transformed:
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
    names = set().union(*(_identifiers(p.module) for p in trees.values()))
    ctx.results_name = next(n for n in ("results", "_results", "nbrepro_results") if n not in names)
    ctx.plt_names = _pyplot_aliases([p.module for p in trees.values()])

    sections: list[_Section] = [_Section(None)]
    params_cell: int | None = None
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            heading = _heading(_text(cell.source))
            if heading is not None:
                sections.append(_Section(heading))
        elif cell.cell_type == "code":
            if params_cell is None and "parameters" in cell.metadata.get("tags", []):
                params_cell = i
            sections[-1].cells.append(_rewrite_cell(i, trees[i], expect_errors.get(i), ctx))
    sections = [s for s in sections if s.cells]

    all_cells = [c for s in sections for c in s.cells]
    parameters = _take_parameters(next(c for c in all_cells if c.index == params_cell)) if params_cell is not None else []
    _check_names(all_cells, parameters, params_cell, ctx)
    imports, defs = _hoist(all_cells)

    steps = _step_names(sections)
    source = "\n\n\n".join(
        [
            _imports_block(imports),
            *(ast.unparse(d) for d in defs),
            _constants_block(notebook_dir, parameters),
            *(_step_source(name, s, ctx) for name, s in zip(steps, sections)),
            _run_source(parameters, steps, ctx.results_name),
        ]
    )
    return Transformed(
        source=_expand_comments(source, ctx.comments) + "\n",
        parameters=parameters,
        requirements=list(dict.fromkeys(ctx.requirements)),
        rewrites=sorted(ctx.rewrites, key=lambda r: r.cell),
        imports=_imported_modules([p.module for p in trees.values()]),
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
        python = TransformerManager().transform_cell(source)
        module = ast.parse(python)
    except SyntaxError as exc:
        return _unexported(index, source, f"is not valid Python ({exc.msg})", ctx)
    if any(isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith)) for n in _scope_nodes(module.body)):
        return _unexported(index, source, "uses top-level await, which a step function cannot run", ctx)
    return _Parsed(module, _ends_with_semicolon(python))


def _unexported(index: int, source: str, why: str, ctx: _Context) -> _Parsed:
    ctx.report(index, "unparsable", f"cell {index} {why}; kept as a comment")
    lines = [f"nbrepro: cell not exported: it {why}", *source.splitlines()]
    return _Parsed(ast.Module([ctx.comment(lines)], []), False)


def _magic(node: ast.AST) -> tuple[str, list[str]] | None:
    """``("run_line_magic", [name, arg])`` etc. for a ``get_ipython().<method>(...)`` call."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
        and node.func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput")
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ):
        return node.func.attr, [a.value for a in node.args]
    return None


def _magic_text(method: str, args: list[str]) -> str:
    if method == "run_line_magic":
        return f"%{args[0]} {args[1]}".rstrip()
    if method == "run_cell_magic":
        return f"%%{args[0]} {args[1]}".rstrip()
    return f"!{args[0]}"


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
        magic = _magic(node.value)
        if magic is not None:
            return self._magic_statement(*magic)
        call = node.value
        if isinstance(call, ast.Call) and _is_display(call.func):
            return self._display(call)
        if isinstance(call, ast.Call) and _is_show(call.func, self.ctx.plt_names):
            self.plots = True
            return _expr(f"_runtime.save_figures({'' if self.depth else self.index})")
        return self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> Any:
        magic = _magic(node.value)
        if magic is None:
            return self.generic_visit(node)
        method, args = magic
        text = _magic_text(method, args)
        if method in ("getoutput", "system"):
            self.ctx.report(self.index, "shell", f"cell {self.index}: `{text}` runs through _runtime.shell")
            node.value = _shell_call(args[0], echo=False)
            return node
        if method == "run_line_magic" and args[0] in _TIMING_MAGICS:
            stmt = _TIMEIT_FLAGS.sub("", args[1]) if args[0] == "timeit" else args[1]
            with_value = _parse_expression(stmt)
            if with_value is not None:
                self.ctx.report(self.index, "unwrapped-timing", f"cell {self.index}: `{text}` runs once, untimed")
                node.value = with_value
                return node
        return self._kept(text, args)

    def _magic_statement(self, method: str, args: list[str]) -> list[ast.stmt]:
        text = _magic_text(method, args)
        i = self.index
        pip = _pip_args(method, args)
        if pip is not None:
            specs, dropped = _requirements(pip)
            self.ctx.requirements.extend(specs)
            note = f"; ignored {' '.join(dropped)}" if dropped else ""
            self.ctx.report(i, "pip-install", f"cell {i}: `{text}` became requirements {', '.join(specs) or '(none)'}{note}")
            return []
        if method in ("system", "getoutput"):
            self.ctx.report(i, "shell", f"cell {i}: `{text}` runs through _runtime.shell")
            return [ast.Expr(_shell_call(args[0], echo=True))]
        name = args[0]
        if method == "run_line_magic" and name in _DROPPED_MAGICS:
            self.ctx.report(i, "dropped-magic", f"cell {i}: dropped `{text}`, which only configures IPython")
            return []
        if name in _TIMING_MAGICS:
            if method == "run_line_magic":
                code = _TIMEIT_FLAGS.sub("", args[1]) if name == "timeit" else args[1]
            else:  # %%timeit's line is setup code, run before the body as timeit does
                setup = _TIMEIT_FLAGS.sub("", args[1] + " ").strip() if name == "timeit" else ""
                code = f"{setup}\n{args[2]}" if setup else args[2]
            try:
                body = ast.parse(TransformerManager().transform_cell(code)).body
            except SyntaxError:
                return self._kept(text, args)
            self.ctx.report(i, "unwrapped-timing", f"cell {i}: `{text.splitlines()[0]}` removed; the code runs once, untimed")
            return self.rewrite(body)
        return self._kept(text, args)

    def _kept(self, text: str, args: list[str]) -> list[ast.stmt]:
        lines = text.splitlines() + (args[2].splitlines() if text.startswith("%%") else [])
        self.ctx.report(self.index, "kept-magic", f"cell {self.index}: `{lines[0]}` has no export; kept as a comment")
        return [self.ctx.comment([f"nbrepro: magic not exported: {lines[0]}", *lines[1:]])]

    def _display(self, call: ast.Call) -> ast.stmt:
        args = ", ".join(ast.unparse(a) for a in call.args)
        if self.depth:
            return _expr(f"_runtime.display({args})")
        for _ in call.args:
            self.displays += 1
            key = f"cell_{self.index}_display_{self.displays}"
            self.ctx.results.append(ResultSpec(key, self.index, "display"))
            self.ctx.report(self.index, "display", f"cell {self.index}: display() recorded as result {key}")
        return _expr(f"{self.ctx.results_name}.display({self.index}, {args})")


def _rewrite_cell(index: int, parsed: _Parsed, expect_error: str | None, ctx: _Context) -> _Cell:
    rewriter = _CellRewriter(index, ctx)
    body = rewriter.rewrite(parsed.module.body)
    if body and isinstance(body[-1], ast.Expr) and _shows_value(body[-1].value, ctx) and not parsed.quiet:
        body[-1] = _expr(f"{ctx.results_name}.value({index}, {ast.unparse(body[-1].value)})")
        ctx.results.append(ResultSpec(f"cell_{index}", index, "value"))
        ctx.report(index, "result", f"cell {index}: last expression recorded as result cell_{index}")
    if rewriter.plots:
        ctx.report(index, "plot", f"cell {index}: figures are saved as PNG under outdir instead of shown")
    if any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(ast.Module(body, []))):
        ctx.report(index, "kept-magic", f"cell {index}: calls get_ipython(), which fails outside IPython")
    return _Cell(index, body, expect_error)


def _shows_value(node: ast.expr, ctx: _Context) -> bool:
    """Whether a notebook would show this last expression as the cell's result."""
    if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)):
        return False
    if not isinstance(node, ast.Call):
        return True
    func = node.func
    if isinstance(func, ast.Name) and func.id in ("print", "display"):
        return False
    if isinstance(func, ast.Attribute) and func.attr == "plot":
        return False
    return _root_name(func) not in ctx.plt_names | {ctx.results_name, "_runtime"}


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
