"""Every session locked, and verify in the recorded environment: a session recorded with
tinydep 1.0 in real kernels, tinydep 2.0 installed afterwards; ``nbrepro lock`` from the store
and from the stamped notebook alone; ``verify`` names the package, ``verify --recorded-env``
reproduces in a venv built offline from a local wheel folder; a locally patched installed file
is a package cause of its own. One recorded session and one venv for the module."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import GIT_IDENTITY, assert_report_valid, git, make_wheel

from nbrepro.notebook import kernel
from nbrepro.record.hashing import hash_text

pytestmark = pytest.mark.integration

CELLS = ["%load_ext nbrepro", "scale = 2", "import tinydep\nprint(tinydep.__version__)", "print(scale * 21)"]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A git project whose notebook was recorded and stamped with tinydep 1.0 (installed from
    the wheel folder into a PYTHONPATH folder), and a review folder holding only its copy."""
    base = tmp_path_factory.mktemp("recorded-env")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("NBREPRO_", "JPY_", "GIT_"))]:
            env.delenv(name)
        env.setenv("HOME", str(base))
        env.setenv("IPYTHONDIR", str(base / ".ipython"))
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for key, value in GIT_IDENTITY.items():
            env.setenv(key, value)
        wheels, target = base / "wheels", base / "site-packages"
        wheels.mkdir()
        for version in ("1.0", "2.0"):
            make_wheel(wheels, "tinydep", version)

        def install(version: str) -> None:
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels),
                            "--target", str(target), f"tinydep=={version}"], check=True)

        root = base / "p"
        root.mkdir()
        path = root / "analysis.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS]), path)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "analysis")
        install("1.0")
        variables = {**os.environ, "PYTHONPATH": str(target)}
        nbformat.write(kernel.execute(nbformat.read(path, as_version=4), root, env=variables), path)
        done = subprocess.run([sys.executable, "-m", "nbrepro", "stamp", str(path)], capture_output=True, text=True,
                              env=variables, timeout=300)
        assert done.returncode == 0, done.stderr
        review = base / "review"  # what a reviewer gets: the stamped notebook, no store, no git
        review.mkdir()
        shutil.copy(path, review / path.name)
        yield {"root": root, "review": review, "wheels": wheels, "env": variables, "install": install, "site": target}


def nbrepro(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbrepro", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


def verify(cwd: Path, session: dict[str, Any], *args: str) -> tuple[int, dict[str, Any]]:
    proc = nbrepro(cwd, session["env"], "verify", "analysis.ipynb", "--json", *args)
    assert proc.stdout, proc.stderr
    return proc.returncode, assert_report_valid(json.loads(proc.stdout))


def causes(report: dict[str, Any], index: int) -> list[str]:
    return [f"{c['kind']}: {c['detail']}" for c in next(c for c in report["cells"] if c["index"] == index)["causes"]]


def test_the_lock_comes_from_the_store_or_from_the_stamped_notebook_alone(session: dict[str, Any]) -> None:
    root, env = session["root"], session["env"]
    out = root / "requirements.lock"
    made = nbrepro(root, env, "lock", "analysis.ipynb", "--find-links", str(session["wheels"]), "--no-index", "-o", str(out))
    assert made.returncode == 0, made.stderr
    text = out.read_text()
    assert made.stdout.startswith("locked session ") and "1 requirement(s)" in made.stdout
    # pinned to what the session loaded though 2.0 is in the folder, marked for the recorded Python
    assert re.search(r'^tinydep==1\.0 ; python_version == "3\.\d+" and sys_platform == "\w+" .*\\$', text, re.M), text
    assert "--hash=sha256:" in text and "file:" not in text and "--find-links" not in text
    assert str(root.parent) not in text
    stamped = nbrepro(session["review"], env, "lock", "analysis.ipynb", "--find-links", str(session["wheels"]), "--no-index")
    assert stamped.returncode == 0, stamped.stderr
    assert stamped.stdout == text
    whole = nbrepro(session["review"], env, "lock", "analysis.ipynb", "--all")
    assert whole.returncode == 2 and whole.stderr.startswith("nbrepro: error: --all: the whole installed set is in the store")
    # the record behind it: the env part's files hash, the blob's digests, origins, requires and markers
    records = json.loads(nbrepro(root, env, "log", "analysis.ipynb", "--json").stdout)
    assert list(records[2]["env"]["files"]) == ["tinydep"] and records[2]["env"]["files"]["tinydep"].startswith("blake3:")
    shown = json.loads(nbrepro(root, env, "show", records[-1]["run_id"], "--json").stdout)["env"]
    assert shown["installed"]["tinydep"] == "1.0" and shown["requires"]["tinydep"] == []
    assert "python_version" in shown["markers"] and "origins" in shown


def test_a_newer_package_is_named_and_the_recorded_environment_reproduces(session: dict[str, Any]) -> None:
    session["install"]("2.0")
    code, report = verify(session["root"], session)
    assert code == 1 and causes(report, 2) == ["package: tinydep: 1.0 -> 2.0"]
    assert report["ran_in"]["environment"] == "current" and report["ran_in"]["lock"] is None
    # the reviewer has only the stamped notebook and the wheel folder
    review, links = session["review"], str(session["wheels"])
    code, report = verify(review, session, "--recorded-env", "--find-links", links, "--no-index")
    assert code == 0, report
    assert report["verdict"] == "reproduced" and report["recorded"].startswith("stamp")
    ran = report["ran_in"]
    lock = nbrepro(review, session["env"], "lock", "analysis.ipynb", "--find-links", links, "--no-index").stdout
    assert ran["environment"] == "recorded" and ran["lock"] == hash_text(lock)
    assert ran["detail"].startswith("the recorded environment: a venv of session ") and ".nbrepro/envs/" in ran["detail"]
    assert {"name": "tinydep", "recorded": "1.0", "rerun": "1.0"} in report["environment"]["packages"]
    venv = review / ".nbrepro" / "envs" / ran["lock"].partition(":")[2][:32]
    built = (venv / "nbrepro-env.json").stat()
    code, again = verify(review, session, "--recorded-env", "--find-links", links, "--no-index")
    assert code == 0 and again["ran_in"] == ran
    assert (venv / "nbrepro-env.json").stat().st_mtime_ns == built.st_mtime_ns  # the cached venv, not a new one


def test_a_locally_modified_installed_file_is_a_package_cause(session: dict[str, Any]) -> None:
    session["install"]("1.0")
    module = session["site"] / "tinydep" / "__init__.py"
    module.write_text(module.read_text() + "print('patched')\n")
    code, report = verify(session["root"], session)
    assert code == 1 and causes(report, 2) == ["package: tinydep 1.0: installed files differ"]
    assert [c["status"] for c in report["cells"]] == ["reproduced", "reproduced", "differs", "reproduced"]
