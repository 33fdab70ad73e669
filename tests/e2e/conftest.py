"""The e2e tier: a real JupyterLab 4 server, driven from headless Debian Chromium by Playwright.

Nothing here is skipped: without Chromium, Playwright or JupyterLab every test fails with one
line that says how to install them. The server runs with its own config, data, runtime and
home folders, so the user's Jupyter setup never leaks in, and it is always shut down.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INSTALL = (
    "install with `sudo apt-get install -y --no-install-recommends chromium` "
    "and `pip install -e '.[e2e]'` (not `playwright install`)"
)
# The one documented setting that turns stamp-on-save on (docs/frontends.md).
STAMP_ON_SAVE = 'c.ServerApp.jpserver_extensions = {"nbrepro.server": True}\n'
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
}
# Read at import: the autouse clean_env fixture drops every NBREPRO_ variable before a test.
UPDATE_SCREENSHOTS = os.environ.get("NBREPRO_UPDATE_SCREENSHOTS") == "1"
WAIT_S = 120  # an upper bound for anything to happen; no assertion is about time


def require(*needs: str) -> None:
    """Fail (never skip) with one line when a tool the e2e tier needs is missing."""
    missing = [n for n in needs if n == "chromium" and not CHROMIUM.is_file()]
    missing += [n for n in needs if n != "chromium" and importlib.util.find_spec(n) is None]
    if missing:
        pytest.fail(f"the e2e tier is missing {', '.join(missing)}; {INSTALL}", pytrace=False)


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: docs/images/ with NBREPRO_UPDATE_SCREENSHOTS=1, else tmp_path."""
    if UPDATE_SCREENSHOTS:
        return REPO / "docs" / "images" / name
    return tmp_path / name


def isolated_env(base: Path) -> dict[str, str]:
    """The environment of this Python with no NBREPRO_, JPY_, JUPYTER, IPython or git settings
    of the user's, and private home, Jupyter and IPython folders under ``base``."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("NBREPRO_", "JPY_", "JUPYTER", "GIT_", "IPYTHON")) and k != "PYTHONPATH"
    }
    for name, folder in (("HOME", "home"), ("JUPYTER_CONFIG_DIR", "jupyter-config"),
                         ("JUPYTER_DATA_DIR", "jupyter-data"), ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
                         ("IPYTHONDIR", "ipython")):
        (base / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(base / folder)
    # Kernel specs that say `python` must find this interpreter, nbrepro and all.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env.update(GIT_IDENTITY)
    return env


def git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_project(root: Path, env: dict[str, str]) -> Path:
    """A git project holding the quickstart notebook (loading nbrepro first) and its data."""
    import nbformat

    root.mkdir(parents=True)
    shutil.copytree(REPO / "notebooks" / "data", root / "data")
    nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source.strip() != "%load_ext nbrepro":
        nb.cells.insert(0, nbformat.v4.new_code_cell("%load_ext nbrepro"))
    nbformat.write(nb, root / "quickstart.ipynb")
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "quickstart")
    return root / "quickstart.ipynb"


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S, every: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}", pytrace=False)
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab server and the project it serves."""

    url: str
    token: str
    root: Path
    env: dict[str, str]
    log: Path

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def page_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright, for the whole run."""
    require("chromium", "playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Lab]:
    """JupyterLab 4 on a free port with stamp-on-save enabled, serving a fresh quickstart project."""
    require("jupyterlab")
    base = tmp_path_factory.mktemp("lab")
    env = isolated_env(base)
    root = make_project(base / "project", env).parent
    Path(env["JUPYTER_CONFIG_DIR"], "jupyter_server_config.py").write_text(STAMP_ON_SAVE)
    token, port = secrets.token_hex(16), free_port()
    log = base / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # Nothing may reach the internet: no news feed, no update check, no PyPI listing.
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, root, env, log)
    try:
        def answers() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}: {log.read_text()[-2000:]}", pytrace=False)
            try:
                return server.api("status") is not None
            except (urllib.error.URLError, OSError):
                return False

        wait_for(answers, "JupyterLab to answer")
        yield server
    finally:
        _stop(proc, server)


def _stop(proc: subprocess.Popen[bytes], server: Lab) -> None:
    """Shut the server down through its API (kernels too), else signal its process group."""
    if proc.poll() is None:
        try:
            server.api("shutdown", method="POST")
            proc.wait(timeout=20)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)  # the group this fixture started: the server and its kernels
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
