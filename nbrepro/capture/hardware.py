"""The machine: CPU, cores, memory, OS, GPUs, and BLAS and threads once numpy is imported.

Captured once per session (py-cpuinfo's 1 s per call is why it is not used), and again only
when numpy or torch first appears, since they add BLAS and GPU facts.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..record.redact import allowed_env
from . import Part

_SUMMARY = ("cpu", "cores", "memory_bytes", "os", "gpus")


class HardwareCollector:
    def __init__(self, put_blob: Callable[[str, dict[str, Any]], str]) -> None:
        self._put_blob = put_blob
        self._key: tuple[bool, bool] | None = None
        self._part: Part | None = None
        self._gpus_smi: list[dict[str, Any]] | None = None
        # Top-level modules this collector itself imported (threadpoolctl): not the user's imports.
        self.loaded: set[str] = set()

    def capture(self) -> Part:
        key = ("numpy" in sys.modules, "torch" in sys.modules)
        if key != self._key or self._part is None:
            full = self.describe()
            blob_id = self._put_blob("hardware", full)
            self._part = {"id": blob_id, **{k: full[k] for k in _SUMMARY}}
            self._key = key
        return self._part

    def describe(self) -> dict[str, Any]:
        import psutil

        if self._gpus_smi is None:
            self._gpus_smi = _nvidia_smi()
        facts: dict[str, Any] = {
            "cpu": _cpu_model(),
            "arch": platform.machine(),
            "cores": os.cpu_count() or 1,
            "physical_cores": psutil.cpu_count(logical=False),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "memory_bytes": int(psutil.virtual_memory().total),
            "os": platform.platform(),
            "gpus": _torch_gpus() or self._gpus_smi,
            "threads": {k: v for k, v in allowed_env(os.environ).items() if "THREAD" in k or k.startswith("OMP_")},
        }
        if "numpy" in sys.modules:
            facts["blas"] = _blas(self.loaded)
        return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=2
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def _nvidia_smi() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,driver_version,compute_cap", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3:
            gpus.append({
                "name": parts[0],
                "memory_bytes": int(float(parts[1]) * 1024 * 1024) if parts[1].replace(".", "").isdigit() else None,
                "driver": parts[2],
                "compute_capability": parts[3] if len(parts) > 3 else None,
            })
    return gpus


def _torch_gpus() -> list[dict[str, Any]]:
    torch = sys.modules.get("torch")
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        gpus = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append({
                "name": props.name,
                "memory_bytes": int(props.total_memory),
                "compute_capability": f"{props.major}.{props.minor}",
                "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(),
            })
        return gpus
    except Exception:  # noqa: BLE001 - a broken CUDA setup is reported as no GPU facts
        return []


def _blas(loaded: set[str]) -> dict[str, Any]:
    """The BLAS numpy runs on: threadpoolctl's live view if installed, else numpy's build info.
    ``loaded`` gains "threadpoolctl" when this is what imported it."""
    try:
        fresh = "threadpoolctl" not in sys.modules
        from threadpoolctl import threadpool_info

        if fresh:
            loaded.add("threadpoolctl")

        pools = [
            {
                "api": p.get("internal_api"),
                "library": Path(p.get("filepath", "")).name,
                "version": p.get("version"),
                "threads": p.get("num_threads"),
                "architecture": p.get("architecture"),
            }
            for p in threadpool_info()
        ]
        if pools:
            return {"source": "threadpoolctl", "pools": pools}
    except Exception:  # noqa: BLE001 - optional library; fall back to numpy's own report
        pass
    numpy = sys.modules["numpy"]
    try:
        config = numpy.show_config(mode="dicts")
        deps = config.get("Build Dependencies", {})
        return {
            "source": "numpy.show_config",
            "blas": {k: deps.get("blas", {}).get(k) for k in ("name", "version")},
            "lapack": {k: deps.get("lapack", {}).get(k) for k in ("name", "version")},
        }
    except Exception as exc:  # noqa: BLE001 - old numpy without mode="dicts"
        return {"unavailable": f"{type(exc).__name__}: {exc}"}
