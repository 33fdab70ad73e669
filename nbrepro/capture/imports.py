"""Run a callback right after chosen modules are imported, and patch attributes reversibly.

Some libraries must be patched the moment they load (pyarrow and h5py open files in C, where
no audit hook sees them; numpy's seed functions must be watched before the first draw). A
``sys.meta_path`` finder wraps the loader of just those modules; every other import goes by
untouched. Modules already imported are handled at once.
"""

from __future__ import annotations

import functools
import importlib.abc
import sys
import threading
from collections.abc import Callable
from typing import Any

Callback = Callable[[Any], None]


class ImportWatcher(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {}
        self._busy = threading.local()

    def on_import(self, name: str, callback: Callback) -> None:
        """Call ``callback(module)`` once ``name`` is imported (now, if it already is)."""
        self._callbacks.setdefault(name, []).append(callback)
        module = sys.modules.get(name)
        if module is not None:
            _safe(callback, module)

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self._callbacks or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:  # ask the other finders, then wrap the loader they found
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.on = False
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _Loader(loader, self._callbacks[fullname])
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any, callbacks: list[Callback]) -> None:
        self._inner = inner
        self._callbacks = callbacks

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__spec__.loader = self._inner  # the module keeps its real loader
        module.__loader__ = self._inner
        self._inner.exec_module(module)
        for callback in self._callbacks:
            _safe(callback, module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


def _safe(callback: Callback, module: Any) -> None:
    try:
        callback(module)
    except Exception:  # noqa: BLE001 - a patch that does not fit must never break an import
        pass


class Patches:
    """Attribute replacements that can all be undone."""

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
        original = getattr(owner, name, None)
        if original is None or getattr(original, "__nbrepro_wrapped__", False):
            return
        wrapper = make(original)
        try:
            functools.update_wrapper(wrapper, original)
        except (AttributeError, TypeError):
            pass
        wrapper.__nbrepro_wrapped__ = True  # type: ignore[attr-defined]
        setattr(owner, name, wrapper)
        self._done.append((owner, name, original))

    def __bool__(self) -> bool:
        return bool(self._done)

    def undo(self) -> None:
        """Put every original back, except where someone has since replaced our wrapper
        (theirs wraps ours): our wrappers then stay, and must pass calls straight on."""
        while self._done:
            owner, name, original = self._done.pop()
            current = getattr(owner, name, None)
            if current is not None and not getattr(current, "__nbrepro_wrapped__", False):
                continue
            try:
                setattr(owner, name, original)
            except (AttributeError, TypeError):
                pass
