"""Verify budget P6, measured against a baseline in the same run.

P6: ``nbrepro verify NB`` against ``jupyter execute NB`` (nbclient's own command: a fresh
    kernel, every cell run, nothing compared) on the same 20-cell notebook, in alternating
    runs. The notebook is recorded once first, so verify has a session to compare with.
    Budget: <= 1.15x.

Usage: python benchmarks/bench_verify.py [--rounds 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat


def notebook() -> nbformat.NotebookNode:
    cells = ["%load_ext nbrepro", "import numpy as np\nimport csv", "n = 2000"]
    cells += ["with open('data.csv') as f:\n    rows = [float(r[0]) for r in csv.reader(f)]\nlen(rows)"]
    for i in range(16):
        cells.append(f"a{i} = np.arange(n) * {i + 1}\nprint(a{i}.sum(), sum(rows) * {i})")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.cells[2].metadata["tags"] = ["parameters"]
    return nb


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data.csv").write_text("".join(f"{i}\n" for i in range(1000)))
        path = root / "bench.ipynb"
        nbformat.write(notebook(), path)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        from nbrepro.notebook import kernel

        kernel.execute(nbformat.read(path, as_version=4), root, env={"JPY_SESSION_NAME": str(path)})
        jupyter = shutil.which("jupyter-execute") or shutil.which("jupyter")
        base_cmd = [jupyter, "execute", str(path)] if jupyter and jupyter.endswith("jupyter") else [str(jupyter), str(path)]
        verify_cmd = [sys.executable, "-m", "nbrepro", "verify", str(path), "--json"]
        base, ours = [], []
        timed(base_cmd, root)  # warm the file cache and compiled bytecode
        for _ in range(args.rounds):
            base.append(timed(base_cmd, root))
            ours.append(timed(verify_cmd, root))
        out = subprocess.run(verify_cmd, cwd=root, capture_output=True, text=True, env=os.environ)
        verdict = json.loads(out.stdout)["verdict"]
    summary = {
        "cells": 20,
        "jupyter_execute_s": statistics.median(base),
        "verify_s": statistics.median(ours),
        "ratio": statistics.median(ours) / statistics.median(base),
        "verdict": verdict,
    }
    if args.markdown:
        print("| budget | measured | baseline, same run | budget |\n|---|---|---|---|")
        print(f"| P6 verify, 20-cell notebook | {summary['verify_s']:.2f} s ({summary['ratio']:.2f}× the baseline), verdict {verdict} "
              f"| `jupyter execute` {summary['jupyter_execute_s']:.2f} s | ≤ 1.15× |")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
