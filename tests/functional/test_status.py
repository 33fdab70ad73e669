"""``%nbrepro status`` and ``%nbrepro seed`` in a real IPython shell: what a user is told."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_shell

pytestmark = pytest.mark.functional

DATA_CELL = (
    "with open('data/in.csv') as f:\n    rows = f.read().split()\n"
    "with open('data/out.csv', 'w') as f:\n    f.write(str(np.random.default_rng().random()))"
)


def rows(result: dict[str, Any]) -> dict[str, str]:
    """The rows of a status report from its text form (label, two or more spaces, value)."""
    text = "\n".join(result["outputs"])
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.splitlines())


def test_status_tells_seeds_data_and_stamp_on_save(repo: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "in.csv").write_text("x\n1\n")
    results = run_shell(repo, [
        {"cell": "%load_ext nbrepro"},
        {"cell": "%nbrepro seed 42"},
        {"cell": "import numpy as np\nx = np.random.rand()"},
        {"cell": "%nbrepro seed 7"},
        {"flush": True},
        {"cell": "%nbrepro status"},
        {"cell": DATA_CELL},
        {"flush": True},
        {"cell": "%nbrepro status"},
    ])
    # numpy is seeded at its import: the first seed says so, the second finds it imported
    assert results[1]["stdout"] == (
        "nbrepro: seeded random with 42; numpy, torch and tensorflow will be seeded with it when imported\n"
    )
    assert results[3]["stdout"] == "nbrepro: seeded random and numpy with 7; torch and tensorflow will be seeded with it when imported\n"
    after_seed = rows(results[5])
    assert after_seed["last cell"].startswith("[4] ok, ")  # no notebook named: no position
    assert after_seed["seeds"] == "last cell: set random 7, numpy 7; no unseeded draw"
    assert after_seed["data"] == "last cell: no file read or written"
    assert after_seed["stamp on save"].startswith("off (enable it with c.ServerApp.jpserver_extensions")
    after_data = rows(results[8])
    assert after_data["seeds"] == (
        "last cell: no seed set; drew from unseeded numpy.random.default_rng (its results change from run to run)"
    )
    assert after_data["data"] == "last cell: read data/in.csv, wrote data/out.csv"


def test_status_says_stamp_on_save_is_on_in_a_kernel_of_a_server_that_loaded_it(repo: Path) -> None:
    # nbrepro.server sets the variable in the Jupyter server's environment when the server
    # loads it, and every kernel the server starts inherits it; the e2e tier checks that chain.
    results = run_shell(repo, [{"cell": "%load_ext nbrepro"}, {"cell": "%nbrepro status"}],
                        env={"NBREPRO_STAMP_ON_SAVE": "1"})
    assert rows(results[1])["stamp on save"] == "on: the Jupyter server stamps each notebook it saves"
