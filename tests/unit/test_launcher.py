"""The notebook named by the command that started the kernel: ``jupyter execute``,
``jupyter nbconvert --execute`` and papermill, read from the parent's command line
(nbrepro.capture.launcher)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbrepro.capture import launcher
from nbrepro.capture.code import notebook_hint
from nbrepro.capture.launcher import LauncherHint, hint_from_argv, jupyter_args, prefer

PY = "/venv/bin/python"
EXECUTE = "/venv/bin/jupyter-execute"
NBCONVERT = "/venv/bin/jupyter-nbconvert"
JUPYTER = "/venv/bin/jupyter"


def touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    touch(tmp_path / "a.ipynb", tmp_path / "b.ipynb", tmp_path / "out.ipynb",
          tmp_path / "sub" / "x.ipynb", tmp_path / "sub" / "y.ipynb")
    (tmp_path / "sub" / "notes.txt").write_text("not a notebook")
    return tmp_path


def candidates(argv: list[str], cwd: Path) -> tuple[tuple[str, ...], str] | None:
    hint = hint_from_argv(argv, str(cwd), {})
    return None if hint is None else (hint.candidates, hint.found_by)


@pytest.mark.parametrize("argv, names, found_by", [
    ([PY, EXECUTE, "a.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([EXECUTE, "--inplace", "a.ipynb", "b.ipynb"], ["a.ipynb", "b.ipynb"], "jupyter execute"),
    ([PY, JUPYTER, "execute", "--timeout", "30", "a.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([JUPYTER, "execute", "--timeout=30", "--allow-errors", "a.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([EXECUTE, "--output=out", "a.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([EXECUTE, "--output", "out.ipynb", "a.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([EXECUTE, "a.ipynb", "--output", "out.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([EXECUTE, "--kernel_name", "python3", "--startup_timeout", "60", "b.ipynb"], ["b.ipynb"], "jupyter execute"),
    ([EXECUTE, "a.ipynb", "a.ipynb", "./a.ipynb"], ["a.ipynb"], "jupyter execute"),  # each once
    ([PY, "-m", "nbclient", "a.ipynb"], ["a.ipynb"], "jupyter execute"),
    ([PY, "-m", "nbconvert", "--to", "notebook", "--execute", "a.ipynb"], ["a.ipynb"], "jupyter nbconvert"),
    ([PY, "-X", "utf8", "-m", "nbconvert", "--execute", "b.ipynb"], ["b.ipynb"], "jupyter nbconvert"),
    ([NBCONVERT, "--execute", "--to", "notebook", "--inplace", "sub/*.ipynb"],
     ["sub/x.ipynb", "sub/y.ipynb"], "jupyter nbconvert"),
    ([PY, NBCONVERT, "--to=html", "--execute", "--output-dir", "built", "sub/?.ipynb", "a.ipynb"],
     ["sub/x.ipynb", "sub/y.ipynb", "a.ipynb"], "jupyter nbconvert"),
    ([JUPYTER, "nbconvert", "--execute", "--to", "notebook", "--output", "out.ipynb", "a.ipynb"],
     ["a.ipynb"], "jupyter nbconvert"),
    ([NBCONVERT, "--execute", "--ExecutePreprocessor.timeout=600", "-y", "sub/[x].ipynb"],
     ["sub/x.ipynb"], "jupyter nbconvert"),
])
def test_jupyter_commands_name_their_notebooks(project: Path, argv: list[str], names: list[str], found_by: str) -> None:
    assert candidates(argv, project) == (tuple(str(project / n) for n in names), found_by)


def test_relative_paths_start_in_the_parents_working_directory(project: Path) -> None:
    # the parent ran in sub/: "x.ipynb" is sub/x.ipynb, "../a.ipynb" the top one
    found = candidates([EXECUTE, "x.ipynb", "../a.ipynb"], project / "sub")
    assert found is not None
    assert [Path(p).resolve() for p in found[0]] == [project / "sub" / "x.ipynb", project / "a.ipynb"]
    # an absolute path does not depend on it
    assert candidates([EXECUTE, str(project / "b.ipynb")], Path("/")) == ((str(project / "b.ipynb"),), "jupyter execute")
    # the same relative names from elsewhere: nothing there
    assert candidates([EXECUTE, "x.ipynb"], project) is None


def test_files_that_are_not_there_or_not_notebooks_are_dropped(project: Path) -> None:
    assert candidates([EXECUTE, "missing.ipynb", "a.ipynb"], project) == ((str(project / "a.ipynb"),), "jupyter execute")
    assert candidates([EXECUTE, "missing.ipynb"], project) is None
    assert candidates([NBCONVERT, "--execute", "nomatch/*.ipynb"], project) is None
    assert candidates([NBCONVERT, "--execute", "sub/*"], project) == (
        (str(project / "sub" / "x.ipynb"), str(project / "sub" / "y.ipynb")), "jupyter nbconvert"
    )
    (project / "dir.ipynb").mkdir()
    assert candidates([EXECUTE, "dir.ipynb", "sub/notes.txt"], project) is None
    assert candidates([EXECUTE], project) is None
    assert candidates([JUPYTER, "execute"], project) is None


def test_papermill_is_still_handled(project: Path) -> None:
    argv = [PY, "/venv/bin/papermill", "a.ipynb", "runs/out.ipynb", "-p", "n", "3"]
    hint = hint_from_argv(argv, str(project), {})
    assert hint == LauncherHint((str(project / "runs" / "out.ipynb"),), "papermill")
    assert hint.path == str(project / "runs" / "out.ipynb")
    assert hint_from_argv([PY, "-m", "papermill", "a.ipynb", "-"], str(project), {}) == LauncherHint(
        (str(project / "a.ipynb"),), "papermill"
    )
    assert hint_from_argv([PY, "-m", "papermill", "-", "-"], str(project), {}) is None


@pytest.mark.parametrize("argv", [
    [PY, "-m", "ipykernel_launcher", "-f", "/run/kernel-1.json"],
    ["/venv/bin/pytest", "tests/", "a.ipynb"],
    [PY, "/venv/bin/pytest", "--nbval", "a.ipynb"],
    [PY, "-m", "pytest", "a.ipynb"],
    [PY, "/venv/bin/jupyter-lab", "a.ipynb"],
    [JUPYTER, "lab", "a.ipynb"],
    [PY, JUPYTER, "notebook", "a.ipynb"],
    [PY, "-c", "import nbconvert", "a.ipynb"],
    [PY, "script.py", "a.ipynb"],
    [PY],
    [],
])
def test_other_commands_give_no_hint(project: Path, argv: list[str]) -> None:
    assert hint_from_argv(argv, str(project), {}) is None


def test_jupyter_args_splits_off_the_subcommand() -> None:
    assert jupyter_args([JUPYTER, "execute", "--inplace", "a.ipynb"]) == ("jupyter execute", ["--inplace", "a.ipynb"])
    assert jupyter_args([PY, JUPYTER, "nbconvert", "a.ipynb"]) == ("jupyter nbconvert", ["a.ipynb"])
    assert jupyter_args([PY, "-m", "jupyter", "execute", "a.ipynb"]) == ("jupyter execute", ["a.ipynb"])
    assert jupyter_args([PY, "-m", "nbconvert", "--execute"]) == ("jupyter nbconvert", ["--execute"])
    assert jupyter_args([JUPYTER, "lab"]) is None
    assert jupyter_args([JUPYTER]) is None


def test_narrowed_keeps_the_candidates_holding_the_cell() -> None:
    hint = LauncherHint(("/p/a.ipynb", "/p/b.ipynb", "/p/c.ipynb"), "jupyter execute")
    assert hint.narrowed(lambda p: p.endswith("b.ipynb")) == LauncherHint(("/p/b.ipynb",), "jupyter execute")
    assert hint.narrowed(lambda p: p != "/p/a.ipynb").candidates == ("/p/b.ipynb", "/p/c.ipynb")
    # none holds it (a cell typed in by hand): all of them stay
    assert hint.narrowed(lambda p: False) == hint
    # one left: it stays, whatever the next cell
    one = LauncherHint(("/p/b.ipynb",), "jupyter execute")
    assert one.narrowed(lambda p: False) is one
    assert one.path == "/p/b.ipynb"
    assert LauncherHint((), "jupyter execute").path is None


def test_prefer_puts_the_launcher_between_nbrepro_notebook_and_the_frontend() -> None:
    env = {"JPY_SESSION_NAME": "/home/u/caller.ipynb"}
    inherited = notebook_hint(None, {}, env)
    assert inherited == ("/home/u/caller.ipynb", "JPY_SESSION_NAME")
    assert prefer(inherited, "/p/a.ipynb", "jupyter execute") == ("/p/a.ipynb", "jupyter execute")
    assert prefer(inherited, "/p/a.ipynb", "jupyter nbconvert") == ("/p/a.ipynb", "jupyter nbconvert")
    assert prefer((None, None), "/p/a.ipynb", "jupyter execute") == ("/p/a.ipynb", "jupyter execute")
    explicit = notebook_hint("mine.ipynb", {}, env)
    assert prefer(explicit, "/p/a.ipynb", "jupyter execute") == ("mine.ipynb", "%nbrepro notebook")
    assert prefer(inherited, None, "jupyter execute") == inherited
    assert prefer(inherited, "/p/a.ipynb") == ("/p/a.ipynb", "papermill")  # the default


def test_parent_hint_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher.os, "getppid", lambda: -1)
    assert launcher.parent_hint() is None


def test_value_less_options_cover_the_installed_commands() -> None:
    """An option missing from the flags takes the next argument as its value."""
    pytest.importorskip("nbclient")
    pytest.importorskip("nbconvert")
    from nbclient.cli import NbClientApp
    from nbconvert.nbconvertapp import NbConvertApp

    assert set(NbClientApp.flags) <= launcher._FLAGS
    missing = set(NbConvertApp.flags) - launcher._FLAGS
    # --show-input and --stdin take no value; harmless while the next argument ends in .ipynb
    assert missing <= {"show-input", "stdin"}, missing


def test_show_input_takes_no_value(project: Path) -> None:
    assert candidates([NBCONVERT, "--execute", "--show-input", "sub/*"], project) == (
        (str(project / "sub" / "x.ipynb"), str(project / "sub" / "y.ipynb")), "jupyter nbconvert"
    )


def test_nbconvert_name_without_extension(project: Path) -> None:
    assert candidates([NBCONVERT, "--execute", "--to", "notebook", "a"], project) == (
        (str(project / "a.ipynb"),), "jupyter nbconvert"
    )


def test_glob_under_a_folder_with_brackets(tmp_path: Path) -> None:
    cwd = tmp_path / "project [v2]"
    touch(cwd / "sub" / "x.ipynb")
    assert candidates([NBCONVERT, "--execute", "sub/*.ipynb"], cwd) == (
        (str(cwd / "sub" / "x.ipynb"),), "jupyter nbconvert"
    )


def test_jupyter_execute_literal_name_with_brackets(tmp_path: Path) -> None:
    touch(tmp_path / "run[1].ipynb")
    assert candidates([EXECUTE, "run[1].ipynb"], tmp_path) == ((str(tmp_path / "run[1].ipynb"),), "jupyter execute")
