"""Every run that starts a kernel is bounded, whatever the kernel does, and a signal stops it
cleanly: the real CLI in a subprocess, real kernels that block, spin, die or never start.

A time bound here is the command's documented one (docs/verify.md: the start timeout, the
per-cell timeouts, then the shutdown grace), with a margin for a loaded machine: what it
guards is that the command returns at all, where it used to hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from conftest import assert_report_valid, notebook_project

from nbrepro.notebook import kernel

pytestmark = pytest.mark.integration

MARGIN = 15.0  # seconds on top of a documented bound: kernel start-up and imports on a busy machine
START = 30  # --start-timeout given to the runs below
GUARD = 300  # the test itself never waits longer than this for anything

BLOCKS = "open('started', 'w').close()\nimport time\ntime.sleep(10**6)"  # C code: time.sleep
SPINS = (  # a kernel that ignores SIGINT and SIGTERM and never returns to its event loop
    "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open('started', 'w').close()\nwhile True:\n    pass"
)
DIES = "open('started', 'w').close()\nimport os\nos.kill(os.getpid(), 9)"
HEAD = ["%load_ext nbrepro", "n = 2", "print(n * 21)"]
TAIL = ["print('after')", "print(n)"]


def make_project(root: Path, middle: str) -> Path:
    return notebook_project(root, [*HEAD, middle, *TAIL], "analysis.ipynb", {"data/keep.txt": "x\n"})


def never_starting_kernel(tmp_path: Path) -> dict[str, str]:
    """JUPYTER_PATH with a kernel ``neverstart``: a process that never answers and ignores SIGTERM."""
    spec = tmp_path / "jupyter" / "kernels" / "neverstart"
    spec.mkdir(parents=True)
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "open('started', 'w').close(); time.sleep(10**6)")
    argv = ["python", "-c", code, "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "never", "language": "python"}))
    return {"JUPYTER_PATH": str(tmp_path / "jupyter")}


def own_folders(tmp_path: Path) -> dict[str, str]:
    """A TMPDIR and a Jupyter runtime folder of the test's own, to see what a run leaves there."""
    env = {"TMPDIR": str(tmp_path / "tmp"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    for folder in env.values():
        Path(folder).mkdir()
    return env


def left_behind(env: dict[str, str]) -> list[Path]:
    return [p for folder in env.values() for p in Path(folder).iterdir()]


class Run:
    """``python -m nbrepro ARGS`` watched: the kernel processes it started, and what it left."""

    def __init__(self, tmp_path: Path, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.folders = own_folders(tmp_path)
        self.marker = cwd / "started"
        self.began = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nbrepro", *args], cwd=cwd, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **self.folders, **(env or {})},
        )
        self.kernels: list[int] = []

    def wait_for_the_kernel(self) -> None:
        """Until the kernel (or what stands for one) has started its blocking part; then note
        every process under the command."""
        deadline = time.monotonic() + GUARD
        while not self.marker.exists():
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "the kernel never reached its blocking cell"
            time.sleep(0.1)
        self.kernels = [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        assert self.kernels

    def finish(self) -> tuple[int, str, str, float]:
        """Exit code, stdout, stderr and seconds since the start."""
        out, err = self.proc.communicate(timeout=GUARD)
        return self.proc.returncode, out, err, time.monotonic() - self.began

    def assert_nothing_left(self) -> None:
        alive = [pid for pid in self.kernels if _running(pid)]
        assert not alive, f"kernel processes left: {alive}"
        # The rerun's store, the kernel's sockets, its connection file.
        assert left_behind(self.folders) == []


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def verify_run(tmp_path: Path, path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return Run(tmp_path, ["verify", str(path), "--json", "--start-timeout", str(START), *args], path.parent, env)


def report_of(out: str) -> dict[str, Any]:
    return assert_report_valid(json.loads(out))


def statuses(report: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(c["index"], c["status"], c.get("reason")) for c in report["cells"]]


def bound(timeout: int) -> float:
    """verify's documented bound: the start timeout, each code cell's timeout, the shutdown grace."""
    return START + timeout * (len(HEAD) + 1 + len(TAIL)) + kernel.SHUTDOWN_GRACE + MARGIN


def test_a_cell_over_its_timeout_fails_and_the_rest_is_not_run(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p", BLOCKS)
    recorded = nbformat.read(path, as_version=4)
    recorded.cells = [nbformat.v4.new_code_cell(c) for c in [*HEAD, "pass", *TAIL]]
    kernel.execute(recorded, path.parent)  # recorded without the wait
    run = verify_run(tmp_path, path, "--timeout", "1")
    run.wait_for_the_kernel()
    code, out, err, elapsed = run.finish()
    assert code == 1, err
    report = report_of(out)
    assert report["verdict"] == "failed" and report["failure"] == "cell 3: timeout after 1 s"
    assert statuses(report) == [
        (0, "reproduced", None), (1, "reproduced", None), (2, "reproduced", None),
        (3, "failed", "timeout after 1 s"),
        (4, "not-run", "the rerun stopped at cell 3"), (5, "not-run", "the rerun stopped at cell 3"),
    ]
    assert elapsed < bound(1)
    run.assert_nothing_left()
    assert err == ""


def test_a_kernel_that_ignores_signals_and_spins_is_killed_after_its_timeout(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p", SPINS)
    run = verify_run(tmp_path, path, "--timeout", "2")
    run.wait_for_the_kernel()
    code, out, err, elapsed = run.finish()
    assert code == 1, err
    assert statuses(report_of(out))[3:] == [
        (3, "failed", "timeout after 2 s"),
        (4, "not-run", "the rerun stopped at cell 3"), (5, "not-run", "the rerun stopped at cell 3"),
    ]
    assert elapsed < bound(2)
    run.assert_nothing_left()


def test_a_kernel_that_dies_mid_cell_fails_that_cell(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p", DIES)
    run = verify_run(tmp_path, path, "--timeout", "30")
    run.wait_for_the_kernel()
    code, out, err, elapsed = run.finish()
    assert code == 1, err
    report = report_of(out)
    assert report["failure"] == "cell 3: the kernel died"
    assert [s for _, s, _ in statuses(report)] == ["new", "new", "new", "failed", "not-run", "not-run"]
    assert elapsed < bound(30)
    run.assert_nothing_left()


def test_a_kernel_that_never_starts_is_given_up_after_the_start_timeout(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p", "pass")
    run = Run(tmp_path, ["verify", str(path), "--json", "--kernel", "neverstart", "--start-timeout", "3"], path.parent,
              never_starting_kernel(tmp_path))
    run.wait_for_the_kernel()
    code, out, err, elapsed = run.finish()
    assert code == 1, err
    report = report_of(out)
    assert report["failure"] == "the kernel did not start within 3 s"
    assert {(s, r) for _, s, r in statuses(report)} == {("not-run", "the kernel did not start within 3 s")}
    assert elapsed < 3 + kernel.SHUTDOWN_GRACE + MARGIN
    run.assert_nothing_left()
    assert err == ""  # nbclient's exit-time cleanup of a kernel that never started no longer fails


@pytest.mark.parametrize(("signum", "situation"), [
    (signal.SIGTERM, "a cell blocks in C code"),
    (signal.SIGINT, "the kernel ignores signals and spins"),
    (signal.SIGTERM, "the kernel never starts"),
])
def test_a_signal_stops_verify_cleanly(tmp_path: Path, signum: int, situation: str) -> None:
    env = None
    if situation == "the kernel never starts":
        path, args, env = make_project(tmp_path / "p", "pass"), ["--kernel", "neverstart"], never_starting_kernel(tmp_path)
    else:
        path, args = make_project(tmp_path / "p", BLOCKS if "C code" in situation else SPINS), []
    run = verify_run(tmp_path, path, *args, env=env)
    run.wait_for_the_kernel()
    sent = time.monotonic()
    run.proc.send_signal(signum)
    code, out, err, _ = run.finish()
    # Documented: a signal kills the kernel at once; the shutdown grace bounds it.
    assert time.monotonic() - sent < kernel.SHUTDOWN_GRACE + MARGIN
    assert code == 128 + signum
    assert out == ""
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    assert err.splitlines() == [f"nbrepro: error: {word}"]
    run.assert_nothing_left()


def test_the_pytest_plugin_fails_the_cell_over_its_timeout_and_returns(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p", BLOCKS)
    folders = own_folders(tmp_path)
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbrepro", "--nbrepro-timeout", "1", "-p", "no:cacheprovider", "-q", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=GUARD, env={**os.environ, **folders},
    )
    # The plugin gives the kernel nbclient's 60 s to start.
    assert time.monotonic() - began < 60 + 1 * (len(HEAD) + 1 + len(TAIL)) + kernel.SHUTDOWN_GRACE + MARGIN
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "analysis.ipynb::cell[3]" in proc.stdout and "timeout after 1 s" in proc.stdout
    assert "the rerun stopped at cell 3" in proc.stdout
    assert left_behind(folders) == []
