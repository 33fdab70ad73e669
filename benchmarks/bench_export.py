"""Export budget P5, measured with baselines in the same run.

P5a: exporting a 200-cell notebook without the lock (``export(..., make_lock=False)``: read
     the notebook and its recorded session from the store, transform, write the package;
     the generated tests are not run) takes <= 0.5 s. Shown beside it, for scale: nbconvert's
     ``PythonExporter`` on the same notebook (a plain script, no functions, no tests).
P5b: the offline lock (``nbrepro.export.lock.lock``) against a bare ``pip-compile
     --generate-hashes --no-index --find-links`` on the same requirements.in, alternating.
     Budget: <= 1.5x. Uses the wheel folder of ``python tests/wheelhouse.py``.

The notebook mixes what exploratory notebooks hold: a heading every 10 cells, bare
expressions, prints, functions and classes, %timeit, !shell, display() and errors. It is
recorded once in a real kernel first, so the export reads a 200-record session.

Usage: python benchmarks/bench_export.py [--rounds 7] [--markdown]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / ".cache" / "wheelhouse"


def notebook(cells: int = 200) -> nbformat.NotebookNode:
    made = [new_code_cell("%load_ext nbrepro"), new_code_cell("import math\nimport statistics\nfrom IPython.display import display")]
    made.append(new_code_cell("scale = 3\nlabel = 'run'", metadata={"tags": ["parameters"]}))
    kinds = [
        "values_{i} = [math.sin(k * scale) for k in range(50)]\nround(sum(values_{i}), 6)",
        "print('{i}', label, round(statistics.mean(values_{j}), 6))",
        "def f_{i}(x):\n    return x * scale + {i}\n\nf_{i}(2)",
        "class C{i}:\n    def __init__(self):\n        self.v = {i}\n\n    def __repr__(self):\n        return f'C{i}({{self.v}})'\n\nC{i}()",
        "%timeit -n 1 -r 1 sum(values_{j})",
        "!echo cell {i}",
        "display({{'cell': {i}, 'n': len(values_{j})}})",
        "total_{i} = sum(values_{j}) * {i}\ntotal_{i}",
        "int('not a number {i}')",
        "{{k: round(v, 3) for k, v in enumerate(values_{j}[:3])}}",
    ]
    i = 0
    while len(made) < cells:
        if i % 10 == 0:
            made.append(new_markdown_cell(f"## Section {i // 10}"))
        j = i - i % 10  # the values_ list of this section
        made.append(new_code_cell(kinds[i % 10].format(i=i, j=j)))
        i += 1
    return new_notebook(cells=made)


def median_time(func, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    from nbconvert import PythonExporter

    from nbrepro.notebook import kernel
    from nbrepro.export import lock
    from nbrepro.export.package import export

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "long.ipynb"
        nb = notebook()
        nbformat.write(nb, path)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        kernel.execute(nbformat.read(path, as_version=4), root, env={"JPY_SESSION_NAME": str(path)})
        n_code = sum(c.cell_type == "code" for c in nb.cells)

        outs = iter(range(10_000))

        def do_export() -> None:
            out = root / f"out{next(outs)}"
            export(path, out, make_lock=False)
            shutil.rmtree(out)

        do_export()  # warm imports and the file-hash cache
        export_times = median_time(do_export, args.rounds)
        exporter = PythonExporter()
        script_times = median_time(lambda: exporter.from_filename(str(path)), args.rounds)

        if not any(WHEELHOUSE.glob("numpy-*.whl")):
            raise SystemExit(f"no wheels in {WHEELHOUSE}: run python tests/wheelhouse.py first")
        from importlib import metadata

        folder = root / "lock"
        folder.mkdir()
        (folder / "requirements.in").write_text(
            "".join(f"{d}=={metadata.version(d)}\n" for d in ("numpy", "blake3"))
        )
        bare_cmd = [sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--no-index",
                    "--find-links", str(WHEELHOUSE), "-o", "bare.lock", "requirements.in"]
        ours, bare = [], []
        for _ in range(max(3, args.rounds // 2)):
            t0 = time.perf_counter()
            lock.lock(folder, find_links=WHEELHOUSE, no_index=True)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(bare_cmd, cwd=folder, check=True, capture_output=True)
            bare.append(time.perf_counter() - t0)

    ex, sc = statistics.median(export_times), statistics.median(script_times)
    lo, lb = statistics.median(ours), statistics.median(bare)
    rows = [
        ("P5a: export, no lock (200 cells, {n} code)".format(n=n_code), f"{ex * 1000:.0f} ms", "<= 500 ms",
         "met" if ex <= 0.5 else "MISSED"),
        ("  for scale: nbconvert PythonExporter", f"{sc * 1000:.0f} ms", "", ""),
        ("P5b: offline lock vs bare pip-compile", f"{lo:.2f} s vs {lb:.2f} s = {lo / lb:.2f}x", "<= 1.5x",
         "met" if lo / lb <= 1.5 else "MISSED"),
    ]
    if args.markdown:
        print("| Measure | Result | Budget | |\n|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in rows:
            print(f"{row[0]:<48} {row[1]:<28} {row[2]:<10} {row[3]}")
        print(f"export runs (ms): {[round(t * 1000) for t in export_times]}")


if __name__ == "__main__":
    main()
