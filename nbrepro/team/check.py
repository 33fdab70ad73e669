"""``nbrepro log --check``'s second half: the store against every anchor it can reach."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import UsageError
from ..capture import describe
from ..store import SQLiteStore
from ..store.chain import seq_of
from .anchors import Anchor, Comparison, GitFailed, read_git


@dataclass
class AnchorCheck:
    store_id: str | None
    problems: list[str] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)  # "git"/"mlflow" -> sessions compared
    signed: int = 0  # git anchors with a good signature
    others: set[str] = field(default_factory=set)  # ids of other stores with git anchors here
    notes: list[str] = field(default_factory=list)  # anchors that could not be read, and why


def check_anchors(store: SQLiteStore, root: Path, tracking_uri: str | None) -> AnchorCheck:
    """Compare ``store`` with its git anchors (in the repository at ``root``) and, given a
    ``tracking_uri``, with the anchors of its MLflow runs."""
    result = AnchorCheck(store.store_id())
    comparison = Comparison(sorted([*store.records(), *store.marks()], key=seq_of))
    try:
        found = read_git(root)
    except (GitFailed, OSError, subprocess.TimeoutExpired) as exc:
        found = []
        result.notes.append(f"git anchors not read: {describe(exc)}")
    mine = [a for a in found if a.store_id == result.store_id]
    result.others = {a.store_id for a in found} - {result.store_id}
    result.signed = sum(1 for a in mine if a.signature in ("G", "U"))
    _compare(result, comparison, "git", mine)
    if tracking_uri:
        try:
            from . import mlflow_run

            client = mlflow_run.connect(tracking_uri)
        except ImportError as exc:
            raise UsageError("--tracking-uri needs MLflow: pip install 'nbrepro[mlflow]'") from exc
        try:
            remote = mlflow_run.anchors(client, result.store_id) if result.store_id else []
        except Exception as exc:  # noqa: BLE001 - a server down or refusing: said, not a broken chain
            result.notes.append(f"mlflow anchors not read from {tracking_uri}: {describe(exc)}")
        else:
            _compare(result, comparison, "mlflow", remote)
    return result


def _compare(result: AnchorCheck, comparison: Comparison, kind: str, found: list[Anchor]) -> None:
    result.compared[kind] = len(found)
    result.problems.extend(p for a in found if (p := comparison.problem(a)) is not None)


def tracking_uri(given: str | None) -> str | None:
    """``--tracking-uri``, else ``NBREPRO_MLFLOW_TRACKING_URI``, else MLflow's own ``MLFLOW_TRACKING_URI``."""
    return given or os.environ.get("NBREPRO_MLFLOW_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI") or None
