"""``nbrepro gc``: prune whole sessions, their blobs and their snapshot refs together."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from .._errors import CheckFailed, UsageError
from ..capture import describe, refs
from ..store import gc as store_gc
from ..store import recovery
from ._common import open_project_store


@click.command()
@click.option("--keep", type=click.IntRange(min=0), metavar="N", help="Keep the N most recent sessions, prune the rest.")
@click.option(
    "--older-than", "older_than", type=click.FloatRange(min=0), metavar="DAYS",
    help="Prune the sessions whose last cell ran more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be pruned; change nothing.")
def gc(keep: int | None, older_than: float | None, dry_run: bool) -> None:
    """Prune old sessions: their records, the blobs no other record uses, and their git
    snapshot refs. A sealed marker takes each pruned range's place in the hash chain, so
    `nbrepro log --check` still checks every link. In a git project, a session whose kernel
    is still running is never pruned."""
    if (keep is None) == (older_than is None):
        raise UsageError("give one of --keep N or --older-than DAYS")
    store, root, _rel = open_project_store()
    try:
        problems = store.check()
        if problems:
            raise CheckFailed(
                f"the hash chain of {store.location} is broken ({len(problems)} problem(s)): nothing was pruned;"
                " nbrepro log --check lists them"
            )
        if not dry_run:
            recovery.merge(store, Path(store.location).parent, lambda _kind, msg: click.echo(f"nbrepro: note: {msg}", err=True))
        snapshot_refs, live, refs_note = _snapshot_refs(root)
        now = datetime.now(timezone.utc)
        cutoff = _iso(now - timedelta(days=older_than)) if older_than is not None else None
        by = "nbrepro gc " + (f"--keep {keep}" if keep is not None else f"--older-than {older_than:g}")
        plan = store_gc.prune(store, store_gc.select(keep, cutoff, protect=live), by, _iso(now), dry_run)
    finally:
        store.close()
    known = {s.session_id for s in [*plan.pruned, *plan.kept]}
    pruned = {s.session_id for s in plan.pruned}
    # Refs of pruned sessions, and of sessions this store never saw whose kernel is gone
    # (verify's reruns record into a temporary store but snapshot into the project).
    stale = sorted(ref for sid, ref in snapshot_refs.items() if sid in pruned or (sid not in known and sid not in live))
    if stale and not dry_run:
        try:
            refs.drop(root, stale)
        except Exception as exc:  # noqa: BLE001 - the store is pruned already; the refs go next time
            refs_note = f"snapshot refs left in place ({describe(exc)}); the next gc drops them"
            stale = []
    verb = "would prune" if dry_run else "pruned"
    unknown = sum(1 for ref in stale if ref.rsplit("/", 1)[-1] not in known)
    ref_text = f"{len(stale)} snapshot ref(s)" + (f" ({unknown} of sessions this store has no records of)" if unknown else "")
    click.echo(
        f"{verb} {len(plan.pruned)} session(s): {plan.records} record(s), {plan.blobs} blob(s), {ref_text};"
        f" kept {len(plan.kept)} session(s)"
    )
    for s in sorted(plan.pruned, key=lambda s: s.last_seq):
        notebooks = ", ".join(sorted(s.notebooks)) or "-"
        last = s.last_started_at[:19].replace("T", " ")
        click.echo(f"  session {s.session_id[:8]}  {s.records} record(s), seq {s.first_seq}-{s.last_seq}, last run {last}  {notebooks}")
    if plan.markers:
        ranges = ", ".join(f"{m['first_seq']}-{m['seq']}" for m in plan.markers)
        click.echo(f"{'each' if len(plan.markers) > 1 else 'the'} pruned range (seq {ranges}) {'would be' if dry_run else 'is'}"
                   " a sealed marker in the hash chain")
    if refs_note:
        click.echo(f"nbrepro: note: {refs_note}", err=True)
    if dry_run:
        click.echo("nothing changed (--dry-run)")


def _snapshot_refs(root: Path) -> tuple[dict[str, str], set[str], str | None]:
    """The project's snapshot refs by session, the sessions still running, and a note when
    git could not say."""
    if not (root / ".git").exists():
        return {}, set(), None
    try:
        return refs.session_refs(root), refs.live_sessions(root), None
    except Exception as exc:  # noqa: BLE001 - git missing or broken: prune the store, leave the refs
        return {}, set(), f"snapshot refs left in place: git failed ({describe(exc)})"


def _iso(when: datetime) -> str:
    """The form records write ``started_at`` in, so times compare as strings."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
