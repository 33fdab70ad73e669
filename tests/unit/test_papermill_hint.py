"""Which notebook a papermill command writes, read from its command line the way papermill
(click) reads it; checked against the installed papermill's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbrepro.capture.code import notebook_hint
from nbrepro.capture.launcher import LauncherHint, prefer
from nbrepro.capture.papermill import VALUE_OPTIONS, notebook_from_argv, papermill_args, parse

PY = "/opt/venv/bin/python"
SCRIPT = "/opt/venv/bin/papermill"


def test_value_options_match_the_installed_papermill() -> None:
    import papermill.cli

    wanted = {}
    for param in papermill.cli.papermill.params:
        if getattr(param, "is_flag", False) or not hasattr(param, "opts") or param.param_type_name != "option":
            continue
        for name in [*param.opts, *param.secondary_opts]:
            wanted[name] = param.nargs
    assert VALUE_OPTIONS == wanted


@pytest.mark.parametrize("args", [
    ["in.ipynb", "out.ipynb", "-p", "scale", "5", "-p", "label", "b", "-k", "python3"],
    ["-pscale", "5", "--kernel=python3", "a.ipynb", "b.ipynb", "--cwd", "sub/dir"],
    ["--log-output", "-r", "x", "y", "--no-progress-bar", "a.ipynb", "--", "-b.ipynb"],
    ["-y", "a: 1", "-f", "p.yaml", "--engine", "nbclient", "in.ipynb", "--start_timeout", "30", "out.ipynb"],
    ["--inject-paths", "--report-mode", "-l", "python", "in.ipynb", "-", "--cwd=/abs"],
])
def test_parse_agrees_with_papermills_own_parser(args: list[str]) -> None:
    import papermill.cli

    ctx = papermill.cli.papermill.make_context("papermill", list(args), resilient_parsing=True)
    positional, options = parse(args)
    assert positional == [ctx.params["notebook_path"], ctx.params["output_path"]]
    assert [v[0] for v in options.get("--cwd", [])][-1:] == ([ctx.params["cwd"]] if ctx.params["cwd"] else [])
    assert [tuple(v) for v in options.get("--parameters", [])] == list(ctx.params["parameters"])


@pytest.mark.parametrize("argv, expected", [
    ([PY, SCRIPT, "in.ipynb", "out.ipynb"], ["in.ipynb", "out.ipynb"]),
    ([PY, "-m", "papermill", "in.ipynb", "out.ipynb"], ["in.ipynb", "out.ipynb"]),
    ([SCRIPT, "in.ipynb", "out.ipynb"], ["in.ipynb", "out.ipynb"]),
    ([PY, "-X", "frozen_modules=off", "-u", SCRIPT, "in.ipynb"], ["in.ipynb"]),
    ([PY, "-c", "import papermill", "papermill"], None),
    ([PY, "-m", "ipykernel_launcher", "-f", "k.json"], None),
    ([PY, "/usr/bin/pytest", "tests/", "papermill"], None),
    ([PY, "-m", "nbrepro", "verify", "out.ipynb"], None),
])
def test_only_a_papermill_command_counts(argv: list[str], expected: list[str] | None) -> None:
    assert papermill_args(argv) == expected


def test_the_output_relative_to_where_papermill_runs(tmp_path: Path) -> None:
    argv = [PY, SCRIPT, "in.ipynb", "runs/out.ipynb", "-p", "scale", "5", "-k", "python3"]
    assert notebook_from_argv(argv, str(tmp_path), {}) == str(tmp_path / "runs" / "out.ipynb")
    absolute = [PY, SCRIPT, "in.ipynb", str(tmp_path / "x" / "out.ipynb")]
    assert notebook_from_argv(absolute, "/somewhere/else", {}) == str(tmp_path / "x" / "out.ipynb")


def test_a_template_output_is_filled_in_from_the_parameters(tmp_path: Path) -> None:
    argv = [PY, SCRIPT, "in.ipynb", "out-{label}-{scale}.ipynb", "-p", "scale", "5", "-r", "label", "007"]
    assert notebook_from_argv(argv, str(tmp_path), {}) == str(tmp_path / "out-007-5.ipynb")
    # a template over values papermill knows and we cannot see: the input, not a wrong guess
    unknown = [PY, SCRIPT, "in.ipynb", "out-{pm[run_uuid]}.ipynb", "-y", "scale: 5"]
    assert notebook_from_argv(unknown, str(tmp_path), {}) == str(tmp_path / "in.ipynb")


@pytest.mark.parametrize("output", ["-", "s3://bucket/out.ipynb", "abs://acct/c/out.ipynb"])
def test_no_local_output_falls_back_to_the_input(tmp_path: Path, output: str) -> None:
    argv = [PY, SCRIPT, "nb/in.ipynb", output]
    assert notebook_from_argv(argv, str(tmp_path), {}) == str(tmp_path / "nb" / "in.ipynb")
    assert notebook_from_argv([PY, SCRIPT, "-", output], str(tmp_path), {}) is None


def test_cwd_option_moves_the_process_but_not_its_paths(tmp_path: Path) -> None:
    """papermill changes into --cwd before it starts the kernel, yet reads and writes its
    notebooks relative to where it began."""
    project = tmp_path / "project"
    (project / "analysis").mkdir(parents=True)
    (project / "analysis" / "out.ipynb").write_text("{}")
    argv = [PY, SCRIPT, "analysis/in.ipynb", "analysis/out.ipynb", "--cwd", "analysis"]
    now = str(project / "analysis")  # the parent's working directory as the kernel sees it
    assert notebook_from_argv(argv, now, {"PWD": "/stale"}) == str(project / "analysis" / "out.ipynb")
    # an absolute --cwd leaves only the shell's PWD to say where papermill began
    absolute = [PY, SCRIPT, "analysis/in.ipynb", "analysis/out.ipynb", f"--cwd={project / 'analysis'}"]
    assert notebook_from_argv(absolute, now, {"PWD": str(project)}) == str(project / "analysis" / "out.ipynb")


def test_papermill_beats_an_inherited_session_name_but_not_an_explicit_path() -> None:
    env = {"JPY_SESSION_NAME": "/home/u/caller.ipynb"}
    ns = {"__session__": "/home/u/caller.ipynb", "__vsc_ipynb_file__": "/home/u/vs.ipynb"}
    inherited = notebook_hint(None, ns, env)
    assert prefer(inherited, "/p/out.ipynb") == ("/p/out.ipynb", "papermill")
    assert prefer(notebook_hint(None, ns, {}), "/p/out.ipynb") == ("/p/out.ipynb", "papermill")
    assert prefer(notebook_hint("mine.ipynb", ns, env), "/p/out.ipynb") == ("mine.ipynb", "%nbrepro notebook")
    assert prefer(inherited, None) == ("/home/u/caller.ipynb", "JPY_SESSION_NAME")


def test_the_recorder_prefers_papermills_notebook_to_all_but_an_explicit_one(tmp_path: Path) -> None:
    from nbrepro.recorder import Recorder
    from nbrepro.store import MemoryStore

    store = MemoryStore()
    out = tmp_path / "out.ipynb"
    rec = Recorder(tmp_path, tmp_path / ".nbrepro", namespace={}, environ={"JPY_SESSION_NAME": "caller.ipynb"},
                   store=store, launcher=LauncherHint((str(out),), "papermill"))
    rec.pre_cell()
    rec.post_cell("x = 1", None, 1, None)
    rec.notebook_override = "mine.ipynb"
    rec.pre_cell()
    rec.post_cell("y = 2", None, 2, None)
    assert rec.flush(30)
    rec.close()
    assert [r["notebook"] for r in store.records()] == [
        {"path": "out.ipynb", "found_by": "papermill"},
        {"path": "mine.ipynb", "found_by": "%nbrepro notebook"},
    ]
