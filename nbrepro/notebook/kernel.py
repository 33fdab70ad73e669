"""Running a notebook in a fresh ipykernel through nbclient, on this very Python.

Imported only by commands that execute notebooks, never by the extension.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient


class ThisPythonKernelSpecs(KernelSpecManager):
    """Kernel specs whose bare ``python`` resolves to the interpreter running nbrepro.

    ipykernel's stock spec says ``python``, found on PATH: run from an unactivated venv,
    that would be some other Python without nbrepro installed.
    """

    def get_kernel_spec(self, kernel_name: str) -> Any:
        spec = super().get_kernel_spec(kernel_name)
        if spec.argv and spec.argv[0] in ("python", "python3"):
            spec.argv = [sys.executable, *spec.argv[1:]]
        return spec


def check_kernel(kernel_name: str) -> None:
    """A ``UsageError`` (exit 2, before anything runs) when no kernel of that name is installed."""
    from jupyter_client.kernelspec import NoSuchKernel

    from .._errors import UsageError

    specs = ThisPythonKernelSpecs()
    try:
        specs.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        known = ", ".join(sorted(specs.find_kernel_specs())) or "none"
        raise UsageError(f"--kernel {kernel_name}: no such kernel (installed: {known})") from None


def execute(
    nb: nbformat.NotebookNode,
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: int = 600,
    kernel_name: str = "python3",
    allow_errors: bool = True,
    extra_arguments: list[str] | None = None,
    on_cell_executed: Any = None,
) -> nbformat.NotebookNode:
    """Execute ``nb`` in place in a fresh kernel whose working directory is ``cwd``.

    ``extra_arguments`` go to the kernel (``--ext=nbrepro`` loads the recorder);
    ``on_cell_executed(cell=, cell_index=, execute_reply=)`` is nbclient's per-cell hook.
    """
    sockets = tempfile.mkdtemp(prefix="nbrepro-kernel-") if os.name == "posix" else None
    # Async, as nbclient makes its own: with a blocking manager passed in, nbclient's
    # per-cell timeout never fires (the reply is awaited however long the cell runs).
    km = AsyncKernelManager(
        kernel_name=kernel_name,
        kernel_spec_manager=ThisPythonKernelSpecs(),
        # Unix sockets where there are any: no TCP port open, and no ipykernel warning about one.
        **({"transport": "ipc", "ip": os.path.join(sockets, "kernel")} if sockets else {}),
    )
    kernel_env = {**os.environ, **(env or {})}
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
        extra_arguments=list(extra_arguments or []),
        **({"on_cell_executed": on_cell_executed} if on_cell_executed is not None else {}),
    )
    try:
        # The kernel's own stdout and stderr are not the notebook's outputs (those come over
        # the protocol); ipykernel also echoes what C code writes to fd 1 and 2 there, which
        # would land in the middle of a command's own output (verify --json).
        client.execute(env=kernel_env, cwd=str(cwd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        # A kernel manager passed in is ours to stop; a graceful shutdown lets the kernel's
        # recorder write its last records before the process ends.
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=False)
        if sockets:
            shutil.rmtree(sockets, ignore_errors=True)
    return nb
