from nbrepro.capture.git import parse_status


def test_parse_porcelain_v2() -> None:
    listing = "\0".join([
        "# branch.oid 0123456789abcdef0123456789abcdef01234567",
        "# branch.head feature/x",
        "1 .M N... 100644 100644 100644 aaa bbb src/a b.py",
        "2 R. N... 100644 100644 100644 aaa bbb R100 new name.py", "old name.py",
        "u UU N... 100644 100644 100644 100644 aaa bbb ccc conflict.txt",
        "? data/new file.csv",
        "",
    ])
    status = parse_status(listing)
    assert status.commit == "0123456789abcdef0123456789abcdef01234567"
    assert status.branch == "feature/x"
    assert status.changed == ["src/a b.py", "new name.py", "conflict.txt"]
    assert status.untracked == ["data/new file.csv"]
    assert status.dirty


def test_parse_initial_detached_clean() -> None:
    status = parse_status("# branch.oid (initial)\0# branch.head (detached)\0")
    assert status.commit is None and status.branch is None and not status.dirty
