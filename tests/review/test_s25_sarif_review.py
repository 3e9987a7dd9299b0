"""Adversarial review of s25 (SARIF): a file named with ``..`` must not get a %SRCROOT%-relative
URI that leaves the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.reports.sarif import SRCROOT, SourceRoot

ROOT = SourceRoot(
    root=Path("/repo"),
    base=Path("/repo/proj"),
    prefixes={"tiny": Path("/repo/proj/models/tiny")},
)


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("../../etc/passwd", {"uri": "file:///etc/passwd"}),
        ("tiny/../../../../etc/passwd", {"uri": "file:///etc/passwd"}),
        ("../requirements.txt", {"uri": "requirements.txt", "uriBaseId": SRCROOT}),
        ("tiny/a#b?c.pt", {"uri": "proj/models/tiny/a%23b%3Fc.pt", "uriBaseId": SRCROOT}),
    ],
)
def test_a_dotdot_name_never_leaves_srcroot(file: str, expected: dict[str, str]) -> None:
    location = ROOT.location(file)
    assert location == expected
    assert ".." not in location["uri"].split("/")
