"""Static name flow between notebook cells: which names each cell binds and reads, and from where.

The one scope analysis of the project; two readers use it.

``nbrepro verify`` finds a difference in one cell and must say which later differences may
follow from it: every cell whose state was computed, directly or through other cells, from
names that cell bound. The sources are only read, never run, so the flow is an
over-approximation built from names alone:

- a method call on a bare name (``x.append(1)``, ``df.fillna(0, inplace=True)``) and any
  store through it (``x.a = 1``, ``x[k] = 1``, ``x += 1``) count as defining ``x``: the
  analysis cannot tell a mutating method from a pure one;
- a function's free names count as read where the function is defined, not where it is called.

Three refinements keep the flow from chaining every cell to every other:

- a name the cell itself bound unconditionally earlier on (a top-level assignment, import,
  ``def`` or ``class``) is not a read of an earlier cell's value when read afterwards;
- a method called on a name an ``import`` bound (``np.zeros(3)``) does not redefine it: it
  would make every cell that touches numpy a definer of ``np``;
- builtins are not uses, except in ``dependencies``, where a builtin name read after an
  earlier cell rebound it (``max = 3``) does come from that cell.

``nbrepro export`` turns cells into step functions whose arguments and return values are the
names that flow between them (``block_names``): it needs strict bindings (a method call or a
store through a name changes the object every holder shares, not the name), the names bound for
certain when a block completes, and, apart, the names functions read when called (``late``).

Not seen: ``from m import *`` (its names are unknown), ``exec``/``eval`` and ``globals()``
writes, state reached without a name (files, module globals set inside library calls).
"""

from __future__ import annotations

import ast
import builtins
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .syntax import to_python

# IPython puts these into builtins in every kernel; a plain interpreter's dir(builtins) lacks them.
_BUILTINS = frozenset(dir(builtins)) | {"get_ipython", "display", "__IPYTHON__"}
# Magics whose body (cell) or argument (line) is Python run in the user namespace.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "prun", "capture"})
_PYTHON_LINE_MAGICS = frozenset({"time", "timeit", "prun"})
# IPython calls whose string arguments expand $name, ${name} and {name} from the namespace.
_EXPANDING_CALLS = frozenset({"system", "getoutput", "run_line_magic", "run_cell_magic"})
_EXPANDED = re.compile(r"\$\{?([A-Za-z_]\w*)|(?<![{$])\{([A-Za-z_]\w*)")
_LEADING_OPTIONS = re.compile(r"^(?:\s*-\w+(?:\s+\d+)?)+\s+")  # %timeit -n 10 -o ...


@dataclass(frozen=True)
class CellNames:
    """Names a cell binds or changes (``defines``) and names whose earlier value it reads (``uses``)."""

    defines: frozenset[str]
    uses: frozenset[str]


@dataclass(frozen=True)
class _Facts:
    """What ``dependencies`` needs beyond ``CellNames``; see the module docstring."""

    defines: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()
    builtins_read: frozenset[str] = frozenset()
    imported: frozenset[str] = frozenset()  # bound by an import statement
    called_only: frozenset[str] = frozenset()  # "defined" only through a method call on them


def cell_names(source: str) -> CellNames:
    """Names a cell's source defines and uses; empty sets when it is not valid (I)Python."""
    facts = _analyze(source)
    return CellNames(facts.defines, facts.uses)


@dataclass(frozen=True)
class CellFlow:
    """What verify's causes need of one cell, beyond ``CellNames``: every name it reads at all
    (``reads``, also after binding it), the module each import binding names (``imports``:
    ``{"pd": "pandas", "LinearRegression": "sklearn.linear_model"}``), and its string literals
    (``strings``: the paths it names, shell commands included)."""

    defines: frozenset[str]
    uses: frozenset[str]
    reads: frozenset[str]
    imports: Mapping[str, str]
    strings: frozenset[str]


@lru_cache(maxsize=1024)
def cell_flow(source: str) -> CellFlow:
    facts = _analyze(source)
    reads: set[str] = set()
    imports: dict[str, str] = {}
    strings: set[str] = set()
    todo = [source]
    while todo:
        try:
            tree = ast.parse(to_python(todo.pop()))
        except (SyntaxError, ValueError):
            continue
        magic = _ipython_call(tree.body[0].value, "run_cell_magic") if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) else None
        if magic is not None and len(magic.args) == 3 and all(_is_str(a) for a in magic.args):
            if magic.args[0].value in _PYTHON_CELL_MAGICS:  # type: ignore[attr-defined]
                todo.append(magic.args[2].value)  # type: ignore[attr-defined]
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                reads.add(node.id)
            elif isinstance(node, ast.Import):
                imports.update({_import_name(a): a.name if a.asname else a.name.split(".")[0] for a in node.names})
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imports.update({_import_name(a): node.module for a in node.names if a.name != "*"})
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
    reads |= facts.uses  # $name in a shell command, the Python of %time lines
    return CellFlow(facts.defines, facts.uses, frozenset(reads), imports, frozenset(strings))


def dependencies(sources: list[str]) -> list[dict[str, int]]:
    """For each cell, each name it uses mapped to the latest earlier cell that defines it.

    Names no earlier cell defines (builtins, names from outside the notebook) are left out.
    """
    definer: dict[str, int] = {}
    imported: set[str] = set()  # names whose current definer bound them with an import
    result = []
    for i, source in enumerate(sources):
        facts = _analyze(source)
        reads = facts.uses | facts.builtins_read
        result.append({name: definer[name] for name in sorted(reads) if name in definer})
        for name in facts.defines:
            if name in facts.called_only and name in imported:
                continue
            definer[name] = i
            if name in facts.imported:
                imported.add(name)
            else:
                imported.discard(name)
    return result


@lru_cache(maxsize=1024)
def _analyze(source: str) -> _Facts:
    """Cached: a process that verifies several notebooks, or one twice (the demo), meets
    the same cell sources again."""
    try:
        tree = ast.parse(to_python(source))
    except (SyntaxError, ValueError):  # ValueError: null bytes in the source
        return _Facts()
    magic = _cell_magic(tree)
    if magic is not None:
        return magic
    uses: set[str] = set()
    builtins_read: set[str] = set()
    defines: set[str] = set()
    imported: set[str] = set()
    strong: set[str] = set()  # defined otherwise than by a method call alone
    for _, scope, bound in _statements(tree.body, _bound_by):
        refs = scope.module_refs()
        read = {name for name, _ in refs} - bound
        uses |= read - _BUILTINS
        builtins_read |= read & _BUILTINS
        called = {name for name, how in refs if how == "call"}
        mutated = {name for name, how in refs if how == "mutate"}
        defines |= scope.stores | scope.global_stores | mutated | called
        strong |= scope.stores | scope.global_stores | mutated
        imported = (imported - scope.stores) | scope.imported
    return _Facts(
        frozenset(defines), frozenset(uses), frozenset(builtins_read), frozenset(imported), frozenset(defines - strong)
    )


@dataclass(frozen=True)
class BlockNames:
    """What a block of statements does with names in its own scope, for export.

    ``binds``: names it binds (assignment, ``del``, import, ``def``, ``class``, loop, ``with``,
    ``except`` and ``match`` targets). ``reads``: names whose value from before the block it
    reads as it runs (builtins included). ``certain``: names bound for certain once it
    completes without an exception. ``late``: module names the functions and methods it
    defines read when called; ``global_writes``: module names they bind through ``global``.
    """

    binds: frozenset[str]
    reads: frozenset[str]
    certain: frozenset[str]
    late: frozenset[str]
    global_writes: frozenset[str]


def block_names(body: Sequence[ast.stmt]) -> BlockNames:
    """The names of ``body`` (plain Python: IPython syntax already turned into calls)."""
    binds: set[str] = set()
    late: set[str] = set()
    global_writes: set[str] = set()
    for stmt in body:
        found = _statement(stmt)
        late |= found.late
        binds |= found.binds
        global_writes |= found.global_writes
    reads = _block_reads(body)
    certain = _certain_block(body)
    return BlockNames(frozenset(binds), frozenset(reads), frozenset(certain), frozenset(late), frozenset(global_writes))


# Export asks about the same statements many times over (a cell, its step, each function);
# statements are not changed between the questions (export changes them only once it has asked).
_STATEMENTS: weakref.WeakKeyDictionary[ast.stmt, BlockNames] = weakref.WeakKeyDictionary()


def _statement(stmt: ast.stmt) -> BlockNames:
    found = _STATEMENTS.get(stmt)
    if found is None:
        scope = _Scope("module")
        scope.visit(stmt)
        late = {name for name, _ in scope.late_refs | scope.global_refs}
        found = BlockNames(
            frozenset(scope.stores), frozenset(_reads(stmt)), frozenset(_certain(stmt)), frozenset(late),
            frozenset(scope.global_stores),
        )
        _STATEMENTS[stmt] = found
    return found


def _reads(stmt: ast.stmt) -> set[str]:
    """Names ``stmt`` reads before binding them, in the order its blocks run: the file a
    ``with`` opened (``with open(p) as fh: json.load(fh)``) is not a value from before."""
    if isinstance(stmt, (ast.With, ast.For)):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars] if isinstance(stmt, ast.With) else [stmt.target]
        heads: list[ast.AST] = [i.context_expr for i in stmt.items] if isinstance(stmt, ast.With) else [stmt.iter]
        bound = {n for t in targets for n in _target_names(t)}
        orelse = _block_reads(stmt.orelse) if isinstance(stmt, ast.For) else set()
        return _expr_reads([*heads, *targets]) | (_block_reads(stmt.body) - bound) | orelse
    if isinstance(stmt, (ast.If, ast.While)):
        return _expr_reads([stmt.test]) | _block_reads(stmt.body) | _block_reads(stmt.orelse)
    if isinstance(stmt, ast.Try):
        handlers = set()
        for handler in stmt.handlers:
            types = _expr_reads([handler.type]) if handler.type else set()
            handlers |= types | (_block_reads(handler.body) - {handler.name})
        return _block_reads(stmt.body) | handlers | _block_reads(stmt.orelse) | _block_reads(stmt.finalbody)
    return _expr_reads([stmt])


def _block_reads(body: Sequence[ast.stmt]) -> set[str]:
    reads: set[str] = set()
    bound: set[str] = set()  # bound for certain by the statements before
    for stmt in body:
        found = _statement(stmt)
        reads |= found.reads - bound
        bound |= found.certain
    return reads


def _expr_reads(nodes: Sequence[ast.AST]) -> set[str]:
    """Names the nodes read as they run (not in the functions they define); a store through a
    name (``x.a = 1``, a loop target ``x[i]``) reads it."""
    scope = _Scope("module")
    for node in nodes:
        scope.visit(node)
    return {name for name, _ in scope.refs | scope.inner_refs}


def _statements(
    body: Iterable[ast.stmt], binds: Callable[[ast.stmt], set[str]]
) -> Iterator[tuple[ast.stmt, _Scope, set[str]]]:
    """Each top-level statement's scope, with the names ``binds`` says earlier statements
    bound for certain: reading those afterwards is not reading a value from before."""
    bound: set[str] = set()
    for stmt in body:
        scope = _Scope("module")
        scope.visit(stmt)
        yield stmt, scope, bound
        bound = bound | binds(stmt)


def _certain(stmt: ast.stmt) -> set[str]:
    """``_bound_by``, also through the blocks that always run: a ``with`` body, both branches
    of an ``if``, a ``try`` whose every way out binds."""
    if isinstance(stmt, ast.With):
        targets = {n for item in stmt.items if item.optional_vars for n in _target_names(item.optional_vars)}
        return targets | _certain_block(stmt.body)
    if isinstance(stmt, ast.If):
        return _certain_block(stmt.body) & _certain_block(stmt.orelse)
    if isinstance(stmt, ast.Try):
        done = _certain_block(stmt.body) | _certain_block(stmt.orelse)
        for handler in stmt.handlers:
            done &= _certain_block(handler.body)
        return done | _certain_block(stmt.finalbody)
    return _bound_by(stmt)


def _certain_block(body: Sequence[ast.stmt]) -> set[str]:
    done: set[str] = set()
    for stmt in body:
        deleted = {t.id for t in stmt.targets if isinstance(t, ast.Name)} if isinstance(stmt, ast.Delete) else set()
        done = (done | _statement(stmt).certain) - deleted
    return done


def scope_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node that runs in the scope of ``body`` itself, not in the functions or classes it
    defines (their decorators and defaults, and a class's bases, do run there)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            children: list[ast.AST] = [*getattr(node, "decorator_list", []), *node.args.defaults]
            children += [d for d in node.args.kw_defaults if d is not None]
        elif isinstance(node, ast.ClassDef):
            children = [*node.decorator_list, *node.bases, *node.keywords]
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))
    return out


def imported_modules(modules: list[ast.Module]) -> list[str]:
    """Top-level names of every module imported anywhere, in order of appearance."""
    found: dict[str, None] = {}

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(dict.fromkeys(a.name.partition(".")[0] for a in node.names))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module != "__future__":
            found[node.module.partition(".")[0]] = None
        for child in ast.iter_child_nodes(node):
            visit(child)

    for module in modules:
        visit(module)
    return list(found)


def _cell_magic(tree: ast.Module) -> _Facts | None:
    """The facts of a ``%%time``-like cell, taken from its Python body; None for other cells."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    call = _ipython_call(tree.body[0].value, "run_cell_magic")
    if call is None or len(call.args) != 3 or not all(_is_str(a) for a in call.args):
        return None
    name, line, body = (a.value for a in call.args)  # type: ignore[attr-defined]
    if name not in _PYTHON_CELL_MAGICS:
        return None
    inner = _analyze(body)
    if name != "capture":
        return inner
    output = {word for word in line.split() if not word.startswith("-")}  # %%capture [--opts] [name]
    return _Facts(
        inner.defines | output, inner.uses, inner.builtins_read, inner.imported - output, inner.called_only - output
    )


def _bound_by(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds whenever it completes, so later reads see this value."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {_import_name(a) for a in stmt.names if a.name != "*"}
    if isinstance(stmt, ast.Assign):
        return {n for t in stmt.targets for n in _target_names(t)}
    if isinstance(stmt, (ast.AugAssign, ast.AnnAssign)) and (isinstance(stmt, ast.AugAssign) or stmt.value):
        return _target_names(stmt.target)
    return set()


def _target_names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return {n for t in target.elts for n in _target_names(t)}
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()  # x.a = ..., x[k] = ...: x itself keeps its earlier value


def _import_name(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _ipython_call(node: ast.expr, *methods: str) -> ast.Call | None:
    """``node`` when it is ``get_ipython().<method>(...)`` for one of ``methods``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in methods
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        return node
    return None


def _base_name(node: ast.expr) -> str | None:
    """``x`` for ``x``, ``x.a``, ``x[k]``, ``x.a[k].b``: the name whose object a store changes."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _params(args: ast.arguments) -> set[str]:
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    return names | {a.arg for a in (args.vararg, args.kwarg) if a is not None}


class _Scope(ast.NodeVisitor):
    """Names one scope binds and refers to. A nested scope is visited on its own and hands back
    only the references it cannot resolve itself, so closures over a function's locals never
    reach module level while reads of module names do.

    A reference is ``(name, how)`` with ``how`` one of "load", "mutate" (a store through the
    name) or "call" (a method called on the name). References from function bodies are kept
    apart (``late_refs``): they are read when the function is called, not where it is defined.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "module", "function", "class" or "comprehension"
        self.refs: set[tuple[str, str]] = set()
        self.stores: set[str] = set()
        self.imported: set[str] = set()
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.inner_refs: set[tuple[str, str]] = set()  # unresolved references of nested class bodies, comprehensions
        self.late_refs: set[tuple[str, str]] = set()  # unresolved references of nested function bodies
        self.global_refs: set[tuple[str, str]] = set()  # references that ``global`` sent to module level
        self.global_stores: set[str] = set()  # module names bound inside functions through ``global``
        self.walrus: set[str] = set()  # comprehension only: bound in the enclosing scope

    # -- resolution -------------------------------------------------------------------------
    def free_refs(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """References this scope leaves to the enclosing one, as (made as it runs, made by its
        nested functions); ``global`` ones go to global_refs."""
        local = self.stores - self.declared_global - self.declared_nonlocal
        # A class body's names are invisible to the functions nested in it.
        inner_local = set() if self.kind == "class" else local
        free: tuple[set[tuple[str, str]], set[tuple[str, str]]] = (set(), set())
        for refs, hidden, out in (
            (self.refs, local, free[0]), (self.inner_refs, inner_local, free[0]), (self.late_refs, inner_local, free[1])
        ):
            for ref in refs:
                if ref[0] in self.declared_global:
                    self.global_refs.add(ref)
                elif ref[0] not in hidden:
                    out.add(ref)
        self.global_stores |= self.stores & self.declared_global
        return free

    def module_refs(self) -> set[tuple[str, str]]:
        """At module level every reference, resolved or sent up through ``global``, is global."""
        return self.refs | self.inner_refs | self.late_refs | self.global_refs

    def _nested(self, child: _Scope, body: Sequence[ast.AST]) -> None:
        for node in body:
            child.visit(node)
        now, late = child.free_refs()
        if child.kind == "function":
            self.late_refs |= now | late
        else:
            self.inner_refs |= now
            self.late_refs |= late
        self.global_refs |= child.global_refs
        self.global_stores |= child.global_stores
        (self.walrus if self.kind == "comprehension" else self.stores).update(child.walrus)

    # -- names ------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.refs.add((node.id, "load"))
        else:
            self.stores.add(node.id)

    def _store_through(self, node: ast.Attribute | ast.Subscript) -> None:
        name = _base_name(node)
        if name is not None and not isinstance(node.ctx, ast.Load):
            self.refs.add((name, "mutate"))
        self.generic_visit(node)

    visit_Attribute = visit_Subscript = _store_through

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):  # x += 1 reads x first
            self.refs.add((node.target.id, "load"))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is None and isinstance(node.target, ast.Name):
            self.visit(node.annotation)  # a bare annotation evaluates, but binds nothing
        else:
            self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        (self.walrus if self.kind == "comprehension" else self.stores).add(node.target.id)
        self.visit(node.value)

    def visit_Global(self, node: ast.Global) -> None:
        self.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.declared_nonlocal.update(node.names)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        names = {_import_name(a) for a in node.names if a.name != "*"}
        self.stores |= names
        self.imported |= names

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.stores.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.stores.add(node.rest)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            self.refs.add((node.func.value.id, "call"))
        if _ipython_call(node, *_EXPANDING_CALLS):
            self._ipython_arguments(node)
        self.generic_visit(node)

    def _ipython_arguments(self, node: ast.Call) -> None:
        """Names a shell command or magic line reads through $name or {name}, and the Python of
        ``%time``-like line magics."""
        texts = [a.value for a in node.args if _is_str(a)]  # type: ignore[attr-defined]
        for text in texts:
            for match in _EXPANDED.finditer(text):
                self.refs.add((match.group(1) or match.group(2), "load"))
        method = node.func.attr  # type: ignore[attr-defined]
        if method == "run_line_magic" and len(texts) == 2 and texts[0] in _PYTHON_LINE_MAGICS:
            try:
                tree = ast.parse(to_python(_LEADING_OPTIONS.sub("", texts[1])))
            except SyntaxError:
                return
            for stmt in tree.body:
                self.visit(stmt)

    # -- nested scopes ----------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            self.stores.add(node.name)
            annotations = (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
            outer += [*node.decorator_list, *(a.annotation for a in annotations if a and a.annotation)]
            outer += [node.returns] if node.returns else []
        for expr in outer:  # evaluated when the def runs, in this scope
            self.visit(expr)
        child = _Scope("function")
        child.stores |= _params(args)
        self._nested(child, node.body if isinstance(node.body, list) else [node.body])

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in (*node.decorator_list, *node.bases, *node.keywords):
            self.visit(expr)
        self.stores.add(node.name)
        self._nested(_Scope("class"), node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # the outermost iterable is evaluated in the enclosing scope
        body: list[ast.AST] = [first.target, *first.ifs]
        for gen in rest:
            body += [gen.iter, gen.target, *gen.ifs]
        body += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._nested(_Scope("comprehension"), body)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension
