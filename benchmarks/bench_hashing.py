"""Data hashing budget P3, measured against a baseline in the same run.

P3: the time nbrepro adds to the first cell that reads a 1 GiB file, against python-blake3
    hashing the same file with mmap and all cores (``b3sum`` is used too when it is on PATH).
    The file is hashed by the recorder's worker after the cell ends, so the cost is how much
    later that cell's record is written than a cell reading a tiny file. Budget: nbrepro's
    throughput >= 0.9x the baseline's. The page cache is warm for both (the file is read once
    before), and each round uses a fresh store so the file-hash cache cannot answer.
    ``hash_file`` alone: the same file hashed in this process by ``nbrepro.capture.files``
    (reads, never a map), in the same rounds, without the recorder around it.
    Cache hit: ``FileHashes.get`` of an unchanged file, per file, against a bare ``os.stat``.
    Budget: <= 5 us per file.

On a shared machine, ``--max-others 0.2`` keeps only rounds in which other processes used
under 20% of the CPUs during each of the round's timings (read from /proc/stat, Linux), and
tries up to ``--tries`` rounds to keep ``--rounds`` of them.

Usage: python benchmarks/bench_hashing.py [--size-mib 1024] [--rounds 3] [--max-others 1.0] [--tries 30] [--markdown]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CHILD = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "nbrepro")
from nbrepro.ipython.extension import active
rec = active(shell).recorder
rec.flush(60)
out = {}
for name, path in (("small", sys.argv[2]), ("big", sys.argv[1]), ("small2", sys.argv[2])):
    t0 = time.perf_counter()
    shell.run_cell(f"with open({path!r}, 'rb') as f: f.read(1)", store_history=True)
    t1 = time.perf_counter()
    rec.flush(600)
    out[name] = {"cell_s": t1 - t0, "record_after_s": time.perf_counter() - t1, "data": rec.last_record["data"]}
print(json.dumps(out))
"""


def baseline(path: Path) -> float:
    from blake3 import blake3

    t0 = time.perf_counter()
    blake3(max_threads=blake3.AUTO).update_mmap(str(path)).hexdigest()
    return time.perf_counter() - t0


def hash_file(path: Path) -> float:
    from nbrepro.capture.files import hash_file

    t0 = time.perf_counter()
    hash_file(str(path))
    return time.perf_counter() - t0


def b3sum(path: Path) -> float | None:
    exe = shutil.which("b3sum")
    if exe is None:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, str(path)], check=True, capture_output=True)
    return time.perf_counter() - t0


def others_share(run: Callable[[], T]) -> tuple[T, float, float | None]:
    """``run()``'s result, its wall time, and the share of all CPUs that processes other than
    this one and its children used meanwhile (None without /proc/stat)."""
    def busy() -> float | None:
        try:
            first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        ticks = [int(v) for v in first[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait

    def own() -> float:
        me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime

    b0, c0, t0 = busy(), own(), time.perf_counter()
    out = run()
    elapsed, b1 = time.perf_counter() - t0, busy()
    if b0 is None or b1 is None:
        return out, elapsed, None
    return out, elapsed, max(0.0, (b1 - b0) - (own() - c0)) / (elapsed * (os.cpu_count() or 1))


def cache_hits(folder: Path, n: int = 2000) -> dict[str, float]:
    from nbrepro.capture.files import FileHashes

    paths = []
    for i in range(n):
        p = folder / f"f{i}.csv"
        p.write_text(f"{i}\n" * 10)
        os.utime(p, (1_700_000_000, 1_700_000_000))
        paths.append(str(p))
    hashes = FileHashes()
    for path in paths:
        hashes.get(path)
    rounds_hit, rounds_stat = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        for path in paths:
            hashes.get(path)
        rounds_hit.append((time.perf_counter() - t0) / n)
        t0 = time.perf_counter()
        for path in paths:
            os.stat(path)
        rounds_stat.append((time.perf_counter() - t0) / n)
    return {"hit_us": statistics.median(rounds_hit) * 1e6, "stat_us": statistics.median(rounds_stat) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-others", type=float, default=1.0)
    parser.add_argument("--tries", type=int, default=30)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    size = args.size_mib * 2**20
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        big, small = root / "big.bin", root / "small.csv"
        chunk = os.urandom(2**20)
        with big.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(chunk)
        small.write_text("a,b\n1,2\n")
        baseline(big)  # warm the page cache
        base: list[float] = []
        alone: list[float] = []
        ours: list[float] = []
        b3: list[float] = []
        others: list[float] = []
        tries = 0
        while len(base) < args.rounds and tries < args.tries:
            tries += 1
            _, t_base, o_base = others_share(lambda: baseline(big))
            _, t_alone, o_alone = others_share(lambda: hash_file(big))
            store = root / f"store{tries}"
            out, _, o_child = others_share(functools.partial(
                subprocess.run, [sys.executable, "-c", CHILD, str(big), str(small)], cwd=root, capture_output=True,
                text=True, check=True, env={**os.environ, "NBREPRO_DIR": str(store)},
            ))
            shutil.rmtree(store, ignore_errors=True)
            shares = [o for o in (o_base, o_alone, o_child) if o is not None]
            if shares and max(shares) > args.max_others:
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
            assert any(e["size"] == size for e in result["big"]["data"]), result["big"]["data"]
            small_after = min(result["small"]["record_after_s"], result["small2"]["record_after_s"])
            base.append(t_base)
            alone.append(t_alone)
            ours.append(result["big"]["record_after_s"] - small_after)
            others.append(max(shares, default=0.0))
            t = b3sum(big)
            if t is not None:
                b3.append(t)
        if not base:
            sys.exit(f"no round of {tries} had other processes under {args.max_others:.0%} of the CPUs")
        (root / "many").mkdir()
        hits = cache_hits(root / "many")
    gib = size / 2**30
    summary = {
        "size_bytes": size,
        "rounds_kept": len(base),
        "rounds_tried": tries,
        "others_cpu_share_max": max(others),
        "baseline_s": statistics.median(base),
        "baseline_gib_s": gib / statistics.median(base),
        "b3sum_s": statistics.median(b3) if b3 else None,
        "hash_file_s": statistics.median(alone),
        "hash_file_ratio": statistics.median(base) / statistics.median(alone),
        "nbrepro_added_s": statistics.median(ours),
        "nbrepro_gib_s": gib / statistics.median(ours),
        "throughput_ratio": statistics.median(base) / statistics.median(ours),
        **hits,
    }
    if args.markdown:
        print(f"{len(base)} of {tries} rounds kept; other processes used at most {max(others):.0%} of the CPUs in them.\n")
        print("| budget | measured | baseline, same run | budget |\n|---|---|---|---|")
        print(f"| P3 first read of a {args.size_mib} MiB file | {summary['nbrepro_added_s'] * 1e3:.0f} ms added, "
              f"{summary['nbrepro_gib_s']:.2f} GiB/s ({summary['throughput_ratio']:.2f}× the baseline's throughput) | "
              f"python-blake3 mmap + threads {summary['baseline_s'] * 1e3:.0f} ms, {summary['baseline_gib_s']:.2f} GiB/s"
              + (f"; b3sum {summary['b3sum_s'] * 1e3:.0f} ms" if b3 else "; b3sum not installed") + " | ≥ 0.9× |")
        print(f"| P3 `hash_file` alone, same file | {summary['hash_file_s'] * 1e3:.0f} ms, {gib / summary['hash_file_s']:.2f} GiB/s "
              f"({summary['hash_file_ratio']:.2f}×) | the same baseline | ≥ 0.9× |")
        print(f"| P3 cache hit per unchanged file | {summary['hit_us']:.2f} µs | bare `os.stat` {summary['stat_us']:.2f} µs | ≤ 5 µs |")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
