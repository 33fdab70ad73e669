"""What the installed-set scan records besides versions (nbrepro.capture.installed): a digest
of each distribution's installed files, and its origin (PEP 610), on real pip installs of
local wheels and a local folder (offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import make_wheel

from nbrepro.capture import installed
from nbrepro.capture.env import _origin


def pip_install(target: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(target), *args],
                   check=True, capture_output=True)


def digest(target: Path) -> str:
    found = installed.scan(path=[str(target)]).files_digest("tinydep")
    assert found is not None
    return found


def test_two_installs_of_one_wheel_agree_and_a_changed_file_is_told_apart(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinydep", "1.0")
    first, second = tmp_path / "first", tmp_path / "second"
    for target in (first, second):  # byte code and INSTALLER differ between the two; they do not count
        pip_install(target, "--find-links", str(wheels), "tinydep==1.0")
    assert digest(first) == digest(second)
    module = second / "tinydep" / "__init__.py"
    original = module.read_text()
    module.write_text(original + "print('patched')\n")
    assert digest(second) != digest(first)
    module.write_text(original)  # the same bytes again, written after the install: rehashed, equal
    assert digest(second) == digest(first)
    module.write_text(original.replace("1.0", "1.1"))  # same size, later mtime
    assert digest(second) != digest(first)
    module.unlink()
    assert digest(second) != digest(first)


def test_origins_come_from_direct_url_and_are_recorded_without_absolute_paths(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "tinydep", "1.0")
    folder = tmp_path / "libs" / "localpkg"
    (folder / "localpkg").mkdir(parents=True)
    (folder / "localpkg" / "__init__.py").write_text("")
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "localpkg"\nversion = "0.3"\n'
    )
    target = tmp_path / "site"
    pip_install(target, str(wheel))
    pip_install(target, "--no-build-isolation", str(folder))
    by_index = tmp_path / "by-index"
    pip_install(by_index, "--find-links", str(tmp_path), "tinydep==1.0")
    origins = installed.scan(path=[str(target)]).origins
    assert _origin(origins["tinydep"], tmp_path) == {"kind": "archive", "path": "tinydep-1.0-py3-none-any.whl"}
    assert _origin(origins["localpkg"], tmp_path) == {"kind": "folder", "path": "libs/localpkg", "editable": False}
    assert _origin(origins["localpkg"], tmp_path / "elsewhere") == {"kind": "folder", "path": str(folder), "editable": False}
    assert installed.scan(path=[str(by_index)]).origins == {}  # from an index or a wheel folder: no origin
    vcs = {"url": "https://user:s3cret@example.com/x.git", "vcs_info": {"vcs": "git", "commit_id": "0123abcd"}}
    assert _origin(vcs, tmp_path) == {"kind": "vcs", "url": "https://«redacted»@example.com/x.git", "vcs": "git", "commit": "0123abcd"}
