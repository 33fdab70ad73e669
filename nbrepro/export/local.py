"""The notebook's own modules (``helpers.py`` beside it), copied into the exported package.

A notebook that does ``from helpers import clean`` needs ``helpers.py`` wherever its
package runs. The export copies each local module (a file, or a whole package folder) into
``src/PKG/local/`` and rewrites every import of it in the copied modules themselves (and any
``import a.b`` of one left in ``pipeline.py``, whose imports are otherwise relative, see
``codegen.relative_imports``) to the absolute name under the package: ``import helpers``
becomes ``import PKG.local.helpers as helpers``. Nothing lands at the top level of
site-packages, where a module called ``helpers`` or ``utils`` would collide with someone else's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from ..notebook.facts import SessionFacts

SUBPACKAGE = "local"
_SKIP = ("__pycache__", ".ipynb_checkpoints")


def find(facts: SessionFacts, static_imports: Iterable[str], root: Path, nb_dir: Path) -> dict[str, Path]:
    """Top-level module name → its file (``__init__.py`` for a package): what the recorded
    session imported from the project, else the static imports found beside the notebook
    or at the project root."""
    found: dict[str, Path] = {}
    for index in facts.order or sorted(facts.cells):
        for name, rel in facts.cells[index].local_modules.items():
            path = root / rel
            if path.is_file():
                found.setdefault(name, path)
    for name in static_imports:
        candidates = (base / rel for base in (nb_dir, root) for rel in (f"{name}.py", f"{name}/__init__.py"))
        beside = next((c for c in candidates if c.is_file()), None)
        if beside is not None:
            found.setdefault(name, beside)
    return dict(sorted(found.items()))


def copies(modules: dict[str, Path], package: str) -> dict[str, str]:
    """Package-relative file → source, imports of local modules rewritten; includes
    ``local/__init__.py``. Empty when there are no local modules."""
    if not modules:
        return {}
    names = set(modules)
    files: dict[str, str] = {
        f"{SUBPACKAGE}/__init__.py": '"""The notebook\'s local modules, copied from its folder at export."""\n'
    }
    for name, path in modules.items():
        if path.name == "__init__.py":
            for file in sorted(path.parent.rglob("*.py")):
                if not any(part in _SKIP for part in file.parts):
                    rel = file.relative_to(path.parent.parent).as_posix()
                    files[f"{SUBPACKAGE}/{rel}"] = localize(file.read_text(encoding="utf-8"), names, package)
        else:
            files[f"{SUBPACKAGE}/{name}.py"] = localize(path.read_text(encoding="utf-8"), names, package)
    return files


def localize(source: str, local: set[str], package: str) -> str:
    """``source`` with every absolute import of a module in ``local`` pointed at
    ``package.local``; all else byte for byte. Source that does not parse is returned as is."""
    if not local:
        return source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    prefix = f"{package}.{SUBPACKAGE}"
    edits: list[tuple[int, int, int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        replacement = _rewrite(node, local, prefix)
        if replacement is not None:
            assert node.end_lineno is not None and node.end_col_offset is not None
            edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, replacement))
    if not edits:
        return source
    lines = source.splitlines(keepends=True)
    for start, col, end, end_col, statements in sorted(edits, reverse=True):
        # ast offsets are in UTF-8 bytes; lines are str
        first = lines[start - 1].encode()
        last = lines[end - 1].encode()
        indent, rest = first[:col].decode(), last[end_col:].decode()
        alone = not indent.strip() and not rest.strip()  # the statement has its lines to itself
        merged = indent + ("\n" + indent if alone else "; ").join(statements) + rest
        lines[start - 1 : end] = [merged]
    return "".join(lines)


def _rewrite(node: ast.Import | ast.ImportFrom, local: set[str], prefix: str) -> list[str] | None:
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module or node.module.partition(".")[0] not in local:
            return None
        return [ast.unparse(ast.ImportFrom(f"{prefix}.{node.module}", node.names, 0))]
    if not any(a.name.partition(".")[0] in local for a in node.names):
        return None
    parts: list[str] = []
    for alias in node.names:
        top = alias.name.partition(".")[0]
        if top not in local:
            parts.append(ast.unparse(ast.Import([alias])))
        elif alias.asname:
            parts.append(f"import {prefix}.{alias.name} as {alias.asname}")
        elif "." in alias.name:  # ``import a.b`` binds ``a`` with ``b`` loaded
            parts += [f"import {prefix}.{alias.name}", f"from {prefix} import {top}"]
        else:
            parts.append(f"import {prefix}.{alias.name} as {alias.name}")
    return parts
