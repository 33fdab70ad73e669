"""The costs of "every session locked" (docs/performance.md), each against a baseline in the same run.

Files digests (worker thread): the installed-set scan as the worker runs it once per
installed-set change (and the part of it that reads each distribution's direct_url.json), and ``Installed.files_digest`` (a stat per installed file, a hash only of
files changed since the install) for a few distributions a notebook imports, and for every
distribution here (the worst case: a session that imported them all). Nothing of it runs on a
cell's path.

venv build (``verify --recorded-env``): the lock of numpy and pandas at the versions installed
here (and what pandas requires, as the wheel folder has it), offline from the local wheel folder; the cold build of its
cached venv (``verify.recorded_env.recorded_python``), the cached one found again, and a bare
``pip install --require-hashes --no-deps -r`` of the same lock into an empty folder, in
alternating rounds; the ratio of the medians.

Usage: python benchmarks/bench_recorded_env.py [--rounds 3] [--wheels .cache/wheelhouse]
Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.markers import default_environment

from nbrepro.capture import installed
from nbrepro.notebook.lock import session_lock
from nbrepro.verify.recorded_env import recorded_python

IMPORTED = ("numpy", "pandas", "pyarrow", "ipython")


def digests() -> dict[str, object]:
    t0 = time.perf_counter()
    scanned = installed.scan()
    scan_s = time.perf_counter() - t0
    out: dict[str, object] = {"scan_ms": round(scan_s * 1e3, 1), "distributions": len(scanned.versions)}
    for name in IMPORTED:
        dist = scanned.dists.get(name) or next((d for n, d in scanned.dists.items() if n.lower() == name), None)
        if dist is None:
            continue
        files = len((dist.read_text("RECORD") or "").splitlines())
        t0 = time.perf_counter()
        scanned.files_digest(dist.metadata["Name"])
        out[f"{name}_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
        out[f"{name}_files"] = files
    t0 = time.perf_counter()
    for dist in scanned.dists.values():  # what the scan now reads besides the versions
        installed._direct_url(dist)
    out["origins_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    fresh = installed.scan()
    t0 = time.perf_counter()
    for name in fresh.versions:
        fresh.files_digest(name)
    out["all_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    out["all_files"] = sum(len((d.read_text("RECORD") or "").splitlines()) for d in fresh.dists.values())
    return out


def venv_build(wheels: Path, rounds: int) -> dict[str, object]:
    markers = {k: str(v) for k, v in default_environment().items()
               if k in ("implementation_name", "platform_machine", "python_version", "sys_platform")}
    # numpy and pandas pinned as installed; what pandas requires as the wheel folder has it
    pins = {name: md.version(name) for name in ("numpy", "pandas")}
    env = {"markers": markers, "imported": sorted(pins), "pins": pins}
    t0 = time.perf_counter()
    lock = session_lock(env, title="the benchmark", find_links=wheels, no_index=True)
    lock_s = time.perf_counter() - t0
    cold, warm, bare = [], [], []
    with tempfile.TemporaryDirectory(prefix="nbrepro-bench-env-") as tmp:
        lockfile = Path(tmp) / "requirements.lock"
        lockfile.write_text(lock.text)
        for i in range(rounds):
            t0 = time.perf_counter()
            recorded_python(lock, Path(tmp) / f"envs{i}", find_links=wheels, no_index=True)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            recorded_python(lock, Path(tmp) / f"envs{i}", find_links=wheels, no_index=True)
            warm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "--no-index",
                            "--find-links", str(wheels), "--target", str(Path(tmp) / f"bare{i}"), "-r", str(lockfile)],
                           check=True)
            bare.append(time.perf_counter() - t0)
    median = statistics.median
    requirements = [line.split(" ")[0] for line in lock.text.splitlines() if line and not line[0].isspace() and line[0] != "#"]
    return {
        "requirements": requirements, "pip_compile_s": round(lock_s, 2),
        "cold_s": round(median(cold), 2), "cached_ms": round(median(warm) * 1e3, 1), "bare_pip_install_s": round(median(bare), 2),
        "cold_over_bare": round(median(cold) / median(bare), 2), "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wheels", type=Path, default=Path(__file__).resolve().parents[1] / ".cache" / "wheelhouse")
    args = parser.parse_args()
    print(json.dumps({"digests": digests(), "venv": venv_build(args.wheels, args.rounds)}, indent=2))


if __name__ == "__main__":
    main()
