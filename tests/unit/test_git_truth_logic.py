"""The pure logic that gives each record the git state its cell saw: the write log, what a
cell saw of a file written after it, and how that changes a reading's part."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from nbrepro.capture import data
from nbrepro.capture.data import DataCollector
from nbrepro.capture.files import FileHashes
from nbrepro.capture.git import (
    IndexEntry,
    Reading,
    Status,
    decide,
    parse_index_debug,
    rewind_plan,
)

S = 1_000_000_000


def st(mtime: int = 100 * S, ctime: int | None = None, size: int = 4, ino: int = 7, mode: int = stat.S_IFREG | 0o644) -> Any:
    return SimpleNamespace(st_mode=mode, st_ino=ino, st_size=size, st_mtime_ns=mtime, st_ctime_ns=ctime or mtime)


def reading(started_ns: int, finished_ns: int, *, wall: int, listed: dict[str, Any] | None = None,
            snapshot: str = "snap", commit: str = "head", index_mtime: int | None = None,
            left_out: list[dict[str, Any]] | None = None) -> Reading:
    status = Status()
    status.commit = commit
    status.untracked = list(listed or {})
    stats = {p: (s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for p, s in (listed or {}).items()}
    part = {"commit": commit, "branch": "main", "dirty": bool(listed), "snapshot": snapshot, "left_out": left_out or []}
    return Reading(started_ns, wall, finished_ns, part, status, stats, index_mtime)


# -- what a cell saw of a file the kernel wrote after it ---------------------------------
def test_a_file_absent_before_the_write_was_absent() -> None:
    assert decide("out.csv", 50, None, None, None, []) == ("absent",)


def test_the_index_proves_a_blob_when_it_recorded_this_stat_and_not_racily() -> None:
    pre = st(mtime=100 * S, ctime=101 * S)
    entry = IndexEntry("100644", "ab" * 20, (101, 0), (100, 0), 7, 4)
    assert decide("t.txt", 50, pre, entry, 200 * S, []) == ("entry", "100644", "ab" * 20)
    # racily clean: the file's mtime is not older than the index file's
    assert decide("t.txt", 50, pre, entry, 100 * S, []) == ("unknown",)
    # another stat: the file changed since the index recorded it
    assert decide("t.txt", 50, st(mtime=150 * S), entry, 200 * S, []) == ("unknown",)


def test_a_reading_that_listed_the_file_with_this_stat_before_the_write_holds_it() -> None:
    pre = st(mtime=100 * S)
    q = reading(10, 20, wall=300 * S, listed={"out.txt": pre}, snapshot="q-snap", index_mtime=200 * S)
    assert decide("out.txt", 30, pre, None, None, [q]) == ("tree", "q-snap")
    # the reading had not finished when the write came: it may have seen the new content
    assert decide("out.txt", 15, pre, None, None, [q]) == ("unknown",)
    # the stat the reading saw is not the one just before the write
    assert decide("out.txt", 30, st(mtime=250 * S), None, None, [q]) == ("unknown",)
    # racily clean against the private index
    racy = reading(10, 20, wall=300 * S, listed={"out.txt": pre}, snapshot="q-snap", index_mtime=100 * S)
    assert decide("out.txt", 30, pre, None, None, [racy]) == ("unknown",)


def test_a_reading_that_left_the_file_out_gives_its_left_out_entry() -> None:
    pre = st()
    item = {"path": ".env", "size": 4, "why": "secret"}
    q = reading(10, 20, wall=300 * S, listed={".env": pre}, index_mtime=200 * S, left_out=[item])
    assert decide(".env", 30, pre, None, None, [q]) == ("left", item)


def test_a_file_unchanged_since_before_a_clean_reading_is_the_commits() -> None:
    pre = st(mtime=100 * S, ctime=100 * S)
    q = reading(10, 20, wall=300 * S, commit="c0")
    assert decide("t.txt", 30, pre, None, None, [q]) == ("commit", "c0")
    # changed after the reading started (or within a clock tick of it): not proven
    assert decide("t.txt", 30, st(ctime=300 * S - 1), None, None, [q]) == ("unknown",)
    # no commit yet: an unlisted file was ignored
    assert decide("t.txt", 30, pre, None, None, [reading(10, 20, wall=300 * S, commit=None)]) == ("same",)


def test_the_latest_reading_that_proves_it_wins_and_folders_are_unknown() -> None:
    pre = st(mtime=100 * S)
    old = reading(1, 2, wall=150 * S, listed={"out.txt": pre}, snapshot="old", index_mtime=200 * S)
    new = reading(3, 4, wall=300 * S, listed={"out.txt": pre}, snapshot="new", index_mtime=200 * S)
    assert decide("out.txt", 30, pre, None, None, [old, new]) == ("tree", "new")
    assert decide("data", 30, st(mode=stat.S_IFDIR | 0o755), None, None, [new]) == ("unknown",)


# -- how a reading's part changes --------------------------------------------------------
HEAD = {"tracked.txt": ("100644", "1" * 40), "pkg/a.py": ("100644", "2" * 40)}
OUT = {"out.csv": ("100644", "9" * 40)}


def test_an_untracked_file_absent_for_the_cell_leaves_the_listing_and_the_snapshot() -> None:
    plan = rewind_plan({"out.csv"}, [], HEAD, {**HEAD, **OUT}, {"out.csv": ("absent",)}, {})
    assert plan == (False, ["out.csv"], [], [])
    # a big one was never in the snapshot; it leaves left_out
    big = {"path": "out.csv", "size": 10**9, "why": "size"}
    assert rewind_plan({"out.csv", "x"}, [big], HEAD, HEAD, {"out.csv": ("absent",)}, {}) == (True, [], [], [])


def test_a_file_the_snapshot_holds_but_the_status_did_not_list_is_removed() -> None:
    """Written between the status and the snapshot: in the tree, not in the listing."""
    assert rewind_plan(set(), [], HEAD, {**HEAD, **OUT}, {"out.csv": ("absent",)}, {}) == (False, ["out.csv"], [], [])


def test_a_tracked_file_absent_for_the_cell_was_deleted() -> None:
    assert rewind_plan(set(), [], HEAD, HEAD, {"tracked.txt": ("absent",)}, {}) == (True, ["tracked.txt"], [], [])
    # a folder, and everything under it
    snap = {**HEAD, "pkg/new.py": ("100644", "3" * 40)}
    assert rewind_plan({"pkg/new.py"}, [], HEAD, snap, {"pkg": ("absent",)}, {}) == (True, ["pkg"], [], [])


def test_nothing_changes_when_the_cell_saw_what_the_reading_saw() -> None:
    assert rewind_plan(set(), [], HEAD, HEAD, {"tracked.txt": ("entry", "100644", "1" * 40)}, {}) is None
    assert rewind_plan(set(), [], HEAD, HEAD, {"ignored.log": ("same",), "gone.tmp": ("absent",)}, {}) is None
    assert rewind_plan({"out.csv"}, [], HEAD, {**HEAD, **OUT}, {"out.csv": ("entry", "100644", "9" * 40)}, {}) is None


def test_a_tracked_file_rewritten_later_shows_its_committed_blob() -> None:
    snap = {**HEAD, "tracked.txt": ("100644", "4" * 40)}
    plan = rewind_plan({"tracked.txt"}, [], HEAD, snap, {"tracked.txt": ("entry", "100644", "1" * 40)}, {})
    assert plan == (False, [], [("100644", "1" * 40, "tracked.txt")], [])
    plan = rewind_plan({"tracked.txt"}, [], HEAD, snap, {"tracked.txt": ("entry", "100644", "3" * 40)}, {})
    assert plan == (True, [], [("100644", "3" * 40, "tracked.txt")], [])


def test_an_unknown_file_is_left_out_as_written_later_and_makes_the_tree_dirty() -> None:
    plan = rewind_plan({"out.txt"}, [], HEAD, {**HEAD, "out.txt": ("100644", "5" * 40)}, {"out.txt": ("unknown",)}, {"out.txt": 6})
    assert plan == (True, ["out.txt"], [], [{"path": "out.txt", "size": 6, "why": "written-later"}])


def test_a_folder_that_existed_and_was_written_later_is_one_written_later_entry() -> None:
    snap = {**HEAD, "ds/part-0.parquet": ("100644", "6" * 40), "ds/part-1.parquet": ("100644", "7" * 40)}
    listed = {"ds/part-0.parquet", "ds/part-1.parquet"}
    plan = rewind_plan(listed, [], HEAD, snap, {"ds": ("unknown",)}, {})
    assert plan == (True, ["ds"], [], [{"path": "ds", "size": 0, "why": "written-later"}])


# -- index listing -------------------------------------------------------------------------
def test_parse_index_debug() -> None:
    listing = (
        "100644 45b983be36b73c0788dc9cbcb76cbb80fc7bb057 0\ta b.txt\0"
        "  ctime: 1796154870:663862670\n  mtime: 1796154870:663862671\n  dev: 65024\tino: 2162734\n"
        "  uid: 0\tgid: 0\n  size: 3\tflags: 0\n"
        "100644 587be6b4c3f93f93c489c0111bba5596147a26cb 2\tc.txt\0"
        "  ctime: 1:2\n  mtime: 3:4\n  dev: 1\tino: 5\n  uid: 0\tgid: 0\n  size: 2\tflags: 0\n"
    )
    entries = parse_index_debug(listing)
    assert list(entries) == ["a b.txt"]  # stage 2 (a conflict) is not a blob the file held
    e = entries["a b.txt"]
    assert e.oid == "45b983be36b73c0788dc9cbcb76cbb80fc7bb057" and e.size == 3 and e.ino == 2162734
    assert e.matches(st(mtime=1796154870 * S + 663862671, ctime=1796154870 * S + 663862670, size=3, ino=2162734))
    assert not e.matches(st(mtime=1796154870 * S + 663862672, ctime=1796154870 * S + 663862670, size=3, ino=2162734))


# -- the write log ---------------------------------------------------------------------------
def collector(root: Path) -> DataCollector:
    return DataCollector(root, root / ".nbrepro", FileHashes())


def test_the_write_log_keeps_the_first_write_per_path_between_cell_ends(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    (root / "old.txt").write_text("old")
    c = collector(root)
    c.begin()
    first = c.end()  # cell 1 ended
    c.note_write(str(root / "old.txt"))
    c.note_write(str(root / "old.txt"))  # the same interval: not logged again
    c.note_write(str(root / "new.txt"))
    c.note_write(str(root / ".git" / "index"))  # git's own, and outside the root: never the tree's
    c.note_write(str(tmp_path.parent / "elsewhere.txt"))
    c.begin()
    second = c.end()  # cell 2 ended
    (root / "old.txt").write_text("changed")
    c.note_write(str(root / "old.txt"))  # a later interval: logged, with the stat it has now
    later = c.later_writes(first, 2**63)
    assert sorted(later) == ["new.txt", "old.txt"]
    assert later["new.txt"][1] is None and later["old.txt"][1].st_size == 3
    assert c.later_writes(first, later["old.txt"][0] - 1) == {}  # the reading finished before them
    assert sorted(c.later_writes(second, 2**63)) == ["old.txt"]
    assert c.later_writes(second, 2**63)["old.txt"][1].st_size == len("changed")
    c.done_with(first)
    assert len(c.writes) == 5  # all made after cell 1 ended
    c.done_with(second)
    assert [w[1] for w in c.writes] == [str(root / "old.txt")]


def test_a_relative_path_is_resolved_against_the_cwd_of_the_write(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path.resolve()
    (root / "sub").mkdir()
    c = collector(root)
    c.begin()
    ended = c.end()
    monkeypatch.chdir(root / "sub")
    c.note_write("out.csv")
    monkeypatch.chdir(root)
    assert list(c.later_writes(ended, 2**63)) == ["sub/out.csv"]


def test_the_wrapped_entry_points_log_writes_renames_and_removals_but_not_reads(tmp_path: Path) -> None:
    from nbrepro.capture import opens

    root = tmp_path.resolve()
    c = collector(root)
    p = root / "f.txt"
    p.write_text("x")
    for name in ("gone.txt", "a.tmp", "rel.txt"):
        (root / name).write_text("x")
    opens.install(c)
    try:
        c.begin()
        with open(p) as fh:
            fh.read()
        assert c.writes == [] and len(c.opens) == 1
        with open(p, "w") as fh:
            fh.write("y")
        os.remove(root / "gone.txt")
        os.rename(root / "a.tmp", root / "a.txt")
        fd = os.open(root, os.O_RDONLY)
        try:
            os.remove("rel.txt", dir_fd=fd)  # relative to a directory descriptor: not resolvable
        finally:
            os.close(fd)
        assert [str(w[1]) for w in c.writes] == [str(p), str(root / "gone.txt"), str(root / "a.tmp"), str(root / "a.txt")]
        c.end()
        with open(p, "a") as fh:  # between cells too
            fh.write("z")
        p.read_text()
        assert len(c.writes) == 5 and c.opens == []
    finally:
        opens.uninstall(c)
    assert open is io.open and os.remove.__name__ == "remove" and not hasattr(os.remove, "__wrapped__")
