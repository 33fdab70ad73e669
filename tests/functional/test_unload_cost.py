"""``%unload_ext nbrepro`` leaves the process as fast as it was before ``%load_ext`` (issue 13).

One fresh process with a real IPython shell times a deepcopy-heavy call before loading,
then loads nbrepro, runs a few cells (one opens and writes a file, one imports pandas so the
import-time wrappers go in), unloads, and times the same call again. Nothing nbrepro
installs may stay behind to tax ordinary code: an audit hook, which Python cannot remove,
would (``copy.deepcopy`` calls ``id()``, an audit event, for every object it copies).

Not a timed test that load can fail. Each deepcopy is timed next to a control, the same
copy written by hand and run four times (two thirds as long, the same kind of work, no audit
event), alternating which goes first, 31 pairs before loading and 31 after unloading. A
side's figure is its fastest deepcopy over its fastest control: the fastest run is the one
least disturbed by the rest of the machine, and the control cancels what changed in the
machine's speed between the two sides. Times are the main thread's CPU time
(``time.thread_time``) with the garbage collector off, so other processes' load counts for
little. Measured on the project's 2-core VM: with the audit hook nbrepro had before issue
13, 2.18-2.27x (deepcopy 29 ms before loading, 69 ms after unloading); without it 0.94-1.06,
also with both cores kept busy by other processes. Bound: 1.2. Any audit hook costs more:
an empty Python one makes ``copy.deepcopy`` about 2x slower.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional

BOUND = 1.2

CHILD = r"""
import gc, json, sys, threading, time
from IPython.core.interactiveshell import InteractiveShell

sys.path[0] = ""
shell = InteractiveShell.instance()

def run(src):
    result = shell.run_cell(src, store_history=True)
    assert result.success, (src, result.error_before_exec or result.error_in_exec)

run('''
import copy
data = [{"id": i, "name": "x", "tags": [i, "y"], "meta": {"k": "v"}} for i in range(10_000)]
def work():  # about 30 ms
    return copy.deepcopy(data)
def control():  # the same copy by hand, four times: two thirds as long, no audit event
    for _ in range(4):
        out = [{k: (list(v) if type(v) is list else dict(v) if type(v) is dict else v) for k, v in d.items()} for d in data]
    return out
''')
work, control = shell.user_ns["work"], shell.user_ns["control"]

def timings(pairs):
    out = []
    for i in range(pairs):
        gc.disable()
        try:
            times = {}
            for f in ((work, control) if i % 2 else (control, work)):  # alternate which goes first
                t0 = time.thread_time()
                f()
                times[f] = time.thread_time() - t0
        finally:
            gc.enable()
        out.append({"work": times[work], "control": times[control]})
    return out

for _ in range(3):
    work(), control()  # warm up
hooks = (sys.gettrace(), sys.getprofile())
threads = threading.active_count()
before = timings(31)
shell.run_line_magic("load_ext", "nbrepro")
run("x = 1")
run("open('scratch.txt', 'w').write('data')\nopen('scratch.txt').read()")
run("import pandas")
run("copied = work()")
shell.run_line_magic("unload_ext", "nbrepro")
after = timings(31)
print(json.dumps({
    "before": before, "after": after,
    "hooks_restored": (sys.gettrace(), sys.getprofile()) == hooks,
    "threads_before": threads, "threads_after": threading.active_count(),
}))
"""


def _speed(pairs: list[dict[str, float]]) -> float:
    """The deepcopy's time in units of the control's: each one's fastest run, the one least
    disturbed by anything else the machine was doing."""
    return min(p["work"] for p in pairs) / min(p["control"] for p in pairs)


def test_unload_leaves_ordinary_code_as_fast_as_before_load(repo: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    before, after = _speed(out["before"]), _speed(out["after"])
    slowdown = after / before
    ms = {k: min(p["work"] for p in out[k]) * 1e3 for k in ("before", "after")}
    detail = (f"deepcopy/control {before:.3f} before %load_ext, {after:.3f} after %unload_ext "
              f"(deepcopy {ms['before']:.1f} ms, then {ms['after']:.1f} ms)")
    assert out["hooks_restored"], "a trace or profile function is left after %unload_ext"
    assert out["threads_after"] == out["threads_before"], "a thread is left running after %unload_ext"
    assert slowdown < BOUND, f"ordinary code is {slowdown:.2f}x slower after %unload_ext nbrepro: {detail}"
