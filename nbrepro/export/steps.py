"""The notebook's cells as step functions with explicit inputs and outputs.

Each markdown heading starts a step. A step's arguments are the names it reads that a
parameter or an earlier step bound; it returns the names later steps read, and those of its
names nothing in the pipeline reads again (the notebook's results: ``run()`` returns them).
Both come from the name flow of ``notebook.flow``, in notebook order.

What the cells only showed (a last expression, ``display()`` calls) is kept apart from the
steps (``Cell.shown``, ``Cell.displays``); the runtime evaluates it where the cell ended.

Where names cannot be passed explicitly, they stay module globals, declared ``global`` in
each step that binds them, and the export summary lists each such fallback:

- a module-level function reads or binds (``global``) a name the notebook's cells bind;
- a function defined in a step reads a name a later step binds (a closure would not see it);
- a step returns a name it may leave unbound (bound in a branch, a loop, a failing cell) that
  nothing before it bound either;
- a cell uses ``exec``, ``eval``, ``globals()``, ``locals()`` or ``vars()``: the names it reads
  and binds.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..notebook.flow import BlockNames, block_names, scope_nodes

_BUILTINS = frozenset(dir(builtins))
# A statement standing for comment lines (ast keeps no comments): a removed magic, a cell not exported.
MARKER = "__nbrepro_comment_{}__"
MARKER_LINE = re.compile(r"^(?P<indent>[ \t]*)__nbrepro_comment_(?P<n>\d+)__$", re.MULTILINE)
_DYNAMIC = frozenset({"exec", "eval", "globals", "locals", "vars"})

Report = Callable[[int, str, str], None]  # cell, kind, detail


@dataclass
class Cell:
    """One code cell, rewritten: ``body`` runs in its step; ``shown`` (the last expression
    the notebook showed) and ``displays`` (what its ``display()`` calls showed) are
    evaluated apart, where the cell ends."""

    index: int
    body: list[ast.stmt]
    expect_error: str | None
    shown: ast.expr | None = None
    displays: list[ast.expr] = field(default_factory=list)


@dataclass
class Section:
    heading: str | None
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Step:
    """A step function: its name, cells, arguments, return values, the module globals it
    binds and those it reads (the fallback)."""

    name: str
    section: Section
    args: list[str] = field(default_factory=list)
    returns: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    reads_shared: list[str] = field(default_factory=list)

    @property
    def explicit(self) -> bool:
        """Whether every name it uses from elsewhere comes in as an argument."""
        return not (self.shared or self.reads_shared)


@dataclass
class Flow:
    """The steps, and every name that stays a module global (with the functions that need it)."""

    steps: list[Step]
    shared: dict[str, list[str]]  # name -> why ("loss()", "cell 4's exec")
    dynamic: bool  # a cell uses exec/eval/globals(): unknown names are left to module globals


@dataclass
class _Facts:
    binds: set[str]
    reads: set[str]
    certain: set[str]
    late: set[str]  # read by functions defined in the step, when called
    first_bound: dict[str, int]  # name -> cell index binding it first
    scratch: set[str]  # bound only as a ``with ... as`` target: a file, a lock, not a result


def plan(
    steps: list[Step],
    parameters: list[str],
    module_defs: list[ast.stmt],
    report: Report,
) -> Flow:
    """Work out each step's arguments, return values and fallback globals.

    ``module_defs`` are the functions and classes at module level; ``parameters`` are
    ``run()``'s, in order."""
    facts = [_step_facts(s) for s in steps]
    notebook = set(parameters).union(*(f.binds for f in facts))
    shared: dict[str, list[str]] = {}

    def share(names: Iterable[str], why: str) -> None:
        for name in sorted(names):
            shared.setdefault(name, []).append(why)

    for node in module_defs:
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        names = block_names([node])
        late = (names.late & notebook) | names.global_writes
        if late:
            share(late, f"{node.name}()")
            cell = getattr(node, "nbrepro_cell", -1)
            verb = "binds" if names.global_writes else "reads"
            report(
                cell, "fallback",
                f"cell {cell}: {node.name}() {verb} the notebook's {', '.join(sorted(late))}:"
                " module globals, declared global where a step binds them",
            )
    dynamic = False
    for step, fact in zip(steps, facts, strict=True):
        for cell in step.section.cells:
            names = block_names(cell.body)
            if names.global_writes:
                share(set(names.global_writes), f"cell {cell.index}")
            used = {n.id for n in scope_nodes(cell.body) if isinstance(n, ast.Name)} & _DYNAMIC
            called = {
                n.func.id for n in scope_nodes(cell.body)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in used
            }
            if called:
                dynamic = True
                share((names.binds | names.reads) & notebook, f"cell {cell.index}'s {'/'.join(sorted(called))}")
                report(
                    cell.index, "fallback",
                    f"cell {cell.index} calls {', '.join(f'{c}()' for c in sorted(called))}: its names stay module"
                    " globals, and names nothing else binds are left to them",
                )
        later = set().union(*(f.binds for f in facts[facts.index(fact) + 1 :]))
        closure = (fact.late - fact.binds) & later
        if closure:
            share(closure, f"a function of {step.name}")
            first = step.section.cells[0].index
            report(
                first, "fallback",
                f"cell {first}: a function defined in {step.name} reads {', '.join(sorted(closure))}, which"
                " a later step binds: module globals",
            )
    _flow(steps, facts, parameters, shared, report)
    return Flow(steps, shared, dynamic)


def _step_facts(step: Step) -> _Facts:
    binds: set[str] = set()
    reads: set[str] = set()
    certain: set[str] = set()
    late: set[str] = set()
    first: dict[str, int] = {}
    scratch: set[str] = set()
    for cell in step.section.cells:
        names: BlockNames = block_names(cell.body)
        for stmt in cell.body:
            if isinstance(stmt, ast.With):
                scratch |= {t.id for item in stmt.items for t in [item.optional_vars] if isinstance(t, ast.Name)}
        reads |= names.reads - certain
        binds |= names.binds
        late |= names.late
        for name in names.binds:
            first.setdefault(name, cell.index)
        if cell.expect_error is None:  # a cell that failed may have stopped before any binding
            certain |= names.certain
    others = {n for c in step.section.cells for s in c.body if not isinstance(s, ast.With) for n in block_names([s]).binds}
    return _Facts(binds, reads, certain, late, first, scratch - others)


def _flow(steps: list[Step], facts: list[_Facts], parameters: list[str], shared: dict[str, list[str]],
          report: Report) -> None:
    """Arguments and return values, to a fixed point: a return value the step may leave
    unbound must come in as an argument too, or stay a module global."""
    extra_inputs: list[set[str]] = [set() for _ in steps]
    while True:
        inputs, providers = _inputs(facts, parameters, set(shared), extra_inputs)
        outputs: list[set[str]] = [set() for _ in steps]
        for index, names in enumerate(inputs):
            for name in names:
                source = providers[index].get(name)
                if isinstance(source, int):
                    outputs[source].add(name)
        changed = False
        for index, fact in enumerate(facts):
            for name in sorted(outputs[index] - fact.certain):
                if name in inputs[index]:
                    continue
                if name in providers[index]:  # bound before: it comes in, so it is bound either way
                    extra_inputs[index].add(name)
                else:
                    shared.setdefault(name, []).append(f"{steps[index].name} may leave it unbound")
                    cell = fact.first_bound[name]
                    report(cell, "fallback", f"cell {cell}: {name} may be left unbound by {steps[index].name}: a module global")
                changed = True
        if not changed:
            break
    later_binds: set[str] = set()
    results: list[set[str]] = [set() for _ in steps]
    for index in range(len(steps) - 1, -1, -1):
        fact = facts[index]
        # The notebook's results: what the step leaves bound that no later step reads or rebinds.
        results[index] = (fact.certain - later_binds - set(shared) - fact.scratch) - outputs[index]
        later_binds |= fact.binds
    order = _order(parameters, facts)
    for index, step in enumerate(steps):
        step.args = sorted(inputs[index], key=order)
        step.returns = sorted(outputs[index] | results[index], key=order)
        step.shared = sorted(facts[index].binds & set(shared), key=order)
        step.reads_shared = sorted(((facts[index].reads | facts[index].late) & set(shared)) - facts[index].binds, key=order)


def _inputs(
    facts: list[_Facts], parameters: list[str], shared: set[str], extra: list[set[str]]
) -> tuple[list[set[str]], list[dict[str, int | str]]]:
    """Each step's arguments, and who bound each name before it: "param" or a step index
    (a name missing there is a module-level name, a builtin, or bound by nothing)."""
    provider: dict[str, int | str] = {p: "param" for p in parameters}
    inputs: list[set[str]] = []
    providers: list[dict[str, int | str]] = []
    for index, fact in enumerate(facts):
        need = fact.reads | (fact.late - fact.binds) | extra[index]
        inputs.append({n for n in need - shared if n in provider})
        providers.append(dict(provider))
        for name in fact.binds:
            provider[name] = index
    return inputs, providers


def _order(parameters: list[str], facts: list[_Facts]) -> Callable[[str], tuple[int, int, str]]:
    """Names in the order the notebook first bound them, parameters first."""
    first: dict[str, int] = {}
    for fact in facts:
        for name, cell in fact.first_bound.items():
            first.setdefault(name, cell)
    position = {p: i for i, p in enumerate(parameters)}
    return lambda name: (0, position[name], name) if name in position else (1, first.get(name, 1 << 30), name)


def undefined(step: Step, known: set[str]) -> set[str]:
    """Names the step reads that nothing binds where it runs: neither its arguments, nor its
    own bindings, nor ``known`` (module-level names, module globals). Reading them raises
    NameError, as it did in the notebook."""
    local = set(step.args) | set(known) | _BUILTINS
    found: set[str] = set()
    for cell in step.section.cells:
        names = block_names(cell.body)
        local |= names.binds
    for cell in step.section.cells:
        names = block_names(cell.body)
        found |= (names.reads | names.late) - local
    return {n for n in found if not MARKER_LINE.match(n)}
