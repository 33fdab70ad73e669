"""``nbrepro export``: a notebook and its record → an installable, tested Python package.

Everything is written into a temporary folder next to the destination and renamed into
place once complete. The generated tests (plain ``unittest``) check the recorded data
files' hashes, run ``run()`` with the recorded parameters, and compare each cell's
printed text, shown result and error with what the notebook recorded.
"""

from __future__ import annotations

import ast
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .._errors import UsageError
from .._version import __version__
from ..notebook.facts import SessionFacts
from ..notebook.params import literal
from ..notebook.read import read_notebook
from ..notebook.recorded import recorded_side
from ..project import find_root, relative_path
from ..record import outputs as canon
from ..record.hashing import hash_bytes, hash_text
from . import local
from . import lock as locking
from .names import imported_modules
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
) -> Exported:
    """Write the package for ``notebook`` into ``out`` (absent or empty), from its recorded
    session (found by content; ``session`` chooses one by id)."""
    path, out = Path(notebook), Path(out)
    nb = read_notebook(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not empty; choose a new folder")
    pkg = package_name(path, name)
    facts, described = recorded_side(nb, path, session)
    expected, outputs_from, missing = _expected(nb, facts)
    errors = {i: e["error"] for i, e in expected.items() if "error" in e}
    try:
        transformed = transform(nb, expect_errors=errors, notebook_dir=None)
    except TransformError as exc:
        raise UsageError(f"cannot export {path}: {exc}") from None
    params, skipped = _recorded_params(facts, transformed.parameters)
    missing += skipped + _narrow(expected, transformed)
    nb_dir = path.resolve().parent
    root = find_root(nb_dir)
    data = _data_files(facts, root, nb_dir)
    modules = local.find(facts, transformed.imports, root, nb_dir)
    copied = local.copies(modules, pkg)
    static = [m for m in [*transformed.imports, *_imports_of(copied.values())] if m not in modules]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o755)
        extra = [locking.installed_pin("blake3")] if data else []
        reqs = locking.requirements(facts, dict.fromkeys(static), transformed.requirements, extra=extra)
        missing += reqs.missing
        _write(tmp / "requirements.in", "".join(f"{line}\n" for line in reqs.lines) or "\n")
        lock_hash = None
        if make_lock:
            lock_hash = hash_text(locking.lock(tmp, find_links=find_links, no_index=no_index))
        provenance = _provenance(path, nb_dir, out, facts, described, params, data, lock_hash, reqs.origin)
        provenance["outputs_from"] = {k: v for k, v in outputs_from.items() if v}
        provenance["local_modules"] = {m: relative_path(p, root) for m, p in modules.items()}
        header = _header(provenance)
        files = _files(pkg, transformed, header, params, expected, data, reqs.lines, path.name, copied, set(modules))
        for rel, text in files.items():
            _write(tmp / rel, text)
        _write(tmp / "PROVENANCE.json", json.dumps(provenance, indent=2, ensure_ascii=False))
        made = sorted([*files, "PROVENANCE.json", "requirements.in", *(["requirements.lock"] if make_lock else [])])
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Exported(out, pkg, made, transformed, outputs_from, missing, provenance["local_modules"], described)


def run_tests(
    folder: Path, *, isolated: bool, find_links: Path | None = None, no_index: bool = False
) -> tuple[bool, str]:
    """Run the package's generated tests, here or in a fresh venv; (passed, output)."""
    with tempfile.TemporaryDirectory(prefix="nbrepro-export-venv-") as venv:
        python = Path(sys.executable)
        if isolated:
            python = locking.isolated_python(folder, Path(venv), find_links=find_links, no_index=no_index)
        env = {**os.environ, "PYTHONPATH": "src", "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(
            [str(python), "-m", "unittest", "discover", "-s", "tests", "-t", "."],
            cwd=folder, capture_output=True, text=True, env=env, check=False,
        )
    return proc.returncode == 0, proc.stdout + proc.stderr


# --- what the record says -----------------------------------------------------------


def _expected(
    nb: nbformat.NotebookNode, facts: SessionFacts
) -> tuple[dict[int, dict[str, Any]], dict[str, list[int]], list[str]]:
    """Per recorded cell: its stdout text, shown result (text/plain), displayed objects'
    text/plain, number of images and error type name;
    the cells whose outputs came from the store and from the notebook's saved outputs."""
    expected: dict[int, dict[str, Any]] = {}
    origin: dict[str, list[int]] = {"store": [], "notebook": []}
    missing: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        recorded = facts.cells.get(index)
        if recorded is not None and recorded.outputs is not None:
            outputs, origin_key = recorded.outputs, "store"
        elif cell.get("outputs") or cell.get("execution_count"):
            outputs, origin_key = canon.canonical(cell.get("outputs", [])), "notebook"
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
    snapshots = [c.snapshot for c in cells if c.snapshot]
    return {
        "notebook": relative_path(path, find_root(nb_dir)),
        "notebook_hash": hash_bytes(path.read_bytes()),
        "workdir": Path(os.path.relpath(nb_dir, out.resolve())).as_posix(),
        "recorded": described,
        "session_id": facts.session_id,
        "session": facts.match or None,
        "run_ids": list(dict.fromkeys(c.run_id for c in cells if c.run_id)),
        "git": {**facts.git, "snapshot": snapshots[-1] if snapshots else facts.git.get("snapshot")},
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
    local_names: set[str],
) -> dict[str, str]:
    py = _comment(header) + "\n"
    runtime = (Path(__file__).parent / "runtime_template.py").read_text(encoding="utf-8")
    compare = (Path(__file__).parents[1] / "record" / "compare.py").read_text(encoding="utf-8")
    init = (
        f'"""{notebook} as a package: ``run()`` runs its code and returns its results."""\n\n'
        'from .pipeline import run\n\n__all__ = ["run"]\n'
    )
    tests = (
        _TEST_TEMPLATE.replace("__PACKAGE__", pkg)
        .replace("__PARAMS__", pprint.pformat(params, width=100, sort_dicts=False))
        .replace("__DATA__", pprint.pformat(data, width=100))
        .replace("__EXPECTED__", pprint.pformat(expected, width=100))
    )
    return {
        "pyproject.toml": _comment(header) + _pyproject(pkg, requirements, notebook),
        f"src/{pkg}/__init__.py": py + init,
        f"src/{pkg}/pipeline.py": py + local.localize(tr.source, local_names, pkg),
        f"src/{pkg}/_runtime.py": py + runtime,
        f"src/{pkg}/_compare.py": py + compare,
        f"src/{pkg}/__main__.py": py + _main_source(pkg, tr.parameters, notebook),
        **{f"src/{pkg}/{rel}": py + text for rel, text in copied.items()},
        "tests/__init__.py": py,
        "tests/test_pipeline.py": py + tests,
        "README.md": "<!--\n" + "".join(f"  {line}\n" for line in header) + "-->\n" + _readme(pkg, tr, notebook),
    }


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

from . import _runtime
from .pipeline import PARAMETERS, run


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
    parser.add_argument("--workdir", default=".", help="folder the notebook's relative paths start from")
    parser.add_argument("--outdir", default=None, help="folder for figures (not saved when omitted)")
    args = parser.parse_args(argv)
    values = run({call}workdir=args.workdir, outdir=args.outdir)
    results = _runtime.last_results()
    for key, value in values.items():
        print(f"{{key}}: {{_short(value)}}")
    if results is not None:
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
        rows = "".join(f"| `{p.name}` | `{p.type}` | `{p.source}` |\n" for p in tr.parameters)
        params = "| name | type | default |\n|---|---|---|\n" + rows
    else:
        params = "The notebook has no cell tagged `parameters`: `run()` takes no parameters.\n"
    rewrites = "".join(f"- {r.detail}\n" for r in tr.rewrites) or "- none\n"
    return f"""
# {pkg}

The code of `{notebook}`, exported by nbrepro as a package: `{pkg}.run()` runs the
notebook's cells in order (one function per markdown heading) and returns the values
the notebook showed, keyed `cell_<n>`. `PROVENANCE.json` says which recorded session,
commit, data files and packages it came from.

## Parameters

{params}
## Run

```
pip install --require-hashes --no-deps -r requirements.lock
pip install --no-deps .
{pkg} --workdir PATH/TO/NOTEBOOK/FOLDER --outdir figures
```

`--workdir` defaults to the current folder: the notebook's relative file paths start
there. From Python: `from {pkg} import run; run(workdir=...)`.

## Test

```
PYTHONPATH=src python -m unittest discover -s tests -t .
```

The tests check that the data files still have their recorded BLAKE3 hashes (skipped
without the `blake3` package), then run `run()` with the recorded parameters in the
notebook's folder (`workdir` in `PROVENANCE.json`, relative to this folder; override
with `NBREPRO_WORKDIR`) and compare each cell's printed text, result and error with the
recording. Numbers match within a relative tolerance of 1e-6.

## Changes made to the notebook's code

{rewrites}"""


_TEST_TEMPLATE = '''"""The exported pipeline still reproduces its notebook: same data, same outputs."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    from __PACKAGE__ import _compare, _runtime, run
except ImportError:  # not installed: the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from __PACKAGE__ import _compare, _runtime, run

PROVENANCE = json.loads((ROOT / "PROVENANCE.json").read_text(encoding="utf-8"))
WORKDIR = Path(os.environ.get("NBREPRO_WORKDIR") or ROOT / PROVENANCE["workdir"]).resolve()
PARAMS = __PARAMS__
DATA = __DATA__
EXPECTED = __EXPECTED__



def differs(actual: str, recorded: str, *, collapse: bool = False) -> str:
    """Empty when equal under nbrepro verify's rules (volatile tokens masked, numbers within
    a relative tolerance of 1e-6, set reprs in any order); else a short diff. ``collapse``
    joins whitespace runs: a value's repr against IPython's wrapped pretty-print."""
    if collapse:
        actual, recorded = " ".join(actual.split()), " ".join(recorded.split())
    stream = [{"output_type": "stream", "name": "stdout", "text": t} for t in (recorded, actual)]
    return _compare.compare(stream[:1], stream[1:]).diff


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
        cls.values = run(**PARAMS, workdir=WORKDIR, outdir=cls.figures.name)
        cls.results = _runtime.last_results()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.figures.cleanup()

    def check_cell(self, index: int) -> None:
        recorded = EXPECTED[index]
        if "stdout" in recorded:
            diff = differs(self.results.stdout.get(index, ""), recorded["stdout"])
            self.assertFalse(diff, f"cell {index} printed other text than the notebook recorded:\\n{diff}")
        if "value" in recorded:
            key = f"cell_{index}"
            self.assertIn(key, self.values, f"cell {index}: the notebook showed a result, run() returned none")
            diff = differs(repr(self.values[key]), recorded["value"], collapse=True)
            self.assertFalse(diff, f"cell {index} returned another value than the notebook showed:\\n{diff}")
        for k, shown in enumerate(recorded.get("displays", []), 1):
            key = f"cell_{index}_display_{k}"
            self.assertIn(key, self.values, f"cell {index}: the notebook displayed {k} object(s), run() fewer")
            diff = differs(repr(self.values[key]), shown, collapse=True)
            self.assertFalse(diff, f"cell {index} displayed another object than the notebook:\\n{diff}")
        if "figures" in recorded:
            made = len(self.results.figures.get(index, []))
            self.assertEqual(made, recorded["figures"], f"cell {index}: figures drawn, against the notebook's")
        self.assertEqual(self.results.errors.get(index), recorded.get("error"), f"cell {index}: error type")


def _cell_test(index: int):  # noqa: ANN202 - a test method
    def test(self: Test2Outputs) -> None:
        self.check_cell(index)

    test.__name__ = f"test_cell_{index:03d}"
    return test


for _index in EXPECTED:
    setattr(Test2Outputs, f"test_cell_{_index:03d}", _cell_test(_index))
'''
