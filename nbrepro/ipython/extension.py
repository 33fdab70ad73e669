"""IPython glue: registers the recorder's callbacks and magics, and removes them all again."""

from __future__ import annotations

import atexit
import sys
from typing import Any

from ..capture import describe
from ..capture.outputs import OutputTap
from ..project import find_root, store_dir
from ..recorder import Recorder
from .magics import NbreproMagics

# One extension per shell. Kept here rather than in the package's __init__, which
# %reload_ext re-executes.
_ACTIVE: dict[int, Extension] = {}


class Extension:
    def __init__(self, shell: Any) -> None:
        root = find_root()
        self.shell = shell
        self.recorder = Recorder(root, store_dir(root), namespace=shell.user_ns)
        self.magics = NbreproMagics(shell, self.recorder)
        self.tap = OutputTap(shell)

    def register(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        self.shell.register_magics(self.magics)
        atexit.register(self.recorder.close)
        try:
            self.recorder.install_hooks()
        except Exception as exc:  # noqa: BLE001 - data and seed capture are then off, cells run on
            self.recorder.guard.warn("hooks", describe(exc))
        self.recorder.start()
        # The cell running %load_ext gets its post_run_cell but never saw pre_run_cell. Loaded
        # at startup (a profile's extensions, --ext) no cell runs: nothing is begun, and the
        # first cell's pre_run_cell begins it. Begun outside a cell, the output tap's stream
        # wrappers would sit under IPython's per-cell tee of sys.stdout.write and stay there.
        if _in_cell(self.shell):
            self.pre_run_cell(None)

    def unregister(self) -> None:
        for event, callback in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            try:
                self.shell.events.unregister(event, callback)
            except ValueError:
                pass
        manager = self.shell.magics_manager
        manager.magics["line"].pop("nbrepro", None)
        manager.registry.pop(type(self.magics).__name__, None)
        atexit.unregister(self.recorder.close)
        self.tap.uninstall()
        self.recorder.uninstall_hooks()
        self.recorder.close()
        self._show_warnings()

    def pre_run_cell(self, info: Any) -> None:
        try:
            if not self.recorder.paused:
                self.tap.begin()
            self.recorder.pre_cell()
        except Exception as exc:  # noqa: BLE001 - never break the user's cell
            self.recorder.guard.warn("recorder", describe(exc))

    def post_run_cell(self, result: Any) -> None:
        notices: list[str] = []
        try:
            info = result.info
            notices = self.recorder.post_cell(
                info.raw_cell,
                getattr(info, "cell_id", None),
                result.execution_count,
                result.error_in_exec or result.error_before_exec,
                self.tap.end(),
                self.tap.streams,
            )
        except Exception as exc:  # noqa: BLE001 - never break the user's cell
            self.recorder.guard.warn("recorder", describe(exc))
        for name in notices:
            print(_unseeded_notice(name), file=sys.stderr)
        if self.recorder.guard.has_warnings():
            self._show_warnings()

    def _show_warnings(self) -> None:
        for line in self.recorder.guard.take_warnings():
            print(line, file=sys.stderr)


def _in_cell(shell: Any) -> bool:
    """Whether a cell's code is running: IPython gives the display hook the cell's result
    for exactly that long (``run_cell_async``)."""
    return getattr(getattr(shell, "displayhook", None), "exec_result", None) is not None


def _unseeded_notice(name: str) -> str:
    if name == "numpy.random.default_rng":
        return "nbrepro: note: numpy.random.default_rng() without a seed; pass one to make this cell reproducible"
    return f"nbrepro: note: this cell drew from {name}'s global RNG, never seeded in this session; %nbrepro seed N fixes that"


def load(shell: Any) -> Extension:
    previous = _ACTIVE.pop(id(shell), None)
    if previous is not None:  # loaded twice without an unload: keep exactly one
        previous.unregister()
    ext = Extension(shell)
    ext.register()
    _ACTIVE[id(shell)] = ext
    return ext


def unload(shell: Any) -> None:
    ext = _ACTIVE.pop(id(shell), None)
    if ext is not None:
        ext.unregister()


def active(shell: Any) -> Extension | None:
    return _ACTIVE.get(id(shell))


def current() -> Extension:
    """The extension of the running IPython shell, for the ``nbrepro.track``-style API."""
    from IPython import get_ipython

    ext = active(get_ipython()) if get_ipython() is not None else None
    if ext is None:
        raise RuntimeError("nbrepro is not loaded in this shell: run %load_ext nbrepro first")
    return ext
