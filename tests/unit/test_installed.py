"""The one-pass scan of the installed set gives what importlib.metadata gives, on this very
environment (every distribution the test extra installed)."""

from __future__ import annotations

import importlib.metadata as md

from packaging.requirements import Requirement

from nbrepro.capture import installed


def test_the_scan_agrees_with_importlib_metadata() -> None:
    scanned = installed.scan()
    expected: dict[str, str] = {}
    requires: dict[str, list[str]] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name not in expected:
            expected[name] = dist.version
            requires[name] = [
                Requirement(r).name for r in dist.requires or [] if "extra ==" not in r.replace("'", '"')
            ]
    assert scanned.versions == expected
    assert scanned.requires == requires
    assert scanned.by_module == {k: list(dict.fromkeys(v)) for k, v in md.packages_distributions().items()}
    assert len(expected) > 50  # the test extra's environment, not an empty one
