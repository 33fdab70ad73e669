"""The recorded side of a notebook: its session in the project's store (found by content),
else the stamp in its metadata, else its saved outputs alone; the one reader that verify,
export, stamp and the server's save hook share."""

from __future__ import annotations

from pathlib import Path

import nbformat

from .._errors import UsageError
from ..project import relative_path
from .facts import SessionFacts, from_records, saved_outputs_only
from .sessions import choose_session, no_session_message, project_store, read_session


def stored_session(
    nb: nbformat.NotebookNode, path: Path, *, with_outputs: bool = True, session: str | None = None
) -> tuple[SessionFacts, str] | None:
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
    return facts, f"store {where}, session {match.session_id[:8]}, found {match.describe()}"


def recorded_side(
    nb: nbformat.NotebookNode, path: Path, session: str | None = None
) -> tuple[SessionFacts, str]:
    """The recorded facts, and a sentence saying where they came from: the store's session
    of this notebook, else its stamp, else its saved outputs alone."""
    stamped = SessionFacts.from_stamp(nb)
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
        return stored
    if stamped is not None:
        return stamped, f"stamp in the notebook's metadata, session {(stamped.session_id or '?')[:8]}"
    store, _root, folder = project_store(path)
    if store is not None:
        store.close()
    message = no_session_message(path.name, folder if store is not None else None)
    return saved_outputs_only(nb), f"saved outputs only, so causes cannot be named: {message}"
