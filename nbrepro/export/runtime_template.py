"""Runtime helpers for a pipeline exported from a Jupyter notebook by nbrepro.

An export copies this file verbatim into the package as ``_runtime.py``: it must keep
working with the standard library alone, so matplotlib is only ever used when the
pipeline itself has already imported ``matplotlib.pyplot``.

The pipeline keeps the notebook's state in module globals; this module holds what a
notebook kernel would otherwise provide: per-cell captured output, displayed objects and
results, figures saved instead of shown, shell commands, and the working folder.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TextIO


class _NotebookDefault:
    """Marks a parameter whose notebook default is an expression, computed by its cell."""

    def __repr__(self) -> str:
        return "<computed by the notebook>"


NOTEBOOK_DEFAULT: Any = _NotebookDefault()


class _State:
    """What a run shares with helpers called from anywhere, even from the notebook's
    functions: there is no kernel to ask which cell is running."""

    outdir: Path | None = None
    active: Results | None = None
    last: Results | None = None
    figure_counts: ClassVar[dict[int, int]] = {}


class _Tee(io.TextIOBase):
    """Writes to the real stream, so a run stays visible, and to the cell's capture."""

    def __init__(self, stream: TextIO, capture: io.StringIO) -> None:
        self._stream = stream
        self._capture = capture

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._stream.write(text)
        return self._capture.write(text)

    def flush(self) -> None:
        self._stream.flush()


class Results:
    """One run's outputs by cell: ``stdout``/``stderr`` text, ``errors`` (the exception
    type names of cells expected to fail), ``figures`` (saved PNG paths) and ``values``
    (last expressions as ``cell_<n>``, displayed objects as ``cell_<n>_display_<k>``)."""

    def __init__(self) -> None:
        self.stdout: dict[int, str] = {}
        self.stderr: dict[int, str] = {}
        self.errors: dict[int, str] = {}
        self.figures: dict[int, list[Path]] = {}
        self.values: dict[str, object] = {}
        self.current: int | None = None
        self._displays: dict[int, int] = {}
        self._shown: TextIO | None = None
        _State.last = self

    @contextlib.contextmanager
    def cell(self, index: int, expect_error: str | None = None) -> Iterator[None]:
        """Run one cell's code: capture its output and, like the notebook's inline
        backend, save the figures it leaves open.

        A cell recorded as failing on purpose names its exception type in
        ``expect_error``: that exception ends the cell, as it did in the notebook, and is
        recorded in ``errors``; any other exception propagates.
        """
        out, err = io.StringIO(), io.StringIO()
        previous = _State.active, self.current, self._shown
        _State.active, self.current, self._shown = self, index, sys.stdout
        try:
            with contextlib.redirect_stdout(_Tee(sys.stdout, out)), contextlib.redirect_stderr(
                _Tee(sys.stderr, err)
            ):
                try:
                    yield
                except BaseException as exc:
                    if expect_error is None or not _named(exc, expect_error):
                        raise
                    self.errors[index] = type(exc).__name__
            if "matplotlib.pyplot" in sys.modules:
                save_figures(index)
        finally:
            self.stdout[index] = self.stdout.get(index, "") + out.getvalue()
            self.stderr[index] = self.stderr.get(index, "") + err.getvalue()
            _State.active, self.current, self._shown = previous

    def value(self, index: int, obj: object) -> object:
        """Record a cell's last expression; ``None`` is not a result, as in a notebook."""
        if obj is not None:
            self.values[f"cell_{index}"] = obj
        return obj

    def display(self, index: int, *objs: object) -> None:
        """Record displayed objects, numbered per cell in the order they are shown, and
        print their repr to the real stdout: shown, but kept out of the cell's captured
        stream text, as the notebook keeps display output apart from printed text."""
        for obj in objs:
            self._displays[index] = count = self._displays.get(index, 0) + 1
            self.values[f"cell_{index}_display_{count}"] = obj
            print(repr(obj), file=self._shown or sys.stdout)


def last_results() -> Results | None:
    """The latest run's full record (per-cell output, errors, figures): ``run()``
    returns only its values."""
    return _State.last


def _named(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def display(*objs: object) -> None:
    """``display()`` from the notebook's own functions: recorded under the running cell."""
    results = _State.active
    if results is None or results.current is None:
        for obj in objs:
            print(repr(obj))
        return
    results.display(results.current, *objs)


def shell(cmd: str, *, echo: bool = True) -> list[str]:
    """Run a ``!`` shell command: its output lines as a list (IPython's ``SList`` as a
    plain list). A failing command does not raise, as in a notebook."""
    proc = subprocess.run(cmd, shell=True, text=True, capture_output=True, check=False)
    if echo:
        sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.stdout.splitlines()


def script(interpreter: str, text: str) -> None:
    """Run a ``%%bash``/``%%sh`` cell: its output shown, a failure not raised."""
    proc = subprocess.run([interpreter], input=text, text=True, capture_output=True, check=False)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)


def setenv(name: str, value: str) -> None:
    """``%env NAME=VALUE``: set it, and say so as IPython does."""
    os.environ[name] = value
    print(f"env: {name}={value}")


def writefile(path: str, text: str, *, append: bool = False) -> None:
    """``%%writefile [-a] PATH``: write the cell's text, and say so as IPython does."""
    target = Path(path).expanduser()
    print(f"{'Appending to' if append else 'Overwriting' if target.exists() else 'Writing'} {path}")
    with open(target, "a" if append else "w", encoding="utf-8") as fh:
        fh.write(text)


def save_figures(cell: int | None = None) -> list[Path]:
    """Save every open figure as a PNG under the output folder (when one is set) and
    close it: what ``plt.show()`` and the inline backend did in the notebook."""
    if cell is None and _State.active is not None:
        cell = _State.active.current
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    saved = []
    for number in pyplot.get_fignums():
        figure = pyplot.figure(number)
        if _State.outdir is not None:
            key = -1 if cell is None else cell
            _State.figure_counts[key] = count = _State.figure_counts.get(key, 0) + 1
            _State.outdir.mkdir(parents=True, exist_ok=True)
            path = _State.outdir / f"cell_{cell}_figure_{count}.png"
            figure.savefig(path)
            saved.append(path)
        pyplot.close(figure)
    if saved and _State.active is not None and cell is not None:
        _State.active.figures.setdefault(cell, []).extend(saved)
    return saved


def set_outdir(path: str | os.PathLike[str] | None) -> None:
    """Where figures go; resolved now, before ``workdir`` changes the current folder.
    ``None`` closes figures without saving them."""
    _State.outdir = None if path is None else Path(path).resolve()
    _State.figure_counts = {}


@contextlib.contextmanager
def workdir(path: str | os.PathLike[str] | None, default: str | None = None) -> Iterator[None]:
    """Run in ``path``, else in ``default`` (relative to this package's folder, as the
    notebook's relative file paths assume its own folder), else where we are."""
    target = Path(path) if path is not None else _package_relative(default)
    if target is None:
        yield
        return
    previous = os.getcwd()
    os.chdir(target)
    try:
        yield
    finally:
        os.chdir(previous)


def _package_relative(path: str | None) -> Path | None:
    return None if path is None else Path(__file__).resolve().parent / path


def check_type(name: str, value: object, *types: type) -> None:
    """A light check of a parameter's type, so a wrong call fails at once and not deep
    inside a cell."""
    if value is NOTEBOOK_DEFAULT or isinstance(value, types):
        return
    expected = " or ".join(t.__name__ for t in types)
    raise TypeError(f"run(): {name} must be {expected}, not {type(value).__name__}")


def set_parameters(namespace: dict[str, Any], **values: object) -> None:
    """Set parameters as the pipeline's globals. Containers are copied: the notebook
    made a fresh literal on every run, and a default must not carry one run's changes
    into the next."""
    for name, value in values.items():
        namespace[name] = copy.deepcopy(value) if isinstance(value, (list, dict, set)) else value
