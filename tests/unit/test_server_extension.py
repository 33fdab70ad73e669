"""The stamp-on-save server extension: what jupyter_server finds, and that it is cheap to import."""

from __future__ import annotations

import json
import subprocess
import sys

from nbrepro import server


def test_the_module_is_its_own_extension_point() -> None:
    assert server._jupyter_server_extension_points() == [{"module": "nbrepro.server"}]
    assert callable(server._load_jupyter_server_extension)


def test_importing_it_loads_no_notebook_machinery() -> None:
    # The server imports every enabled extension at start: nbformat, nbclient and the verify
    # code load at the first save, not before.
    code = "import json, sys, nbrepro.server; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert not {"nbformat", "nbclient", "jupyter_client", "nbrepro.verify", "nbrepro.store"} & loaded
