"""``nbrepro demo``: record the example notebooks in a scratch git repository, then show the log."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import click

from .._errors import UsageError
from ._common import console

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "nbrepro demo",
    "GIT_AUTHOR_EMAIL": "demo@nbrepro.invalid",
    "GIT_COMMITTER_NAME": "nbrepro demo",
    "GIT_COMMITTER_EMAIL": "demo@nbrepro.invalid",
}


def examples_dir() -> Path:
    """The bundled examples: inside the wheel, or ``notebooks/`` of a source checkout."""
    packaged = Path(str(resources.files("nbrepro"))) / "examples"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "notebooks"
    if checkout.is_dir():
        return checkout
    raise UsageError("the example notebooks are not installed with this copy of nbrepro")


@click.command()
@click.option("--dir", "target", type=click.Path(file_okay=False), help="Work here instead of a new temporary folder (must not exist).")
@click.option("--timeout", default=600, show_default=True, help="Seconds allowed per cell.")
def demo(target: str | None, timeout: int) -> None:
    """Record the bundled example notebooks in a scratch git repository and show their runs."""
    from ..notebook import kernel  # nbclient and friends load only for commands that run notebooks
    from ..notebook.read import read_file, write_file

    source = examples_dir()
    if target is not None and Path(target).exists():
        raise UsageError(f"{target} already exists; give a new folder")
    work = Path(target) if target else Path(tempfile.mkdtemp(prefix="nbrepro-demo-"))
    shutil.copytree(source, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".nbrepro", ".ipynb_checkpoints"))
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "example notebooks")
    out = console()
    notebooks = sorted(work.glob("*.ipynb"))
    out.print(f"recording {len(notebooks)} notebook(s) in {work}")
    env = {"NBREPRO_DIR": str(work / ".nbrepro")}
    for path in notebooks:
        nb = read_file(path)
        with out.status(f"running {path.name} in a fresh kernel"):
            kernel.execute(nb, work, env={**env, "JPY_SESSION_NAME": str(path)}, timeout=timeout)
        write_file(nb, path)
        out.print(f"  recorded {path.name}")
    out.print()
    from ..verify.report import terminal
    from ..verify.runner import verify
    from .log import log as log_command

    os.chdir(work)
    click.get_current_context().invoke(log_command, notebook=None, as_json=False, check=False)
    for path in notebooks:
        out.print(f"\n[bold]nbrepro verify {path.name}[/]: a fresh kernel reruns it and compares every cell")
        with out.status(f"verifying {path.name}"):
            report, _ = verify(path, timeout=timeout)
        terminal(report, out)
    quick = work / "quickstart.ipynb"
    if quick.is_file():
        from ..export.package import export, run_tests

        package = work / "export" / "quickstart"
        out.print(f"\n[bold]nbrepro export quickstart.ipynb -o {package.relative_to(work)} --no-lock[/]: a package with a CLI and tests")
        done = export(quick, package, make_lock=False)
        for rel in done.files:
            out.print(f"  made {rel}")
        passed, _ = run_tests(done.folder, isolated=False)
        out.print(f"  generated tests {'passed' if passed else 'FAILED'}")
    changed = _edit_some_data(work)
    if changed is not None:
        path, data = changed
        out.print(f"\n[bold]after editing {data}[/], verify names the cause in every cell that used it")
        with out.status(f"verifying {path.name}"):
            report, _ = verify(path, timeout=timeout)
        terminal(report, out)
    out.print(f"\nthe demo project is {work}: cd there and try `nbrepro log --check`, `nbrepro show RUN` "
              "or `nbrepro verify NOTEBOOK --html report.html`")


def _edit_some_data(work: Path) -> tuple[Path, str] | None:
    """Append a row to the data file the quickstart reads, as a colleague might."""
    path, data = work / "quickstart.ipynb", work / "data" / "measurements.csv"
    if not (path.is_file() and data.is_file()):
        return None
    lines = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([*lines, lines[-1]]) + "\n", encoding="utf-8")
    return path, "data/measurements.csv"


def _git(cwd: Path, *args: str) -> None:
    if shutil.which("git") is None:
        raise UsageError("the demo needs git on PATH")
    subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **_GIT_IDENTITY}, check=True)
