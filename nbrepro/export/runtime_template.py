"""Runtime helpers for a pipeline exported from a Jupyter notebook by nbrepro.

An export copies this file verbatim into the package as ``_runtime.py``: it must keep
working with the standard library alone, so matplotlib is only ever used when the
pipeline itself has already imported ``matplotlib.pyplot``, and pandas only when it is
imported. Values are rendered as text by IPython's own pretty printer, which the package
carries as ``_pretty.py`` (standard library only), as the notebook's display formatter did.

The pipeline's steps are plain functions passing the notebook's names explicitly; this
module holds what a notebook kernel would otherwise provide: per-cell captured output,
displayed objects and results, figures saved instead of shown, shell commands, and the
working folder (``Notebook``, at the end, runs the steps cell by cell).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TextIO

# What IPython's display formatter (PlainTextFormatter) passes its pretty printer in a kernel.
_PRETTY_WIDTH = 79
_PRETTY_MAX_SEQ_LENGTH = 1000
# pandas' display options a Jupyter kernel has and a plain process lacks: pandas picks
# max_columns 20 when get_ipython() has a kernel, 0 (fit the terminal) anywhere else, which
# truncates a wide frame to the terminal's width and height (pandas/core/config_init.py).
# display.width (80) and numpy's print options do not depend on the terminal.
_KERNEL_PANDAS_OPTIONS = {"display.max_columns": (0, 20)}  # option: (a plain process's, a kernel's)


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
    cell_start: Callable[[int], object] | None = None
    pinned = False


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
    type names of cells expected to fail), ``figures`` (saved PNG paths), ``values``
    (last expressions as ``cell_<n>``, displayed objects as ``cell_<n>_display_<k>``) and
    ``texts``, the same keys rendered as the notebook showed them, at the moment it did:
    a value a later cell changes in place keeps the text its own cell showed."""

    def __init__(self) -> None:
        self.stdout: dict[int, str] = {}
        self.stderr: dict[int, str] = {}
        self.errors: dict[int, str] = {}
        self.figures: dict[int, list[Path]] = {}
        self.values: dict[str, object] = {}
        self.texts: dict[str, str] = {}
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
        cell_started(index)
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
        """Record a cell's last expression, and its text now, as the notebook showed it
        when the cell ended; ``None`` is not a result, as in a notebook."""
        if obj is not None:
            self.values[f"cell_{index}"] = obj
            self.texts[f"cell_{index}"] = render(obj)
        return obj

    def display(self, index: int, *objs: object) -> None:
        """Record displayed objects, numbered per cell in the order they are shown, and
        print their text (rendered now, as ``display()`` did) to the real stdout: shown,
        but kept out of the cell's captured stream text, as the notebook keeps display
        output apart from printed text."""
        for obj in objs:
            self._displays[index] = count = self._displays.get(index, 0) + 1
            key = f"cell_{index}_display_{count}"
            self.values[key] = obj
            self.texts[key] = text = render(obj)
            print(text, file=self._shown or sys.stdout)


def last_results() -> Results | None:
    """The latest run's full record (per-cell output, errors, figures): ``run()``
    returns only its values."""
    return _State.last


# --- what a kernel did for each cell, which the generated tests rely on -------------------
# As each cell starts (before its code): ``cell_started(index)``. Where a cell shows a value
# (its last expression when it ends, each display() call): ``render(obj)`` then, into
# ``Results.texts``. The tests read ``Results.texts``, ``stdout``, ``errors`` and ``figures``
# from ``last_results()``.


def set_cell_start(hook: Callable[[int], object] | None) -> None:
    """Call ``hook(index)`` as each cell starts, before its code: the generated tests set
    the random generators to the states the recorded cell started with."""
    _State.cell_start = hook


def cell_started(index: int) -> None:
    """A cell is about to run: the kernel's display options, then the start hook."""
    pin_display_options()
    if _State.cell_start is not None:
        _State.cell_start(index)


def render(obj: object) -> str:
    """``obj`` as text, as a notebook shows it: the ``text/plain`` of its
    ``_repr_mimebundle_`` if it gives one, else IPython's pretty printer with the display
    formatter's settings (``bool``, not ``<class 'bool'>``; ``<range_iterator at 0x…>``;
    sets sorted; long values wrapped at 79 columns). ``repr`` where neither is there."""
    bundle = None if inspect.isclass(obj) else getattr(obj, "_repr_mimebundle_", None)
    if callable(bundle):
        try:
            data = bundle(include=None, exclude=None)
        except Exception:  # noqa: BLE001 - as IPython, fall back to the formatters
            data = None
        data = data[0] if isinstance(data, tuple) else data
        plain = data.get("text/plain") if isinstance(data, dict) else None
        if isinstance(plain, str):
            return plain
    pretty = _pretty_module()
    if pretty is None:
        return repr(obj)
    text: str = pretty.pretty(obj, max_width=_PRETTY_WIDTH, max_seq_length=_PRETTY_MAX_SEQ_LENGTH)
    return text


def _pretty_module() -> Any:
    """The package's copy of ``IPython.lib.pretty``, else IPython's own, else None."""
    for name in (f"{__package__}._pretty" if __package__ else "_pretty", "IPython.lib.pretty"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def pin_display_options() -> None:
    """Once pandas is imported, give it the display options it has in a notebook's kernel
    (see ``_KERNEL_PANDAS_OPTIONS``), unless the code already chose other values."""
    pandas = sys.modules.get("pandas")
    if pandas is None or _State.pinned:
        return
    _State.pinned = True
    for option, (plain, kernel) in _KERNEL_PANDAS_OPTIONS.items():
        if pandas.get_option(option) == plain:
            pandas.set_option(option, kernel)


def _named(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def display(*objs: object) -> None:
    """``display()`` from the notebook's own functions: recorded under the running cell."""
    results = _State.active
    if results is None or results.current is None:
        for obj in objs:
            print(render(obj))
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


# --- the steps, watched cell by cell --------------------------------------------------------
# pipeline.py's steps are plain functions: each cell's code follows a ``# cell N`` comment.
# ``Notebook`` (the context ``run()`` runs the steps in) sees them cross from one cell into
# the next, runs each cell in ``Results.cell``, and evaluates what the cell showed (SHOWN,
# DISPLAYED) where it ended. A few calls mark, in a step, what the watching cannot see:
# ``expected_error``, ``result``, ``undefined``.

_CELL_MARK = re.compile(r"^    # cell (\d+)(?::.*)?$")


class Notebook:
    """Run the pipeline's steps as the notebook ran its cells.

    ``shown`` and ``displayed`` map a cell to a function of the names it showed, returning
    its last expression or the list of objects it displayed; ``parameters`` are ``run()``'s
    values. The steps run in ``workdir`` (default: ``default``, relative to this package's
    folder); given ``outdir``, in ``outdir`` instead, with ``inputs`` (paths relative to
    ``workdir``) linked there, so that whatever the code writes lands under ``outdir``.

    A trace function (``sys.settrace``, acting on the step functions' frames only, and
    handing every event on to a tracer already set, such as coverage's) notes the cell each
    line belongs to. A cell ends when the next begins or the run ends; one with no code left
    in a step (it only showed something) runs in notebook order, on the names the steps had
    bound by then.
    """

    def __init__(
        self, shown: dict[int, Callable[..., object]], displayed: dict[int, Callable[..., list[object]]],
        parameters: dict[str, object], *, workdir: str | os.PathLike[str] | None = None, default: str | None = None,
        outdir: str | os.PathLike[str] | None = None, inputs: tuple[str, ...] = (),
    ) -> None:
        self.shown, self.displayed = shown, displayed
        self.names: dict[str, object] = dict(parameters)
        self.results = Results()
        self._module = sys.modules[sys._getframe(1).f_globals["__name__"]]
        self._where = (workdir, default, outdir, inputs)
        self._lines: dict[Any, dict[int, int]] = {}
        self._order: list[int] = []
        self._done: set[int] = set()
        self._running: tuple[int, contextlib.AbstractContextManager[None]] | None = None
        self._previous: Any = None
        self._stack = contextlib.ExitStack()

    @property
    def values(self) -> dict[str, object]:
        return self.results.values

    def __enter__(self) -> Self:
        path, default, outdir, inputs = self._where
        set_outdir(outdir)
        if outdir is None:
            self._stack.enter_context(workdir(path, default=default))
        else:
            self._stack.enter_context(_overlay(path, default, Path(outdir), inputs))
        self._lines = _cell_lines(self._module)
        marked = {cell for lines in self._lines.values() for cell in lines.values()}
        self._order = sorted(marked | set(self.shown) | set(self.displayed))
        self._previous = sys.gettrace()
        sys.settrace(self._trace)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        sys.settrace(self._previous)
        try:
            if kind is None:
                self._through(None)
            elif self._running is not None:
                self._running[1].__exit__(kind, error, tb)
        finally:
            self._stack.close()

    # -- tracing --------------------------------------------------------------------------
    def _trace(self, frame: Any, event: str, arg: Any) -> Any:
        other = self._previous(frame, event, arg) if self._previous is not None else None
        lines = self._lines.get(frame.f_code)
        if lines is None:
            return other

        def local(frame: Any, event: str, arg: Any) -> Any:  # the frame's events after "call"
            nonlocal other
            if other is not None:
                other = other(frame, event, arg)
            if event == "line":
                cell = lines.get(frame.f_lineno)
                if cell is not None and (self._running is None or self._running[0] != cell):
                    self.names.update(frame.f_locals)
                    self._through(cell)
                    self._begin(cell)
            elif event == "return":
                self.names.update(frame.f_locals)
            return local

        return local

    # -- cells ----------------------------------------------------------------------------
    def _through(self, cell: int | None) -> None:
        """End the running cell, then run every cell before ``cell`` (all, for None) not run yet."""
        self._end()
        for index in self._order:
            if (cell is None or index < cell) and index not in self._done:
                self._begin(index)
                self._end()

    def _begin(self, index: int) -> None:
        manager = self.results.cell(index)
        manager.__enter__()
        self._running = (index, manager)
        self._done.add(index)

    def _end(self) -> None:
        if self._running is None:
            return
        index, manager = self._running
        self._running = None
        try:
            if index not in self.results.errors:  # a failed cell stopped before it showed anything
                self._show(index)
        finally:
            manager.__exit__(None, None, None)

    def _show(self, index: int) -> None:
        try:
            if index in self.displayed:
                self.results.display(index, *self._call(self.displayed[index]))
            if index in self.shown:
                self.results.value(index, self._call(self.shown[index]))
        except BaseException as exc:  # recorded for the cell, as the notebook showed it
            if not isinstance(exc, Exception):
                raise
            self.results.errors[index] = type(exc).__name__
            print(f"cell {index}: {type(exc).__name__}: {exc}", file=sys.stderr)

    def _call(self, function: Callable[..., Any]) -> Any:
        code = function.__code__
        names = code.co_varnames[: code.co_argcount]
        for name in names:
            if name not in self.names:
                raise NameError(f"name {name!r} is not defined")
        return function(*(self.names[n] for n in names))


def _cell_lines(module: Any) -> dict[Any, dict[int, int]]:
    """For each step function of ``module``: its line numbers, each mapped to its cell."""
    found: dict[Any, dict[int, int]] = {}
    for function in vars(module).values():
        if not (inspect.isfunction(function) and function.__module__ == module.__name__):
            continue
        try:
            lines, start = inspect.getsourcelines(function)
        except (OSError, TypeError):
            continue
        cell = None
        mapping: dict[int, int] = {}
        for offset, line in enumerate(lines):
            mark = _CELL_MARK.match(line.rstrip("\n"))
            if mark:
                cell = int(mark.group(1))
            elif cell is not None:
                mapping[start + offset] = cell
        if mapping:
            found[function.__code__] = mapping
    return found


@contextlib.contextmanager
def _overlay(path: str | os.PathLike[str] | None, default: str | None, outdir: Path,
             inputs: tuple[str, ...]) -> Iterator[None]:
    """Work in ``outdir``, the notebook's folder mirrored there (with as many parent folders
    as its inputs climb), each input linked to the real one, copied where links fail."""
    source = (Path(path) if path is not None else _package_relative(default) or Path.cwd()).resolve()
    up = max((Path(p).parts.count("..") for p in inputs), default=0)
    top = source.parents[up - 1] if up else source
    here = outdir.resolve() / source.relative_to(top)
    here.mkdir(parents=True, exist_ok=True)
    for rel in inputs:
        real = Path(os.path.normpath(source / rel))
        link = Path(os.path.normpath(here / rel))
        if not real.exists() or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(real, target_is_directory=real.is_dir())
        except OSError:
            (shutil.copytree if real.is_dir() else shutil.copy2)(real, link)
    previous = os.getcwd()
    os.chdir(here)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def expected_error(name: str) -> Iterator[None]:
    """A cell that raised ``name`` in the notebook: the error ends the cell, is recorded
    for it, and the run goes on, as the notebook's did; any other error propagates."""
    try:
        yield
    except BaseException as exc:
        results = _State.active
        if not _named(exc, name) or results is None or results.current is None:
            raise
        results.errors[results.current] = type(exc).__name__
        print(f"cell {results.current}: {type(exc).__name__}: {exc}", file=sys.stderr)


def result(value: object) -> object:
    """A cell's last expression that also changes state (``model.fit(X, y)``): it runs in
    its step, and its value is recorded as the cell's result."""
    results = _State.active
    if results is not None and results.current is not None:
        results.value(results.current, value)
    return value


def undefined(name: str) -> Any:
    """A name the notebook read that nothing had bound: the NameError it raised there."""
    raise NameError(f"name {name!r} is not defined")


def fresh(value: object) -> object:
    """A container parameter's own copy: the notebook made a fresh literal on every run,
    and a default must not carry one run's changes into the next."""
    return copy.deepcopy(value) if isinstance(value, (list, dict, set)) else value
