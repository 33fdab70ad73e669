"""Fill the local wheel folder the offline export tests lock and install from.

``pip download`` once, with the network, of the exact versions installed here of what the
example notebooks import; the tests then run pip-compile and ``--isolated`` with
``--no-index --find-links`` on that folder and never reach the network themselves.
Run by the README's test command before pytest; a second run downloads nothing new.

    python tests/wheelhouse.py          # -> .cache/wheelhouse
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / ".cache" / "wheelhouse"
# What the notebooks in notebooks/ and tests/data/realistic import (the recorded sessions' imports
# include what pandas and nbrepro's hardware reading load: pyarrow, cloudpickle, threadpoolctl;
# and IPython, for IPython.display), plus blake3, which generated tests hash data with; pip
# download brings their dependencies too.
DISTRIBUTIONS = ("numpy", "blake3", "pandas", "matplotlib", "ipython", "pyarrow", "cloudpickle", "threadpoolctl")


def main() -> int:
    FOLDER.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version}" for name in DISTRIBUTIONS if (version := _installed(name))]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
           "--dest", str(FOLDER), *pins]
    return subprocess.run(cmd, check=False).returncode


def _installed(name: str) -> str | None:
    """The installed version; None when it is not installed (then no session imports it)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
