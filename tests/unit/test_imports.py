"""nbrepro loads in every kernel, so importing it and loading the extension must stay light."""

import json
import subprocess
import sys

HEAVY = ("nbclient", "nbconvert", "numpy", "pandas", "torch", "piptools", "tensorflow", "jax", "git", "mlflow", "prov", "rocrate")

SCRIPT = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
shell.run_line_magic("load_ext", "nbrepro")
shell.run_cell("x = 1")
loaded = set(sys.modules) - before
print(json.dumps(sorted(loaded)))
"""


def test_loading_the_extension_imports_nothing_heavy(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, check=True)
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    tops = {name.partition(".")[0] for name in loaded}
    assert "nbrepro" in tops
    # git (gitpython) is imported later by the worker thread, never on the load path
    assert not tops & set(HEAVY), sorted(tops & set(HEAVY))


def test_importing_the_package_is_lighter_still() -> None:
    code = "import sys, json; import nbrepro; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    tops = {name.partition(".")[0] for name in json.loads(proc.stdout)}
    assert not tops & {*HEAVY, "IPython", "sqlite3", "click", "rich"}
