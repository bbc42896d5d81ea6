"""MAIS SharingPolicy documents: parsing, dates in force, parties, versions, compilation to Cedar rules."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import NotConformant
from mais_node.policy import (
    ClauseEffect,
    Item,
    SharingPolicy,
    compile_sharing_policies,
    compile_sharing_policy,
    current_versions,
    parse_sharing_policy,
    read_sharing_policy,
)

EXAMPLE = DEFAULTS / "sharing-policies" / "LA0001-NODE01-2026.json"


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    document.update(changes)
    return document


def test_the_example_agreement_reads_as_the_standard_describes_it(demo_agreement: SharingPolicy) -> None:
    assert demo_agreement.identifier == "LA0001-NODE01-2026"
    assert demo_agreement.party_codes == {"LA0001", "NODE01"}
    assert demo_agreement.purposes == ("general-safeguarding", "already-open")
    assert demo_agreement.data_categories == {"involvement"}
    assert (demo_agreement.start, demo_agreement.end) == (date(2026, 1, 1), date(2028, 12, 31))
    assert demo_agreement.key == "dsa:LA0001-NODE01-2026:v1"


def test_odrl_read_grants_is_known_and_is_open_but_the_contact_only_by_name(demo_agreement: SharingPolicy) -> None:
    clauses = {clause.rule_id.rsplit(":", 1)[-1]: clause.items for clause in demo_agreement.clauses()}

    assert clauses == {
        "permitted-use-1": {Item.IS_KNOWN, Item.IS_OPEN},
        "permitted-use-2": {Item.CONTACT},
    }


def test_restrictions_that_name_no_request_type_bind_the_recipient_and_compile_to_nothing(
    demo_agreement: SharingPolicy,
) -> None:
    assert demo_agreement.restrictions == ("http://www.w3.org/ns/odrl/2/distribute",)
    assert all(clause.effect is ClauseEffect.PERMIT for clause in demo_agreement.clauses())


@pytest.mark.parametrize(
    ("at", "in_force"),
    [
        ("2025-12-31T23:59:59+00:00", False),
        ("2026-01-01T00:00:00+00:00", True),
        ("2028-12-31T23:59:59+00:00", True),
        ("2029-01-01T00:00:00+00:00", False),
        ("2029-01-01T00:30:00+01:00", True),
    ],
)
def test_in_force_between_its_dates_inclusive_in_utc(demo_agreement: SharingPolicy, at: str, in_force: bool) -> None:
    assert demo_agreement.in_force(datetime.fromisoformat(at)) is in_force


def test_a_retired_agreement_is_never_in_force(demo_agreement: SharingPolicy) -> None:
    assert not demo_agreement.retired().in_force(datetime(2026, 6, 1, tzinfo=UTC))


def test_names_parties_needs_both(demo_agreement: SharingPolicy) -> None:
    assert demo_agreement.names_parties("LA0001", "NODE01")
    assert not demo_agreement.names_parties("LA0002", "NODE01")


def test_a_non_conformant_document_reports_every_problem_at_once() -> None:
    document = _document(Party=[{"Name": "No id"}], StartDate="soon", Data=["free text only"], Version=0)
    del document["Purpose"]

    with pytest.raises(NotConformant) as refused:
        parse_sharing_policy(document)

    where = {issue.expression[0] for issue in refused.value.issues}
    assert where == {
        "SharingPolicy.Party[0].CatalogueID[0]",
        "SharingPolicy.StartDate",
        "SharingPolicy.Data",
        "SharingPolicy.Version",
        "SharingPolicy.Purpose",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"Identifier": {"value": 'bad"id', "System": "urn:x"}},
        {"Identifier": {"value": "LA0001-NODE01\n", "System": "urn:x"}},
        {"EndDate": "2025-01-01"},
        {"Status": "paused"},
        {"PermittedUse": [{"system": "urn:x"}]},
        {"Party": ["LA0001"]},
    ],
    ids=[
        "unsafe-identifier",
        "identifier-with-a-trailing-newline",
        "ends-before-it-starts",
        "unknown-status",
        "code-without-code",
        "party-not-object",
    ],
)
def test_a_document_with_a_bad_field_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(NotConformant):
        parse_sharing_policy(_document(**changes))


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(NotConformant):
        parse_sharing_policy(["not", "an", "object"])


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")

    with pytest.raises(NotConformant):
        read_sharing_policy(path)


def test_uses_that_grant_no_request_type_are_reported(demo_agreement: SharingPolicy) -> None:
    odd = replace(demo_agreement, permitted_uses=("odrl:reproduce", "is-known"))

    assert odd.unmapped_uses == ("odrl:reproduce",)
    assert [clause.rule_id for clause in odd.clauses()] == ["dsa:LA0001-NODE01-2026:v1:clause:permitted-use-2"]


def test_a_higher_version_supersedes_and_a_retired_latest_version_revives_nothing(
    demo_agreement: SharingPolicy,
) -> None:
    v2 = replace(demo_agreement, version=2)
    other = replace(demo_agreement, identifier="LA0002-NODE01-2026")

    assert current_versions([v2, demo_agreement, other]) == (v2, other)
    assert current_versions([demo_agreement, v2.retired()]) == ()


def test_compiled_rule_ids_name_agreement_version_and_clause(demo_agreement: SharingPolicy) -> None:
    source = compile_sharing_policy(replace(demo_agreement, version=3), "NODE01")

    assert source.name == "sharing-policy:LA0001-NODE01-2026:v3"
    assert '@id("dsa:LA0001-NODE01-2026:v3:clause:permitted-use-1")' in source.text
    assert '@id("dsa:LA0001-NODE01-2026:v3:clause:permitted-use-2")' in source.text
    assert '[Organisation::"LA0001"].contains(principal)' in source.text
    assert 'context.time < datetime("2029-01-01T00:00:00Z")' in source.text


def test_only_current_active_versions_compile(demo_agreement: SharingPolicy) -> None:
    retired = replace(demo_agreement, identifier="OLD-AGREEMENT").retired()

    sources = compile_sharing_policies([demo_agreement, replace(demo_agreement, version=2), retired], "NODE01")

    assert [source.name for source in sources] == ["sharing-policy:LA0001-NODE01-2026:v2"]


@pytest.mark.parametrize("node", ["NODE99", "LA0001"])
def test_an_agreement_must_name_this_node_and_another_party(demo_agreement: SharingPolicy, node: str) -> None:
    alone = replace(demo_agreement, parties=demo_agreement.parties[:1])

    with pytest.raises(NotConformant):
        compile_sharing_policy(alone if node == "LA0001" else demo_agreement, node)
