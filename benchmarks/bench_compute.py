"""Compute budget P2, measured against plain IPython in the same run.

P2: the share of time nbrepro adds to ordinary compute cells, each 10-150 ms on the
    project's 2-core VM (sizes calibrated once there and fixed below):

    numpy      sort, cumsum and elementwise arithmetic on 2,000,000 floats (no BLAS)
    deepcopy   ``copy.deepcopy`` of 8,000 nested dicts
    json       ``json.loads(json.dumps(...))`` of 25,000 flat dicts
    generator  a pure-Python generator expression over 1,000,000 integers
    pandas     ``groupby("k")["v"].apply(lambda)`` over 200,000 rows in 2,000 groups
    sklearn    ``RandomForestClassifier(n_estimators=10).fit`` on 3,000 x 20 (single-threaded)

    Budget: <= 1% added on each, median of rounds.

Each round runs three fresh processes, in an order rotated from round to round:
``plain`` (IPython only), ``nbrepro`` (``%load_ext nbrepro`` first, every collector on) and
``unloaded`` (``%load_ext nbrepro``, the imports and data set up and a cell run while it is
loaded, then ``%unload_ext nbrepro``: the process should be as fast as ``plain``), and two more
for each ``--compare``d nbrepro, which puts a before and an after in the same rounds. Every
process drives a real ``InteractiveShell`` in a small dirty git repository, imports and
builds its data in an untimed cell, runs each workload twice to warm up, then runs the
workloads in turn ``--reps`` times, back to back as nbclient does (the recorder's worker
competes with the next cell; ``--gap 0.05`` paces them instead, as a person would, so that only
the cell's own path is measured), timing ``shell.run_cell`` with ``time.perf_counter``. Before each
timed cell, untimed, ``gc.collect()``: otherwise where a full collection falls (in the deepcopy
cell or in the json one) depends on the heap's size, which differs between the variants, and
moves tens of milliseconds from one workload to another (measured: plain deepcopy 118 ms and
json 46 ms, with nbrepro 97 ms and 124 ms). The collector stays on inside the cells. A process
reports each workload's median; a round's ratio is a variant's median over plain's in the
same round; the table gives the median over rounds of both the medians and the ratios.

A workload whose package is not installed is skipped, and says so. scikit-learn is not a
test dependency: ``pip install -e '.[bench]'`` (or ``pip install scikit-learn``) adds it.

Usage: python benchmarks/bench_compute.py [--rounds 10] [--reps 7] [--files 200] [--gap 0]
       [--compare LABEL=PATH ...]   (another nbrepro, e.g. ``git archive REV nbrepro | tar -x -C PATH``)
Prints a JSON summary; --markdown prints the table used in docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_capture import make_repo  # the same dirty repository as P1's

# name: (package it needs, set-up source run once untimed, the timed cell)
WORKLOADS: dict[str, tuple[str | None, str, str]] = {
    "numpy": (
        "numpy",
        "import numpy as np\na = np.random.default_rng(0).standard_normal(2_000_000)",
        "s = np.sort(a)\nt = float((a * a + np.sin(a)).sum())\nc = np.cumsum(a)",
    ),
    "deepcopy": (
        None,
        "import copy\n"
        "nested = [{'id': i, 'tags': ['a', 'b', str(i)], 'meta': {'x': i, 'y': [i, i + 1], 'z': {'k': 'v'}}}\n"
        "          for i in range(8_000)]",
        "nested_copy = copy.deepcopy(nested)",
    ),
    "json": (
        None,
        "import json\n"
        "rows = [{'id': i, 'name': f'item{i}', 'price': i * 0.5, 'tags': ['x', 'y'], 'ok': i % 2 == 0}\n"
        "        for i in range(25_000)]",
        "rows_back = json.loads(json.dumps(rows))",
    ),
    "generator": (
        None,
        "n_gen = 1_000_000",
        "total = sum(x * x for x in range(n_gen) if x % 3)",
    ),
    "pandas": (
        "pandas",
        "import numpy as np, pandas as pd\n"
        "_r = np.random.default_rng(1)\n"
        "df = pd.DataFrame({'k': _r.integers(0, 2_000, 200_000), 'v': _r.standard_normal(200_000)})",
        "spread = df.groupby('k')['v'].apply(lambda s: s.max() - s.min())",
    ),
    "sklearn": (
        "sklearn",
        "import numpy as np\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "_r = np.random.default_rng(2)\n"
        "X = _r.standard_normal((3_000, 20))\n"
        "y = (X[:, 0] + X[:, 1] > 0).astype(int)",
        "model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)",
    ),
}

CHILD = r"""
import gc, json, statistics, sys, time
from IPython.core.interactiveshell import InteractiveShell
variant, reps, workloads, gap = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
shell = InteractiveShell.instance()

def run(src):
    result = shell.run_cell(src, store_history=True)
    if not result.success:
        raise SystemExit(f"cell failed: {src!r}: {result.error_before_exec or result.error_in_exec!r}")

if variant in ("nbrepro", "unloaded"):
    shell.run_line_magic("load_ext", "nbrepro")
for name, (setup, cell) in workloads.items():
    run(setup)  # imports and data: untimed, recorded where nbrepro is loaded
run("x = 1")
recorded = None
if variant == "unloaded":
    run(next(iter(workloads.values()))[1])  # one real cell recorded before unloading
    shell.run_line_magic("unload_ext", "nbrepro")
    from nbrepro.ipython.extension import active
    assert active(shell) is None, "still loaded after %unload_ext"
for _ in range(2):  # warm up
    for setup, cell in workloads.values():
        run(cell)
samples = {name: [] for name in workloads}
for _ in range(reps):
    for name, (setup, cell) in workloads.items():
        if gap:
            time.sleep(gap)  # paced: the recorder's worker is done with the last cell, as with a person
        gc.collect()  # each cell starts from a collected heap: no full collection left pending by the last one
        t0 = time.perf_counter()
        run(cell)
        samples[name].append(time.perf_counter() - t0)
if variant == "nbrepro":
    from nbrepro.ipython.extension import active
    rec = active(shell).recorder
    rec.flush(120)
    recorded = rec.records_written
import nbrepro
print(json.dumps({"median_s": {k: statistics.median(v) for k, v in samples.items()}, "samples": samples,
                  "recorded": recorded, "nbrepro": nbrepro.__file__ if variant != "plain" else None}))
"""

def available() -> dict[str, tuple[str, str]]:
    chosen = {}
    for name, (package, setup, cell) in WORKLOADS.items():
        if package is not None and importlib.util.find_spec(package) is None:
            print(f"bench_compute: skipping {name}: {package} is not installed (pip install -e '.[bench]')", file=sys.stderr)
            continue
        chosen[name] = (setup, cell)
    return chosen


def summarize(runs: dict[str, list[dict]], workloads: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for name in workloads:
        plain = [r["median_s"][name] for r in runs["plain"]]
        row = {"plain_ms": statistics.median(plain) * 1e3}
        for variant in list(runs)[1:]:
            med = [r["median_s"][name] for r in runs[variant]]
            ratios = [v / p for v, p in zip(med, plain, strict=True)]
            row[f"{variant}_ms"] = statistics.median(med) * 1e3
            row[f"{variant}_added_pct"] = (statistics.median(med) / statistics.median(plain) - 1) * 100
            row[f"{variant}_ratio_median"] = statistics.median(ratios)
            row[f"{variant}_ratio_min"] = min(ratios)
            row[f"{variant}_ratio_max"] = max(ratios)
        out[name] = row
    return out


def markdown(table: dict[str, dict[str, float]], suffix: str) -> None:
    loaded, unloaded = f"nbrepro{suffix}", f"unloaded{suffix}"
    print("| cell | plain IPython | nbrepro | added | ratio per round, median (range) | loaded then unloaded | unloaded ratio, median (range) |")
    print("|---|---|---|---|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | {row['plain_ms']:.1f} ms | {row[loaded + '_ms']:.1f} ms | {row[loaded + '_added_pct']:+.1f}% "
              f"| {row[loaded + '_ratio_median']:.3f} ({row[loaded + '_ratio_min']:.3f}-{row[loaded + '_ratio_max']:.3f}) "
              f"| {row[unloaded + '_ms']:.1f} ms ({row[unloaded + '_added_pct']:+.1f}%) "
              f"| {row[unloaded + '_ratio_median']:.3f} ({row[unloaded + '_ratio_min']:.3f}-{row[unloaded + '_ratio_max']:.3f}) |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=7, help="timed runs of each workload per process")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between timed cells (0: back to back)")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                        help="also time the nbrepro package found under PATH (e.g. a `git archive` of an older "
                             "commit), in the same rounds; repeatable")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    workloads = available()
    sources = {"": None, **{"@" + c.partition("=")[0]: str(Path(c.partition("=")[2]).resolve()) for c in args.compare}}
    variants = {"plain": None}
    for suffix, path in sources.items():
        variants[f"nbrepro{suffix}"] = variants[f"unloaded{suffix}"] = path
    names = list(variants)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        make_repo(root, args.files)
        env = {**os.environ, "IPYTHONDIR": str(Path(tmp) / "ipython")}  # no user config: plain is plain
        runs: dict[str, list[dict]] = {v: [] for v in names}
        for r in range(args.rounds):  # alternate fresh processes, rotating who goes first
            for variant in names[r % len(names):] + names[: r % len(names)]:
                child_env = {**env, "NBREPRO_DIR": str(Path(tmp) / f"store-{variant}")}
                if variants[variant]:
                    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [variants[variant], env.get("PYTHONPATH")]))
                kind = variant.partition("@")[0]
                out = subprocess.run([sys.executable, "-c", CHILD, kind, str(args.reps), json.dumps(workloads), str(args.gap)],
                                     cwd=root, capture_output=True, text=True, env=child_env)
                if out.returncode:
                    raise SystemExit(f"{variant} process failed:\n{out.stderr[-3000:]}")
                runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    table = summarize(runs, list(workloads))
    summary = {
        "rounds": args.rounds,
        "reps": args.reps,
        "gap_s": args.gap,
        "wall_s": time.monotonic() - started,
        "nbrepro_source": {f"nbrepro{s}": runs[f"nbrepro{s}"][0]["nbrepro"] for s in sources},
        "records_written": {f"nbrepro{s}": sum(r["recorded"] for r in runs[f"nbrepro{s}"]) for s in sources},
        "skipped": sorted(set(WORKLOADS) - set(workloads)),
        "P2": table,
    }
    if args.markdown:
        for suffix in sources:
            if len(sources) > 1:
                print(f"\nnbrepro from {summary['nbrepro_source']['nbrepro' + suffix]}:\n")
            markdown(table, suffix)
            for name in summary["skipped"]:
                print(f"| {name} | skipped: {WORKLOADS[name][0]} not installed | | | | | |")
        pacing = f"{args.gap * 1e3:.0f} ms apart" if args.gap else "back to back"
        written = sum(summary["records_written"].values())
        print(f"\n{args.rounds} rounds x {args.reps} timed runs per workload per process, {pacing}; budget <= 1% added on each "
              f"(the median of per-round ratios <= 1.010). {written} records written by the nbrepro processes; "
              f"wall time {summary['wall_s']:.0f} s.")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
