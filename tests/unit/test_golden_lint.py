"""The golden pipelines of the realistic notebooks are code an engineer can keep: they compile,
and ruff finds nothing with pyflakes' rules, pycodestyle's error rules and its import sorting
(ruff's classic default set, plus ``I``), with no suppression anywhere in them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).parents[1] / "data" / "realistic" / "golden"


def test_golden_pipelines_compile_and_pass_ruff() -> None:
    files = sorted(GOLDEN.glob("*.pipeline.py"))
    assert [f.name.split(".")[0] for f in files] == ["model_helpers", "rates_report", "sales_exploration", "scratchpad"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        compile(text, str(path), "exec")
        assert "noqa" not in text
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E4,E7,E9,F,I", "--output-format", "concise",
         *map(str, files)],
        capture_output=True, text=True, check=False,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
