"""``nbrepro export``: a notebook and its record → an installable, tested Python package.

Everything is written into a temporary folder next to the destination and renamed into
place once complete. The generated tests (plain ``unittest``) check the recorded data
files' hashes, run ``run()`` with the recorded parameters, and compare each cell's
printed text, shown result and error with what the notebook recorded.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata as md
import json
import keyword
import os
import pprint
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .._errors import UsageError
from .._version import __version__
from ..notebook.facts import SessionFacts
from ..notebook.flow import cell_flow, dependencies, imported_modules
from ..notebook.params import cell_tags, literal
from ..notebook.read import read_notebook
from ..notebook.recorded import recorded_side
from ..notebook.syntax import to_python
from ..project import find_root, relative_path
from ..record import outputs as canon
from ..record.compare import SKIP_TAG
from ..record.hashing import hash_bytes, hash_json, hash_text
from ..record.redact import REDACTED, redact, redact_value, secrets_of
from . import local
from . import lock as locking
from .transform import Parameter, Transformed, TransformError, transform

# Rewrites after which a cell's printed text is not the notebook's: not compared.
_OUTPUT_CHANGING = frozenset({"pip-install", "shell", "kept-magic", "unparsable", "unwrapped-timing", "dropped-magic"})
_ARG_TYPES = {"int": "int", "float": "float", "str": "str", "bool": "_bool"}


@dataclass
class Exported:
    """What the export made and what the summary reports."""

    folder: Path
    package: str
    files: list[str]
    transformed: Transformed
    outputs_from: dict[str, list[int]]
    missing: list[str] = field(default_factory=list)
    local_modules: dict[str, str] = field(default_factory=dict)  # name -> path in the project
    recorded: str = ""  # where the recorded side came from, and how its session was found


def package_name(notebook: Path, name: str | None) -> str:
    if name is not None:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"--name {name!r} is not a valid Python identifier")
        return name
    slug = re.sub(r"[^a-z0-9]+", "_", notebook.stem.lower()).strip("_") or "notebook"
    slug = f"nb_{slug}" if slug[0].isdigit() else slug
    return f"{slug}_pipeline" if keyword.iskeyword(slug) or slug in sys.stdlib_module_names else slug


def export(
    notebook: str | Path, out: str | Path, *, name: str | None = None, make_lock: bool = True,
    find_links: Path | None = None, no_index: bool = False, session: str | None = None,
    on_step: Callable[[str], object] = lambda step: None,
) -> Exported:
    """Write the package for ``notebook`` into ``out`` (absent or empty), from its recorded
    session (found by content; ``session`` chooses one by id). ``on_step`` hears of each
    long step as it starts (the lock)."""
    path, out = Path(notebook), Path(out)
    nb = read_notebook(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not empty; choose a new folder")
    pkg = package_name(path, name)
    facts, described = recorded_side(nb, path, session)
    expected, outputs_from, missing = _expected(nb, facts)
    # A cell that never parsed raised before it ran: the exported code leaves it out, so no
    # step may expect its error.
    errors = {i: e["error"] for i, e in expected.items() if "error" in e and not _never_parsed(nb.cells[i].source)}
    nb_dir = path.resolve().parent
    root = find_root(nb_dir)
    data = _data_files(facts, root, nb_dir)
    try:
        transformed = transform(
            nb, expect_errors=errors, notebook_dir=None, inputs=_inputs(facts, data, root, nb_dir),
            local=lambda imports: set(local.find(facts, imports, root, nb_dir)),
        )
    except TransformError as exc:
        raise UsageError(f"cannot export {path}: {exc}") from None
    params, skipped = _recorded_params(facts, transformed.parameters)
    missing += skipped + _left_out(expected, nb, transformed) + _narrow(expected, transformed)
    rng, notes = _rng_replay(expected, nb, facts)
    missing += notes
    modules = local.find(facts, transformed.imports, root, nb_dir)
    copied = local.copies(modules, pkg)
    static = [m for m in [*transformed.imports, *_imports_of(copied.values())] if m not in modules]

    made_folders = _missing_folders(out.parent)  # removed again if the export fails
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o755)
        extra = [locking.installed_pin("blake3")] if data else []
        if "IPython" in transformed.imports:  # a kernel's, so left out of the session's imports
            extra.append(locking.installed_pin("ipython"))
        reqs = locking.requirements(facts, dict.fromkeys(static), transformed.requirements, extra=extra)
        missing += reqs.missing
        _write(tmp / "requirements.in", "".join(f"{line}\n" for line in reqs.lines) or "\n")
        lock_hash = None
        if make_lock:
            on_step("locking requirements.in with pip-compile")
            lock_hash = hash_text(locking.lock(tmp, find_links=find_links, no_index=no_index))
        provenance = _provenance(path, nb_dir, out, facts, described, params, data, lock_hash, reqs.origin)
        provenance["outputs_from"] = {k: v for k, v in outputs_from.items() if v}
        provenance["local_modules"] = {m: relative_path(p, root) for m, p in modules.items()}
        header = _header(provenance)
        files = _files(pkg, transformed, header, params, expected, data, reqs.lines, path.name, copied, set(modules), rng)
        for rel, text in files.items():
            _write(tmp / rel, text)
        _write(tmp / "PROVENANCE.json", json.dumps(provenance, indent=2, ensure_ascii=False))
        made = sorted([*files, "PROVENANCE.json", "requirements.in", *(["requirements.lock"] if make_lock else [])])
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made_folders:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return Exported(out, pkg, made, transformed, outputs_from, missing, provenance["local_modules"], described)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing


def run_tests(
    folder: Path, *, isolated: bool, find_links: Path | None = None, no_index: bool = False,
    on_step: Callable[[str], object] = lambda step: None,
) -> tuple[bool, str]:
    """Run the package's generated tests, here or in a fresh venv; (passed, output)."""
    with tempfile.TemporaryDirectory(prefix="nbrepro-export-venv-") as venv:
        python = Path(sys.executable)
        if isolated:
            on_step("installing requirements.lock into a fresh venv")
            python = locking.isolated_python(folder, Path(venv), find_links=find_links, no_index=no_index)
        on_step("running the generated tests")
        env = {**os.environ, "PYTHONPATH": "src", "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(
            [str(python), "-m", "unittest", "discover", "-s", "tests", "-t", "."],
            cwd=folder, capture_output=True, text=True, env=env, check=False,
        )
    secrets = secrets_of(p.read_text(encoding="utf-8") for p in folder.glob("src/*/pipeline.py"))
    return proc.returncode == 0, redact(proc.stdout + proc.stderr, secrets)


# --- what the record says -----------------------------------------------------------


def _expected(
    nb: nbformat.NotebookNode, facts: SessionFacts
) -> tuple[dict[int, dict[str, Any]], dict[str, list[int]], list[str]]:
    """Per recorded cell: its stdout text, shown result (text/plain), displayed objects'
    text/plain, number of images and error type name;
    the cells whose outputs came from the store and from the notebook's saved outputs."""
    expected: dict[int, dict[str, Any]] = {}
    origin: dict[str, list[int]] = {"store": [], "notebook": []}
    secrets = secrets_of(c.source for c in nb.cells if c.cell_type == "code")  # as the recorder redacts
    missing: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        recorded = facts.cells.get(index)
        if recorded is not None and recorded.outputs is not None:
            outputs, origin_key = recorded.outputs, "store"
        elif cell.get("outputs") or cell.get("execution_count"):
            outputs, origin_key = canon.canonical(cell.get("outputs", []), secrets), "notebook"
        else:
            missing.append(f"cell {index}: no recorded outputs; not compared")
            continue
        origin[origin_key].append(index)
        streams = [o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout"]
        entry: dict[str, Any] = {"stdout": "".join(streams)}
        displays: list[str] = []
        figures = 0
        for o in outputs:
            if o["output_type"] == "execute_result" and "text/plain" in o["data"]:
                entry["value"] = canon.as_text(o["data"]["text/plain"])
            elif o["output_type"] == "display_data" and any(m.startswith("image/") for m in o["data"]):
                figures += 1
            elif o["output_type"] == "display_data" and "text/plain" in o["data"]:
                displays.append(canon.as_text(o["data"]["text/plain"]))
            elif o["output_type"] == "error":
                entry["error"] = o["ename"]
        entry["displays"], entry["figures"] = displays, figures
        expected[index] = entry
    return expected, origin, missing


def _narrow(expected: dict[int, dict[str, Any]], transformed: Transformed) -> list[str]:
    """Drop what the exported code cannot reproduce as recorded; say what was dropped."""
    notes: list[str] = []
    changed = {r.cell: r.kind for r in transformed.rewrites if r.kind in _OUTPUT_CHANGING}
    values = {r.cell for r in transformed.results if r.kind == "value"}
    displays = Counter(r.cell for r in transformed.results if r.kind == "display")
    plots = {r.cell for r in transformed.rewrites if r.kind == "plot"}
    for index, entry in expected.items():
        if index in changed and entry.pop("stdout", None):
            notes.append(f"cell {index}: printed output not compared (rewritten: {changed[index]})")
        if "value" in entry and index not in values:
            del entry["value"]
            notes.append(f"cell {index}: shown result not compared (not a result of run())")
        shown = entry.pop("displays")
        if shown and len(shown) == displays[index]:
            entry["displays"] = shown
        elif shown:
            notes.append(f"cell {index}: displayed objects not compared (not each from a display() call in the cell)")
        figures = entry.pop("figures")
        if figures and (index in plots or index in changed):
            entry["figures"] = figures
        elif figures:
            notes.append(f"cell {index}: {figures} figure(s) not compared (not drawn by the cell's own code)")
    return notes


def _never_parsed(source: str) -> bool:
    """Whether IPython could not even parse the cell (a deliberate ``IndentationError``):
    it raised before running, so there is nothing of it to export or to compare."""
    try:
        ast.parse(to_python(source))
    except SyntaxError:
        return True
    return False


def _left_out(expected: dict[int, dict[str, Any]], nb: nbformat.NotebookNode, transformed: Transformed) -> list[str]:
    """Cells the tests do not compare at all: tagged ``nbrepro:skip-compare`` (as verify
    skips them), or not in the exported code (never parsed, or not Python a step can run)."""
    notes: list[str] = []
    unexported = {r.cell for r in transformed.rewrites if r.kind == "unparsable"}
    for index in sorted(expected):
        if SKIP_TAG in cell_tags(nb.cells[index]):
            del expected[index]
            notes.append(f"cell {index}: tagged {SKIP_TAG}: it runs, its outputs are not compared")
        elif index in unexported:
            entry = expected.pop(index)
            raised = f" (it raised {entry['error']} when recorded)" if "error" in entry else ""
            notes.append(f"cell {index}: not in the exported code{raised}; not compared")
    return notes


def _rng_replay(
    expected: dict[int, dict[str, Any]], nb: nbformat.NotebookNode, facts: SessionFacts
) -> tuple[dict[str, Any], list[str]]:
    """The global RNG states each recorded cell started with, for the tests to set again
    before the cell runs (``{"states": {id: state}, "cells": {index: {generator: id}}}``);
    cells that drew from a generator whose state no record keeps (``default_rng()``, torch,
    an older record), and the cells reading what they computed, compare only what is stable."""
    states: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, str]] = {}
    for index, cell in sorted(facts.cells.items()):
        if cell.rng_start:
            ids = {name: hash_json(state) for name, state in sorted(cell.rng_start.items())}
            states.update({ids[name]: state for name, state in cell.rng_start.items()})
            cells[str(index)] = ids
    lost = {i: [g for g in c.unseeded if g not in c.rng_start] for i, c in facts.cells.items()}
    lost = {i: g for i, g in lost.items() if g}
    notes: list[str] = []
    if lost:
        sources = [c.source if c.cell_type == "code" else "" for c in nb.cells]
        deps = dependencies(sources)
        tainted = dict(lost)
        for index, names in enumerate(deps):
            # What an import binds (np, pd) carries no drawn numbers: a library that drew as
            # it was imported taints nothing the cells compute with it.
            if index not in tainted and any(
                definer in tainted and name not in cell_flow(sources[definer]).imports for name, definer in names.items()
            ):
                tainted[index] = []
        how = "compared by what is stable (type, shape, dtype: the text with numbers masked)"
        for index, generators in sorted(tainted.items()):
            if index not in expected:
                continue
            expected[index]["compare"] = "stable"
            why = (f"drew from {', '.join(generators)} without a seed, and no record keeps its state" if generators
                   else "reads what a cell that drew unreplayable random numbers computed")
            notes.append(f"cell {index}: {why}: {how}")
    return ({"states": states, "cells": cells} if cells else {}), notes


def _imports_of(sources: Iterable[str]) -> list[str]:
    """Top-level modules the copied local modules import (for requirements without a record)."""
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            continue
    return imported_modules(trees)


def _recorded_params(facts: SessionFacts, parameters: list[Parameter]) -> tuple[dict[str, Any], list[str]]:
    names = {p.name for p in parameters}
    params: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in facts.params.items():
        if key not in names:
            notes.append(f"recorded parameter {key!r} is not a parameter of run()")
            continue
        if REDACTED in repr(value):
            notes.append(f"recorded parameter {key!r} is redacted; the tests use its default")
            continue
        try:  # the tests write it with repr(): only a value that reads back can go there
            same = literal(repr(value)) == value
        except ValueError:
            same = False
        if not same:
            notes.append(f"recorded parameter {key!r} is not a literal; the tests use its default")
            continue
        params[key] = value
    return params, notes


def _data_files(facts: SessionFacts, root: Path, nb_dir: Path) -> dict[str, str]:
    """Data files the session read (and did not write), relative to the notebook's folder,
    with their hash at the first read."""
    written = {e["path"] for c in facts.cells.values() for e in c.data if "w" in str(e.get("mode"))}
    data: dict[str, str] = {}
    for index in facts.order or sorted(facts.cells):
        for entry in facts.cells[index].data:
            if entry.get("mode") == "r" and entry["path"] not in written:
                rel = Path(os.path.relpath(root / entry["path"], nb_dir)).as_posix()
                data.setdefault(rel, entry["hash"])
    return data


def _inputs(facts: SessionFacts, data: dict[str, str], root: Path, nb_dir: Path) -> tuple[str, ...]:
    """What a run given ``outdir`` links there from the notebook's folder: each top folder
    of the data files it read, whole, unless the session wrote anything into it (then the
    files alone, so the writes land in ``outdir``); a file at the top, itself."""
    written = [
        Path(os.path.relpath(root / e["path"], nb_dir)).as_posix()
        for c in facts.cells.values() for e in c.data if e.get("mode") != "r"
    ]
    linked: dict[str, None] = {}
    for rel in data:
        parts = rel.split("/")
        ups = next((i for i, part in enumerate(parts) if part != ".."), len(parts))
        top = "/".join(parts[: ups + 1])
        whole = len(parts) > ups + 1 and not any(w == top or w.startswith(top + "/") for w in written)
        linked[top if whole else rel] = None
    return tuple(linked)


def _provenance(
    path: Path, nb_dir: Path, out: Path, facts: SessionFacts, described: str, params: dict[str, Any],
    data: dict[str, str], lock_hash: str | None, requirements_origin: str,
) -> dict[str, Any]:
    cells = [facts.cells[i] for i in (facts.order or sorted(facts.cells))]
    imported: dict[str, str] = {}
    seeds: dict[str, Any] = {}
    for cell in cells:
        imported.update(cell.imported)
        seeds.update(cell.seeds_set)
    return {
        "notebook": relative_path(path, find_root(nb_dir)),
        "notebook_hash": hash_bytes(path.read_bytes()),
        "workdir": Path(os.path.relpath(nb_dir, out.resolve())).as_posix(),
        "recorded": described,
        "session_id": facts.session_id,
        "session": facts.match or None,
        "run_ids": list(dict.fromkeys(c.run_id for c in cells if c.run_id)),
        "git": dict(facts.git),  # one record's state, as recorded: never one record's commit with another's tree
        "imported": dict(sorted(imported.items())),
        "requirements_from": requirements_origin,
        "data": data,
        "seeds_set": seeds,
        "hardware": facts.hardware,
        "params": params,
        "lock_hash": lock_hash,
        "nbrepro_version": __version__,
    }


def _header(prov: dict[str, Any]) -> list[str]:
    git = prov["git"]
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    runs = " ".join(r[:8] for r in prov["run_ids"]) or "none"
    return [
        f"Generated by nbrepro {prov['nbrepro_version']} from {prov['notebook']} ({prov['notebook_hash']})",
        f"session {prov['session_id'] or 'none'}; git commit {commit}; lock {prov['lock_hash'] or 'none'}",
        *textwrap.wrap(f"runs: {runs}", 86),
        "Details in PROVENANCE.json. Re-export rather than edit.",
    ]


# --- files --------------------------------------------------------------------------


def _comment(header: list[str]) -> str:
    return "".join(f"# {line}\n" for line in header)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _files(
    pkg: str, tr: Transformed, header: list[str], params: dict[str, Any], expected: dict[int, dict[str, Any]],
    data: dict[str, str], requirements: list[str], notebook: str, copied: dict[str, str],
    local_names: set[str], rng: dict[str, Any],
) -> dict[str, str]:
    py = _comment(header) + "\n"
    runtime = (Path(__file__).parent / "runtime_template.py").read_text(encoding="utf-8")
    compare = (Path(__file__).parents[1] / "record" / "compare.py").read_text(encoding="utf-8")
    redaction = (Path(__file__).parents[1] / "record" / "redact.py").read_text(encoding="utf-8")
    init = (
        f'"""{notebook} as a package: ``run()`` runs its code and returns its results."""\n\n'
        'from .pipeline import run\n\n__all__ = ["run"]\n'
    )
    tests = (
        _TEST_TEMPLATE.replace("__PACKAGE__", pkg)
        .replace("__PARAMS__", pprint.pformat(params, width=100, sort_dicts=False))
        .replace("__DATA__", pprint.pformat(data, width=100))
        .replace("__EXPECTED__", pprint.pformat(expected, width=100))
        .replace("__RENAMED__", pprint.pformat(_renamed(pkg, local_names), width=100))
        .replace("__LOCALS__", repr(_in_step(tr.steps)))
    )
    extra = {}
    if rng:
        extra[f"src/{pkg}/_rng.py"] = py + (Path(__file__).parents[1] / "record" / "rng.py").read_text(encoding="utf-8")
        extra["tests/rng_states.json"] = json.dumps(rng, indent=1, sort_keys=True) + "\n"
    return {
        "pyproject.toml": _comment(header) + _pyproject(pkg, requirements, notebook),
        f"src/{pkg}/__init__.py": py + init,
        f"src/{pkg}/pipeline.py": py + local.localize(tr.source, local_names, pkg),
        f"src/{pkg}/_runtime.py": py + runtime,
        f"src/{pkg}/_compare.py": py + compare,
        f"src/{pkg}/_pretty.py": py + _ipython_pretty(),
        **extra,
        f"src/{pkg}/_redact.py": py + redaction,
        f"src/{pkg}/__main__.py": py + _main_source(pkg, tr.parameters, notebook),
        **{f"src/{pkg}/{rel}": py + text for rel, text in copied.items()},
        "tests/__init__.py": py,
        "tests/test_pipeline.py": py + tests,
        "README.md": "<!--\n" + "".join(f"  {line}\n" for line in header) + "-->\n" + _readme(pkg, tr, notebook),
    }


def _renamed(pkg: str, local_names: set[str]) -> dict[str, str]:
    """Module names the package gives what the notebook defined, mapped back to the names the
    notebook showed (``<__main__.Point at 0x…>``, ``<function features.scale(x)>``)."""
    names = {f"{pkg}.pipeline.": "__main__."}
    names.update({f"{pkg}.local.{name}.": f"{name}." for name in sorted(local_names)})
    return names


def _in_step(steps: list[str]) -> str:
    """A pattern for the qualified-name prefix the package's functions add to what the
    notebook's code defines: a step's (``step_02_x.<locals>.``), ``run``'s, or that of the
    ``SHOWN``/``DISPLAYED`` lambda a shown expression is evaluated in (``<lambda>.<locals>.``),
    only where the qualified name starts (bare, or after ``__main__.``)."""
    names = "|".join(map(re.escape, ["<lambda>", *steps, "run"]))
    return rf"(?:(?<=__main__\.)|(?<![\w.>]))(?:{names})\.<locals>\."


def _ipython_pretty() -> str:
    """``IPython.lib.pretty`` as installed here, verbatim, under IPython's license: the
    printer of the display formatter that rendered the notebook's values (standard library
    only, so the package needs no IPython to render them the same way)."""
    dist = md.distribution("ipython")
    source = Path(str(dist.locate_file("IPython/lib/pretty.py"))).read_text(encoding="utf-8")
    licence = next((f for f in dist.files or [] if f.name == "LICENSE" and "dist-info" in str(f)), None)
    notice = (licence.read_text(encoding="utf-8") if licence is not None else _IPYTHON_NOTICE).strip()
    header = [
        f"IPython.lib.pretty from IPython {dist.version}, copied verbatim by nbrepro export: the",
        "generated tests render values with it, as the notebook's display formatter did.",
        "It is IPython's code, under IPython's license:",
        "",
        *notice.splitlines(),
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + "\n" + source


_IPYTHON_NOTICE = "Copyright (c) 2008-Present, IPython Development Team. BSD 3-Clause License."


def _pyproject(pkg: str, requirements: list[str], notebook: str) -> str:
    deps = "".join(f"  {json.dumps(r)},\n" for r in requirements)
    return f"""
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{pkg.replace("_", "-")}"
version = "0.1.0"
description = {json.dumps(f"The code of {notebook}, exported by nbrepro")}
readme = "README.md"
requires-python = ">={sys.version_info.major}.{sys.version_info.minor}"
dependencies = [
{deps}]

[project.scripts]
{pkg} = "{pkg}.__main__:main"

[tool.setuptools.packages.find]
where = ["src"]

[tool.ruff]
# IPython's own module, copied verbatim (see its header): not this package's code to lint.
extend-exclude = ["src/{pkg}/_pretty.py"]
"""


def _main_source(pkg: str, parameters: list[Parameter], notebook: str) -> str:
    options = []
    for p in parameters:
        kind = _ARG_TYPES.get(p.type, "_literal")
        metavar = p.type.upper() if p.type in _ARG_TYPES else "LITERAL"
        options.append(
            f"    parser.add_argument({'--' + p.name.replace('_', '-')!r}, dest={p.name!r}, type={kind},"
            f" default=PARAMETERS[{p.name!r}], metavar={metavar!r}, help={f'notebook parameter {p.name} ({p.type})'!r})"
        )
    call = "".join(f"{p.name}=args.{p.name}, " for p in parameters)
    return f'''"""Command line for the pipeline exported from {notebook}: ``python -m {pkg} --help``."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from . import _runtime
from .pipeline import INPUTS, PARAMETERS, run


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {{text!r}}")


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"not a Python literal: {{text!r}}") from None


def _short(value: object) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 100 else text[:97] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="{pkg}", description="Run the code of {notebook}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
{chr(10).join(options)}
    parser.add_argument(
        "--workdir", default=None, help="the notebook's folder, where its relative paths start (default: here)"
    )
    parser.add_argument(
        "--outdir", default=None,
        help="folder for figures and for the files the code writes (default: figures not saved, files in --workdir)",
    )
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or ".")
    missing = [p for p in INPUTS if not (workdir / p).exists()]
    if missing:
        parser.exit(2, f"{pkg}: error: {{missing[0]}} is not in {{workdir.resolve()}}; pass --workdir NOTEBOOK_FOLDER\\n")
    try:
        run({call}workdir=args.workdir, outdir=args.outdir)
    except FileNotFoundError as exc:
        parser.exit(2, f"{pkg}: error: {{exc.filename}} not found from {{workdir.resolve()}}; pass --workdir NOTEBOOK_FOLDER\\n")
    results = _runtime.last_results()
    if results is not None:  # what each cell showed, as the notebook's Out[] did
        for key, value in results.values.items():
            print(f"{{key}}: {{_short(value)}}")
        for cell, error in sorted(results.errors.items()):
            print(f"cell_{{cell}}: raised {{error}} (as in the notebook)")
        for cell, paths in sorted(results.figures.items()):
            print(f"cell_{{cell}}: figures {{', '.join(str(p) for p in paths)}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
'''


def _readme(pkg: str, tr: Transformed, notebook: str) -> str:
    if tr.parameters:
        rows = "".join(f"| `{p.name}` | `{p.type}` | `{redact_value(p.name, p.source)}` |\n" for p in tr.parameters)
        params = "| name | type | default |\n|---|---|---|\n" + rows
    else:
        params = "The notebook has no cell tagged `parameters`: `run()` takes no parameters.\n"
    rewrites = "".join(f"- {r.detail}\n" for r in tr.rewrites) or "- none\n"
    return f"""
# {pkg}

The code of `{notebook}`, exported by nbrepro as a package: `{pkg}.run()` runs the
notebook's cells in order, one step function per markdown heading, each taking the names
it reads from earlier steps and returning those later steps read, and returns the
notebook's variables as the steps left them. What each cell showed is kept apart from the
steps (`SHOWN`, `DISPLAYED` in `pipeline.py`) and recorded by `_runtime.last_results()` as
`cell_<n>`. `PROVENANCE.json` says which recorded session, commit, data files and packages
it came from.

## Parameters

{params}
## Run

```
pip install --require-hashes --no-deps -r requirements.lock
pip install --no-deps .
{pkg} --workdir PATH/TO/NOTEBOOK/FOLDER --outdir results
```

`--workdir` defaults to the current folder: the notebook's relative file paths start
there. With `--outdir` the code runs there instead, with the files it reads linked from
`--workdir`: figures and every file it writes land under `--outdir`, and the notebook's
folder is left as it was. From Python: `from {pkg} import run; run(workdir=..., outdir=...)`.

## Test

```
PYTHONPATH=src python -m unittest discover -s tests -t .
```

The tests check that the data files still have their recorded BLAKE3 hashes (skipped
without the `blake3` package), then run `run()` with the recorded parameters in the
notebook's folder (`workdir` in `PROVENANCE.json`, relative to this folder; override
with `NBREPRO_WORKDIR`) and compare each cell's printed text, result and error with the
recording. Numbers match within a relative tolerance of 1e-6. Values are rendered as the
notebook showed them (IPython's pretty printer, `_pretty.py`; pandas with a kernel's
display options), when their cell showed them; each cell starts from the random state
the recorded cell started with (`tests/rng_states.json`, when the notebook drew any).

## Changes made to the notebook's code

{rewrites}"""


_TEST_TEMPLATE = '''"""The exported pipeline still reproduces its notebook: same data, same outputs."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import unittest
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    from __PACKAGE__ import _compare, _redact, _runtime, pipeline, run
except ImportError:  # not installed: the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from __PACKAGE__ import _compare, _redact, _runtime, pipeline, run

PROVENANCE = json.loads((ROOT / "PROVENANCE.json").read_text(encoding="utf-8"))
WORKDIR = Path(os.environ.get("NBREPRO_WORKDIR") or ROOT / PROVENANCE["workdir"]).resolve()
PARAMS = __PARAMS__
DATA = __DATA__
EXPECTED = __EXPECTED__
# The recording was redacted: so is what the pipeline prints, before it is compared.
SECRETS = _redact.assigned_secrets(Path(pipeline.__file__).read_text(encoding="utf-8"))
# The states the global random generators had as each recorded cell started, set again
# before the cell runs, so that cells drawing without a seed draw the same numbers.
RNG_FILE = Path(__file__).with_name("rng_states.json")
RNG = json.loads(RNG_FILE.read_text(encoding="utf-8")) if RNG_FILE.is_file() else {"states": {}, "cells": {}}
# What the notebook defined is named after the package here: module names, and the step
# functions its code now runs in (a lambda's or a generator's qualified name).
RENAMED = __RENAMED__
IN_STEP = re.compile(__LOCALS__)


def as_notebook_named(text: str) -> str:
    for ours, notebook in RENAMED.items():
        text = text.replace(ours, notebook)
    return IN_STEP.sub("", text)


def differs(actual: str, recorded: str, *, stable: bool = False) -> str:
    """Empty when equal under nbrepro verify's rules (volatile tokens masked, numbers within
    a relative tolerance of 1e-6, set reprs in any order); else a short diff. ``stable``
    compares only what does not depend on the numbers (random draws with no state to set)."""
    actual = _redact.redact(as_notebook_named(actual), SECRETS)
    stream = [{"output_type": "stream", "name": "stdout", "text": t} for t in (recorded, actual)]
    diff = _compare.compare(stream[:1], stream[1:]).diff
    if diff and stable and _compare.stable_text(actual) == _compare.stable_text(recorded):
        return ""
    return diff


def start_cell(index: int) -> None:
    """Set the global random generators to the states the recorded cell started with."""
    names = RNG["cells"].get(str(index))
    if names:
        from __PACKAGE__ import _rng

        _rng.apply({name: RNG["states"][state] for name, state in names.items()})


class Test1DataFiles(unittest.TestCase):
    def test_data_files_unchanged(self) -> None:
        if not DATA:
            return
        try:
            from blake3 import blake3
        except ImportError:
            self.skipTest("blake3 is not installed: the data files' BLAKE3 hashes cannot be checked")
        for rel, recorded in DATA.items():
            path = WORKDIR / rel
            self.assertTrue(path.is_file(), f"data file {rel} is missing (looked in {WORKDIR})")
            actual = "blake3:" + blake3(path.read_bytes()).hexdigest()
            self.assertEqual(actual, recorded, f"data file {rel} changed since the notebook was recorded")


class Test2Outputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.figures = tempfile.TemporaryDirectory(prefix="nbrepro-figures-")
        _runtime.set_cell_start(start_cell)
        try:
            cls.values = run(**PARAMS, workdir=WORKDIR, outdir=cls.figures.name)
        finally:
            _runtime.set_cell_start(None)
        cls.results = _runtime.last_results()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.figures.cleanup()

    def check_cell(self, index: int) -> None:
        recorded = EXPECTED[index]
        stable = recorded.get("compare") == "stable"
        if "stdout" in recorded:
            diff = differs(self.results.stdout.get(index, ""), recorded["stdout"], stable=stable)
            self.assertFalse(diff, f"cell {index} printed other text than the notebook recorded:\\n{diff}")
        if "value" in recorded:
            key = f"cell_{index}"
            self.assertIn(key, self.results.texts, f"cell {index}: the notebook showed a result, run() returned none")
            diff = differs(self.results.texts[key], recorded["value"], stable=stable)
            self.assertFalse(diff, f"cell {index} returned another value than the notebook showed:\\n{diff}")
        for k, shown in enumerate(recorded.get("displays", []), 1):
            key = f"cell_{index}_display_{k}"
            self.assertIn(key, self.results.texts, f"cell {index}: the notebook displayed {k} object(s), run() fewer")
            diff = differs(self.results.texts[key], shown, stable=stable)
            self.assertFalse(diff, f"cell {index} displayed another object than the notebook:\\n{diff}")
        if "figures" in recorded:
            made = len(self.results.figures.get(index, []))
            self.assertEqual(made, recorded["figures"], f"cell {index}: figures drawn, against the notebook's")
        self.assertEqual(self.results.errors.get(index), recorded.get("error"), f"cell {index}: error type")


def _cell_test(index: int) -> Callable[[Test2Outputs], None]:
    def test(self: Test2Outputs) -> None:
        self.check_cell(index)

    test.__name__ = f"test_cell_{index:03d}"
    return test


for _index in EXPECTED:
    setattr(Test2Outputs, f"test_cell_{_index:03d}", _cell_test(_index))
'''
