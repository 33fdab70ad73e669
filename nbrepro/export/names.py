"""Which names a block of notebook code binds, reads and imports: what ``transform`` needs to
write ``global`` declarations and to decide what can move to module level."""

from __future__ import annotations

import ast


def scope_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node that runs in the scope of ``body`` itself, not in functions or classes
    it defines (their names, decorators and defaults do run there)."""
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


COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def bound_names(body: list[ast.stmt]) -> set[str]:
    """Names that ``body`` binds in its own scope: the names a step declares ``global``."""
    names: set[str] = set()
    comprehension_vars = {
        id(n)
        for c in scope_nodes(body)
        if isinstance(c, COMPREHENSIONS)
        for g in c.generators
        for n in ast.walk(g.target)
    }
    for node in scope_nodes(body):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and id(node) not in comprehension_vars:
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.partition(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Global):
            names.update(node.names)
    return names


def eager_names(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    """Names a ``def``/``class`` statement reads when it runs (decorators, defaults,
    annotations, a class body): moved to module level, they must exist at import."""
    reads: list[ast.AST] = [*node.decorator_list]
    if isinstance(node, ast.ClassDef):
        reads += [*node.bases, *node.keywords, *node.body]
    else:
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        reads += [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
        reads += [a.annotation for a in every if a is not None and a.annotation is not None]
        reads += [node.returns] if node.returns is not None else []
    nodes = scope_nodes(reads)  # type: ignore[arg-type]
    loads = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for inner in nodes:
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
            loads |= eager_names(inner)
    return loads - bound_names(node.body) if isinstance(node, ast.ClassDef) else loads


def identifiers(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.partition(".")[0])
    return names


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
