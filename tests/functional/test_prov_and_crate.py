"""``nbrepro prov`` and ``nbrepro crate`` on a recorded session, read back with their own
libraries (``prov``, ``rocrate``): every data file the session read or wrote is there with
its hash."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from conftest import read_records, run_shell
from inprocess import nbrepro_main

pytestmark = pytest.mark.functional

CELLS = [
    "%load_ext nbrepro",
    "# Parameters\nn = 2",
    "rows = open('data/in.csv').read().split()",
    "with open('out.txt', 'w') as f:\n    f.write(str(sum(map(int, rows[:n]))))",
    "print(open('out.txt').read())",
]


@pytest.fixture
def recorded(repo: Path) -> tuple[Path, list[dict[str, object]]]:
    (repo / "data").mkdir()
    (repo / "data" / "in.csv").write_text("1\n2\n3\n")
    (repo / "requirements.lock").write_text("six==1.16.0\n")
    path = repo / "analysis.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS]), path)
    run_shell(repo, [*({"cell": c} for c in CELLS), {"flush": True}, {"unload": True}])
    return path, read_records(repo / ".nbrepro")


def data_hashes(records: list[dict[str, object]]) -> set[tuple[str, str]]:
    return {(d["path"], d["hash"]) for r in records for d in r.get("data") or []}  # type: ignore[union-attr,index]


def test_prov_json_and_prov_n_hold_every_data_file_and_cell(recorded: tuple[Path, list[dict[str, object]]]) -> None:
    import prov
    from prov.model import ProvActivity, ProvEntity

    path, records = recorded
    repo = path.parent
    assert {p for p, _h in data_hashes(records)} == {"data/in.csv", "out.txt"}
    session = str(records[0]["session_id"])
    code, out, err = nbrepro_main(repo, "prov", session[:8], "-o", "session.json")
    assert code == 0 and f"session {session[:8]}, {len(records)} cell run(s)" in out, err
    doc = prov.read(str(repo / "session.json"), format="json")
    attrs = [{str(k): v for k, v in rec.attributes} for rec in doc.get_records(ProvEntity)]
    found = {(a["nbrepro:path"], a["nbrepro:hash"]) for a in attrs if "nbrepro:path" in a and "nbrepro:hash" in a}
    assert data_hashes(records) <= found
    runs = {str(a.identifier) for a in doc.get_records(ProvActivity)}
    assert {f"run:{r['run_id']}" for r in records} <= runs and f"session:{session}" in runs
    used = {(str(u.formal_attributes[0][1]), str(u.formal_attributes[1][1])) for u in doc.get_records(prov.model.ProvUsage)}
    generated = {(str(g.formal_attributes[0][1]), str(g.formal_attributes[1][1]))
                 for g in doc.get_records(prov.model.ProvGeneration)}
    assert any(act == f"run:{records[2]['run_id']}" and ent.startswith("data:") for act, ent in used)  # the read
    assert any(act == f"run:{records[3]['run_id']}" and ent.startswith("data:") for ent, act in generated)  # the write
    # by the notebook, to PROV-N
    code, _out, err = nbrepro_main(repo, "prov", "analysis.ipynb", "-o", "session.provn")
    text = (repo / "session.provn").read_text()
    assert code == 0 and text.startswith("document") and all(h in text for _p, h in data_hashes(records)), err


def test_the_crate_is_a_workflow_run_crate_with_the_records_lock_report_and_data_hashes(
    recorded: tuple[Path, list[dict[str, object]]], tmp_path: Path,
) -> None:
    from rocrate.rocrate import ROCrate

    path, records = recorded
    repo = path.parent
    report = tmp_path / "verify.json"
    report.write_text('{"schema": "nbrepro.verify/1"}')
    before = path.read_bytes()
    code, out, err = nbrepro_main(repo, "crate", "analysis.ipynb", "-o", str(tmp_path / "crate"), "--report", str(report))
    assert code == 0 and "lock requirements.lock, report verify.json" in out, err
    assert path.read_bytes() == before
    crate = ROCrate(tmp_path / "crate")
    assert crate.mainEntity.id == "analysis.ipynb" and "ComputationalWorkflow" in crate.mainEntity.type
    profiles = {p["@id"] if isinstance(p, dict) else p.id for p in crate.root_dataset["conformsTo"]}
    assert "https://w3id.org/ro/wfrun/workflow/0.5" in profiles
    ids = {e.id for e in crate.get_entities()}
    assert {"requirements.lock", "reports/verify.json", "nbrepro/records.jsonl"} <= ids
    (action,) = [e for e in crate.get_entities() if e.type == "CreateAction"]
    assert action["instrument"].id == "analysis.ipynb"
    described = {(e["name"], e["identifier"]) for e in [*action["object"], *action["result"]] if e.type == "File"}
    assert described == data_hashes(records)
    assert {e["name"]: e["value"] for e in action["object"] if e.type == "PropertyValue"} == {"n": "2"}
    lines = (tmp_path / "crate" / "nbrepro" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records
    # a crate is never written over something
    code, _out, err = nbrepro_main(repo, "crate", "analysis.ipynb", "-o", str(tmp_path / "crate"))
    assert code == 2 and "exists and is not an empty folder" in err
