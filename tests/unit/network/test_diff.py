"""The changes from one serial to the next, one per entry, each named by what happened to it (network/diff.py)."""

from __future__ import annotations

from dataclasses import replace

from mais_node.network.diff import diff
from tests.registers import Authority, a_system, an_organisation

AUTHORITY = Authority()


def test_every_kind_of_change_is_named() -> None:
    org_a, org_b = an_organisation("LA0001"), an_organisation("LA0002")
    kept, revoked, suspended = a_system("s1"), a_system("s2"), a_system("s3", status="suspended")
    before = AUTHORITY.content(1, [org_a, org_b], [kept, revoked, suspended])
    after = AUTHORITY.content(
        2,
        [replace(org_a, operational_status="suspended"), an_organisation("LA0003")],
        [
            replace(kept, scopes=("mais/enquiry",)),
            replace(revoked, status="revoked"),
            replace(suspended, status="active"),
        ],
    )
    found = {(c.target, c.action) for c in diff(before, after)}
    assert found == {
        ("Organization/LA0001", "suspended"),
        ("Organization/LA0002", "removed"),
        ("Organization/LA0003", "added"),
        ("Endpoint/ep-LA0002", "removed"),
        ("Endpoint/ep-LA0003", "added"),
        ("Device/s1", "changed"),
        ("Device/s2", "revoked"),
        ("Device/s3", "reinstated"),
    }
    removed = next(c for c in diff(before, after) if c.action == "removed" and c.kind == "organisation")
    assert removed.before is not None
    assert removed.after is None


def test_a_new_issue_time_alone_is_not_a_change() -> None:
    systems = [a_system("s1")]
    first = AUTHORITY.content(1, [an_organisation()], systems)
    second = AUTHORITY.content(2, [an_organisation()], [replace(systems[0], created="2030-01-01T00:00:00+00:00")])
    assert diff(first, second) == []
