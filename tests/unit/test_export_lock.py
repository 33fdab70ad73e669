"""Requirements and pip-compile locks for exported packages, offline: local wheels only."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest
from conftest import make_wheel

from nbrepro._errors import ExportError
from nbrepro.export.lock import lock, requirements
from nbrepro.notebook.facts import CellFacts, SessionFacts


def test_lock_pins_a_local_wheel_with_hashes_and_no_paths(tmp_path: Path) -> None:
    wheels, pkg = tmp_path / "wheels", tmp_path / "pkg"
    wheels.mkdir()
    pkg.mkdir()
    make_wheel(wheels, "tinydep", "1.0")
    (pkg / "requirements.in").write_text("tinydep==1.0\n")
    text = lock(pkg, find_links=wheels, no_index=True)
    assert text == (pkg / "requirements.lock").read_text()
    assert "tinydep==1.0" in text and "--hash=sha256:" in text
    assert str(tmp_path) not in text and "file:" not in text and "--find-links" not in text


def test_empty_requirements_lock_offline(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("\n")
    text = lock(tmp_path, no_index=True)
    assert [line for line in text.splitlines() if line.strip() and not line.startswith("#")] == []


def test_unresolvable_requirement_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("tinydep==2.0\n")
    (tmp_path / "wheels").mkdir()
    make_wheel(tmp_path / "wheels", "tinydep", "1.0")
    with pytest.raises(ExportError, match="pip-compile failed: .*tinydep") as err:
        lock(tmp_path, find_links=tmp_path / "wheels", no_index=True)
    assert "\n" not in str(err.value)


def test_recorded_imports_are_pinned_and_pip_specs_added() -> None:
    facts = SessionFacts(source="store", order=[0, 1])
    facts.cells[0] = CellFacts(index=0, imported={"numpy": "1.26.0"})
    facts.cells[1] = CellFacts(index=1, imported={"numpy": "1.26.0", "Pandas": "2.1.0"})
    reqs = requirements(facts, ["numpy", "pandas", "sklearn"], ["numpy>=1", "tinydep==1.0", "./local_pkg"])
    assert reqs.lines == ["Pandas==2.1.0", "numpy==1.26.0", "tinydep==1.0"]
    assert reqs.origin == "the recorded session's imports"
    assert any("./local_pkg" in m for m in reqs.missing)


def test_without_a_record_static_imports_map_to_installed_distributions() -> None:
    facts = SessionFacts(source="outputs")
    reqs = requirements(facts, ["os", "json", "numpy", "no_such_module_here"], [], extra=["blake3==1.0"])
    assert reqs.lines == [f"numpy=={md.version('numpy')}", "blake3==1.0"]
    assert reqs.missing == ["module 'no_such_module_here' belongs to no installed distribution (a local module?)"]
