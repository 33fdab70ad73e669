"""Stamp on save: a Jupyter server extension that stamps provenance into every saved notebook.

Enable it with one setting, in ``jupyter_server_config.py``::

    c.ServerApp.jpserver_extensions = {"nbrepro.server": True}

Every save of a notebook through jupyter_server (JupyterLab, Notebook 7) then writes the
notebook's latest recorded session into ``metadata.nbrepro`` and each code cell's
``metadata.nbrepro``, exactly as ``nbrepro stamp`` does; sources and outputs are never
touched. A save is never broken: a failure is logged once as a warning and the notebook is
saved as it came. Cheap to import: the stamping code loads at the first save.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from typing import Any

_warned: set[str] = set()


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The extension points jupyter_server finds in this module (itself)."""
    return [{"module": "nbrepro.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the stamping pre-save hook with the server's contents manager."""
    serverapp.contents_manager.register_pre_save_hook(pre_save_hook)
    # The kernels this server starts inherit its environment: %nbrepro status reads this.
    os.environ["NBREPRO_STAMP_ON_SAVE"] = "1"
    serverapp.log.info("nbrepro: notebooks are stamped with their recorded provenance on save")


def pre_save_hook(model: MutableMapping[str, Any], path: str, contents_manager: Any, **kwargs: Any) -> None:
    """jupyter_server's pre-save hook: stamp ``model['content']`` if it is a notebook.

    ``path`` is the API path, relative to the contents manager's ``root_dir``. The model's
    content is replaced only by a fully stamped copy; any failure leaves it as it was.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:
        from .notebook.read import from_json
        from .notebook.stamp import apply_stamp

        os_path = os.path.join(os.path.expanduser(contents_manager.root_dir), path.strip("/"))
        nb = from_json(model["content"])  # a copy: the model is untouched until it is done
        if apply_stamp(nb, os_path):
            model["content"] = nb
    except Exception as exc:  # noqa: BLE001 - a save must never fail because of nbrepro
        _warn_once(getattr(contents_manager, "log", None), f"{type(exc).__name__}: {exc}".strip().splitlines()[0])


def _warn_once(log: logging.Logger | None, reason: str) -> None:
    """One warning per distinct reason and process, so a broken store does not flood the log."""
    if reason in _warned:
        return
    _warned.add(reason)
    (log or logging.getLogger("nbrepro.server")).warning(
        "nbrepro: could not stamp provenance on save (%s); notebooks are saved unstamped", reason
    )
