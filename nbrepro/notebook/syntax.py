"""IPython syntax: a cell's source as the Python IPython runs (its own ``TransformerManager``),
recognizing magics and shell escapes as it writes them (``get_ipython().run_line_magic(...)``),
and building the plain-Python statements they become. Used by export's ``transform`` and
the name flow (``notebook.flow``); no notebook state here.
"""

from __future__ import annotations

import ast
import re
import shlex

from IPython.core.inputtransformer2 import TransformerManager

DROPPED_MAGICS = frozenset(
    {"matplotlib", "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport", "config", "nbrepro"}
)


TIMING_MAGICS = frozenset({"time", "timeit"})


# pip options that take a value: the value is not a requirement either.
PIP_VALUE_FLAGS = frozenset(
    {
        "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
        "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
        "--trusted-host", "--platform", "--python-version", "--implementation", "--abi",
        "--src", "--upgrade-strategy", "--progress-bar", "--cache-dir", "--log",
    }
)  # fmt: skip


PIP_COMMAND = re.compile(r"^\s*(?:python3?\s+-m\s+)?pip3?\s+install\b(?P<args>.*)$", re.DOTALL)


TIMEIT_FLAGS = re.compile(r"^\s*(?:-[nrp]\s*\S+\s+|-[tcqo]+\s+)*")


ENV_ASSIGN = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:=\s*|\s+)(?P<value>.*?)\s*$")


SCRIPT_MAGICS = {"bash": "bash", "sh": "sh"}


WRITEFILE = re.compile(r"^\s*(?P<append>-a\s+|--append\s+)?(?P<path>[^\s'\"]+)\s*$")


# Stateless between cells, so one serves every call.
_TRANSFORMER = TransformerManager()  # type: ignore[no-untyped-call]


def to_python(source: str) -> str:
    """A cell's source with IPython's syntax (magics, ``!cmd``, ``x?``) turned into the
    Python IPython runs; a ``SyntaxError`` where IPython would raise one."""
    return _TRANSFORMER.transform_cell(source)


def magic_call(node: ast.AST) -> tuple[str, list[str]] | None:
    """``("run_line_magic", [name, arg])`` etc. for a ``get_ipython().<method>(...)`` call."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
        and node.func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput")
    ):
        args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        return (node.func.attr, args) if len(args) == len(node.args) else None
    return None


def magic_text(method: str, args: list[str]) -> str:
    if method == "run_line_magic":
        return f"%{args[0]} {args[1]}".rstrip()
    if method == "run_cell_magic":
        return f"%%{args[0]} {args[1]}".rstrip()
    return f"!{args[0]}"


def expr(source: str) -> ast.Expr:
    stmt = ast.parse(source).body[0]
    assert isinstance(stmt, ast.Expr)
    return stmt


def parse_expression(source: str) -> ast.expr | None:
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None


def shell_call(cmd: str, *, echo: bool) -> ast.expr:
    call = expr("_runtime.shell(None)" if echo else "_runtime.shell(None, echo=False)").value
    assert isinstance(call, ast.Call)
    call.args = [interpolated(cmd)]
    return call


def interpolated(cmd: str) -> ast.expr:
    """IPython expands ``{expr}`` in a shell command from the notebook's namespace; an
    f-string does the same. Braces holding no expression (awk's ``{print $1}``) stay."""
    parts: list[str] = []
    found = False
    pos = 0
    for match in re.finditer(r"\{([^{}]*)\}", cmd):
        parts.append(escape_braces(cmd[pos : match.start()]))
        if match.group(1).strip() and parse_expression(match.group(1)) is not None:
            parts.append(match.group(0))
            found = True
        else:
            parts.append(escape_braces(match.group(0)))
        pos = match.end()
    parts.append(escape_braces(cmd[pos:]))
    if found:
        with_names = parse_expression("f" + repr("".join(parts)))
        if with_names is not None:
            return with_names
    return ast.Constant(cmd)


def escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def pip_args(method: str, args: list[str]) -> str | None:
    """The arguments of a ``%pip install`` or ``!pip install``, or None for anything else."""
    if method == "run_line_magic" and args[0] == "pip":
        command, _, rest = args[1].strip().partition(" ")
        return rest if command == "install" else None
    if method == "system":
        match = PIP_COMMAND.match(args[0])
        return match.group("args") if match else None
    return None


def pip_requirements(args: str) -> tuple[list[str], list[str]]:
    """Package specs, and the options left out (with their values)."""
    try:
        words = shlex.split(args, comments=True)
    except ValueError:
        words = args.split()
    specs: list[str] = []
    dropped: list[str] = []
    it = iter(words)
    for word in it:
        if word.startswith("-"):
            dropped.append(word)
            if word in PIP_VALUE_FLAGS:
                dropped.extend(w for w in [next(it, "")] if w)
        else:
            specs.append(word)
    return specs, dropped
