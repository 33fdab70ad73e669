"""The recorder worker's own CPU per record, against another nbrepro in the same run.

The worker's interpreter time is what a running cell loses to it, so its CPU per record is
the figure that the idle-time scheduling and the cheaper batches are meant to lower. Two
shapes, each in fresh processes alternating between the variants:

    runall   60 back-to-back ``copy.deepcopy`` cells of 60-90 ms (a Run All): batches share
             one git reading
    single   60 small cells, the recorder flushed after each: one git reading per record

in a 200-file dirty git repository (``bench_capture.make_repo``). CPU is the worker thread's
``thread_time``, as the recorder keeps it (``Recorder._worker_cpu``).

Usage: python benchmarks/bench_worker.py [--rounds 2] [--compare LABEL=PATH ...]
(another nbrepro, e.g. ``git archive REV nbrepro | tar -x -C PATH``). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_capture import make_repo

CHILD = r"""
import sys, time
from IPython.core.interactiveshell import InteractiveShell
shape = sys.argv[1]
sh = InteractiveShell.instance()
sh.run_cell("import copy\nd = [{'a': i, 'b': {'c': [i, i + 1], 'd': str(i)}} for i in range(8000)]")
sh.run_cell("%load_ext nbrepro")
from nbrepro.ipython.extension import active
rec = active(sh).recorder
for _ in range(10):
    sh.run_cell("x = copy.deepcopy(d[:100])")
    rec.flush()
cell = "x = copy.deepcopy(d)" if shape == "runall" else "x = copy.deepcopy(d[:100])"
before = rec._worker_cpu
for _ in range(60):
    sh.run_cell(cell)
    if shape == "single":
        rec.flush()
rec.flush(60)
print((rec._worker_cpu - before) / 60)
"""


def run(repo: Path, shape: str, path: str | None) -> float:
    env = {**os.environ, "PYTHONPATH": path} if path else dict(os.environ)
    out = subprocess.run([sys.executable, "-c", CHILD, shape], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", action="append", default=[])
    args = parser.parse_args()
    variants: dict[str, str | None] = {"this": None}
    variants.update(dict(item.split("=", 1) for item in args.compare))
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        make_repo(repo, 200)
        result: dict[str, dict[str, float]] = {}
        for shape in ("runall", "single"):
            samples: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, path in variants.items():
                    samples[name].append(run(repo, shape, path))
            result[shape] = {f"{name}_us": round(statistics.median(v) * 1e6) for name, v in samples.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
