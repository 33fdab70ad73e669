"""The recorded side of a notebook: its session in the project's store (found by content),
else the stamp in its metadata, else its saved outputs alone; the one reader that verify,
export, stamp and the server's save hook share. Also the check of a stamp against the store."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import nbformat

from .._errors import UsageError
from ..project import relative_path
from .facts import SessionFacts, from_records, saved_outputs_only
from .sessions import choose_session, no_session_message, project_store, read_session
from .stamp_format import Finding, MalformedStamp, Stamp, read_stamp


class Stored(NamedTuple):
    facts: SessionFacts
    described: str  # where it came from, and how its session was found
    chain: dict[str, Any] | None  # {"seq", "hash"} of the session's last record read


def stored_session(
    nb: nbformat.NotebookNode, path: Path, *, with_outputs: bool = True, session: str | None = None
) -> Stored | None:
    """The facts of the notebook's recorded session in its project's store (found by
    content, the path a hint; ``session`` chooses one by id), if any; ``with_outputs=False``
    skips reading the recorded outputs' blobs. A ``session`` the store lacks is a UsageError."""
    store, root, folder = project_store(path)
    if store is None:
        if session is not None:
            raise UsageError(f"--session {session}: the project of {path} has no store ({folder})")
        return None
    try:
        match = choose_session(store, nb.cells, relative_path(path, root), root, session)
        if match is None:
            return None
        records, match = read_session(store, match, nb.cells)
        facts = from_records(records, nb, store.get_blob, with_outputs=with_outputs)
    finally:
        store.close()
    facts.match = match.to_dict()
    where = relative_path(folder, root)
    last = records[-1] if records else {}
    chain = {"seq": last["seq"], "hash": last["hash"]} if "seq" in last and "hash" in last else None
    return Stored(facts, f"store {where}, session {match.session_id[:8]}, found {match.describe()}", chain)


def recorded_side(
    nb: nbformat.NotebookNode, path: Path, session: str | None = None
) -> tuple[SessionFacts, str]:
    """The recorded facts, and a sentence saying where they came from: the store's session
    of this notebook, else its stamp, else its saved outputs alone. A malformed stamp is a
    ``NotebookError`` only when it is the recorded side (``checked_stamp`` reports it)."""
    try:
        stamp = read_stamp(nb, path.name)
        malformed = None
    except MalformedStamp as exc:
        stamp, malformed = None, exc
    stamped = stamp.facts if stamp is not None else None
    if stamped is not None:
        stamped.match = {"id": stamped.session_id, "matched_by": "stamp", "description": "the notebook's stamp"}
    if session is not None and stamped is not None and (stamped.session_id or "").startswith(session.strip().lower()):
        try:
            stored = stored_session(nb, path, session=session)
        except UsageError:  # the store lacks it; the stamp has it
            stored = None
    else:
        stored = stored_session(nb, path, session=session)
    if stored is not None:
        return stored.facts, stored.described
    if malformed is not None:
        raise malformed
    if stamped is not None:
        return stamped, f"stamp in the notebook's metadata, session {(stamped.session_id or '?')[:8]}"
    store, _root, folder = project_store(path)
    if store is not None:
        store.close()
    message = no_session_message(path.name, folder if store is not None else None)
    return saved_outputs_only(nb), f"saved outputs only, so causes cannot be named: {message}"


def checked_stamp(nb: nbformat.NotebookNode, path: Path) -> Stamp | None:
    """The notebook's stamp, checked against its seal and, when the project's store holds
    its session, against the store's records up to the chain position it came from. A
    malformed stamp is a finding here (None: the notebook has no stamp)."""
    try:
        stamp = read_stamp(nb, path.name)
    except MalformedStamp as exc:
        return Stamp(SessionFacts(source="stamp"), signed=False, findings=[(None, f"it is malformed ({exc.detail})")])
    if stamp is not None and stamp.signed:
        stamp.findings += _against_store(stamp, nb, path)
    return stamp


def _against_store(stamp: Stamp, nb: nbformat.NotebookNode, path: Path) -> list[Finding]:
    session_id, chain = stamp.facts.session_id, stamp.chain
    if not session_id or chain is None:
        return []
    store, _root, _folder = project_store(path)
    if store is None:
        return []
    try:
        records = store.session_records(session_id)
        if not records:  # another project's session: nothing here to check it against
            return []
        head = next((r for r in records if r.get("seq") == chain["seq"]), None)
        if head is None or head.get("hash") != chain["hash"]:
            return [(None, f"its chain position (seq {chain['seq']}) is not in the store's records of session {session_id[:8]}")]
        stored = from_records([r for r in records if r["seq"] <= chain["seq"]], nb, store.get_blob, with_outputs=False)
        ran = {r.get("run_id") for r in records if r["seq"] <= chain["seq"]}
    finally:
        store.close()
    return _differences(stamp.facts, stored, ran)


def _differences(stamped: SessionFacts, stored: SessionFacts, ran: set[Any]) -> list[Finding]:
    """Where the stamp says other than the store's records (by run id: the cells may have
    moved since the stamp was written)."""
    found: list[Finding] = []
    keys = ("session_id", "params", "git", "hardware", "pythonhashseed", "env")
    top = [k for k in keys if getattr(stamped, k) != getattr(stored, k) and not _older(k, getattr(stamped, k))]
    placed = {i: c.run_id for i, c in stamped.cells.items()} == {i: c.run_id for i, c in stored.cells.items()}
    if placed and stamped.order != stored.order:
        top.append("order")
    if top:
        found.append((None, f"its {', '.join(top)} differ from the store's session"))
    by_run = {c.run_id: c for c in stored.cells.values()}
    for index, cell in sorted(stamped.cells.items()):
        if cell.run_id not in ran:
            found.append((index, f"cell {index}'s run {str(cell.run_id)[:8]} is not in the store's session"))
            continue
        theirs = by_run.get(cell.run_id)
        if theirs is None:  # placed elsewhere now: nothing to compare it with
            continue
        mine, other = asdict(cell), asdict(theirs)
        fields = [k for k in mine if k not in ("index", "outputs", "order") and mine[k] != other[k] and not _older(k, mine[k])]
        if fields:
            found.append((index, f"cell {index}'s {', '.join(fields)} differ from the store's record"))
    return found


def _older(key: str, stamped: Any) -> bool:
    """A fact stamps began to carry later (the session's environment, the files digests),
    absent from a stamp written before: not an alteration (the seal covers what it holds)."""
    return key in ("env", "files") and not stamped
