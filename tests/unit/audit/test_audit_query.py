"""Auditor search (R4 AuditEvent search parameters, issue 6 §5): parsing, matching, date order and keyset paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mais_node.audit import balp
from mais_node.audit.memory import MemoryAuditLog
from mais_node.audit.query import AuditQuery, parse_audit_query, parse_audit_search
from mais_node.audit.search import page as audit_page
from mais_node.errors import InvalidRequest, UnknownSearchParameter
from tests.unit.audit.audit_builders import NODE, T0, actor, decision_event, fill


def search(log: MemoryAuditLog, **params: str) -> list[int]:
    """All matching seqs, following every page."""
    pairs = [(k.replace("_dash_", "-").replace("_colon_", ":"), v) for k, v in params.items()]
    query, seqs = parse_audit_query(pairs), []
    while True:
        page = audit_page(log, query)
        seqs += [r.seq for r in page.records]
        if page.next_cursor is None:
            return seqs
        query = parse_audit_query([*pairs, ("_cursor", page.next_cursor)])


@pytest.fixture
def filled(log: MemoryAuditLog) -> MemoryAuditLog:
    fill(log, 30, step=timedelta(days=1))  # orgs A0/A1/A2 in turn, five people, one a day from 1 March
    return log


@pytest.mark.parametrize(
    ("value", "since", "until"),
    [
        ("2026-03", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
        ("ge2026-03-05", datetime(2026, 3, 5, tzinfo=UTC), None),
        ("gt2026-03-05", datetime(2026, 3, 6, tzinfo=UTC), None),
        ("le2026-03-05", None, datetime(2026, 3, 6, tzinfo=UTC)),
        ("lt2026-03-05", None, datetime(2026, 3, 5, tzinfo=UTC)),
        ("eq2026", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("ge2026-03-05T10:30", datetime(2026, 3, 5, 10, 30, tzinfo=UTC), None),
        ("le2026-03-05T10:30:00+01:00", None, datetime(2026, 3, 5, 9, 30, 1, tzinfo=UTC)),
    ],
)
def test_date_prefixes_become_a_half_open_window(value: str, since: datetime | None, until: datetime | None) -> None:
    query = parse_audit_query([("date", value)])
    assert (query.since, query.until) == (since, until)


def test_two_date_parameters_narrow_the_window() -> None:
    query = parse_audit_query([("date", "ge2026-03-01"), ("date", "lt2026-03-08"), ("date", "ge2026-02-01")])
    assert (query.since, query.until) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))


@pytest.mark.parametrize(
    "pair",
    [
        ("date", "xx2026"),
        ("date", "2026-13"),
        ("date", "yesterday"),
        ("_count", "-1"),
        ("_count", "ten"),
        ("patient:contains", "943"),
        ("outcome:missing", "maybe"),
        ("_sort", "seq"),
        ("_cursor", "!!"),
        ("patient", ","),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(pair: tuple[str, str]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_audit_query([pair])
    assert refused.value.issues[0].expression == (pair[0],)


def test_an_unknown_parameter_is_ignored_and_reported_or_refused_when_strict() -> None:
    lenient = parse_audit_search([("subject", "x"), ("_include", "AuditEvent:agent"), ("outcome", "8")])
    assert lenient.ignored == ["subject", "_include"]
    assert lenient.used == [("outcome", "8")]
    with pytest.raises(UnknownSearchParameter):
        parse_audit_search([("subject", "x")], strict=True)
    with pytest.raises(UnknownSearchParameter):
        parse_audit_query([("subject", "x")])  # in code a misspelt parameter is an error
    with pytest.raises(UnknownSearchParameter, match="'_summary=true' is not supported on AuditEvent"):
        parse_audit_search([("_summary", "true")], strict=True)


def test_count_zero_asks_for_the_total_and_a_count_above_the_maximum_is_capped_and_said() -> None:
    assert parse_audit_query([("_count", "0")]).count == 0
    capped = parse_audit_search([("_count", "1001")])
    assert capped.query.count == 1000
    assert capped.notes == ["_count 1001 is above the maximum: pages hold at most 1000 records"]


def test_ne_sa_eb_and_ap_dates(filled: MemoryAuditLog) -> None:
    assert search(filled, date="ne2026-03-02") == [1, *range(3, 31)]
    assert search(filled, date="sa2026-03-28") == [29, 30]
    assert search(filled, date="eb2026-03-03") == [1, 2]
    now = datetime(2026, 3, 31, tzinfo=UTC)  # 30 days after 1 March: 3 days either side
    query = parse_audit_query([("date", "ap2026-03-01")], now=now)
    assert (query.since, query.until) == (datetime(2026, 2, 26, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))


def test_not_missing_identifier_and_bare_ids(filled: MemoryAuditLog) -> None:
    assert search(filled, subtype_colon_not="permit") == []
    assert search(filled, subtype_colon_not="deny", _count="100") == list(range(1, 31))
    assert search(filled, policy_colon_missing="false") == list(range(1, 31))
    assert search(filled, policy_colon_missing="true") == []
    assert search(filled, patient_colon_identifier="https://fhir.nhs.uk/Id/nhs-number|9434765901") == [
        2,
        7,
        12,
        17,
        22,
        27,
    ]
    assert search(filled, patient_colon_identifier="https://other|9434765901") == []
    assert search(filled, _id="7,9") == [7, 9]
    assert search(filled, agent_dash_name_colon_exact="Sam Worker", _count="100") == list(range(1, 31))
    assert search(filled, agent_dash_name_colon_exact="sam worker") == []
    assert search(filled, agent_dash_name_colon_contains="WORK", _count="100") == list(range(1, 31))
    assert search(filled, policy_colon_below="https://dsa.test/SharingPolicy", _count="100") == list(range(1, 31))


def test_format_parameters_are_ignored() -> None:
    assert parse_audit_query([("_format", "json"), ("_pretty", "true")]) == AuditQuery()


def test_patient_by_nhs_number_with_or_without_system(filled: MemoryAuditLog) -> None:
    assert search(filled, patient="9434765901") == [2, 7, 12, 17, 22, 27]
    assert search(filled, patient="https://fhir.nhs.uk/Id/nhs-number|9434765901") == [2, 7, 12, 17, 22, 27]
    assert search(filled, patient="https://other|9434765901") == []


def test_agent_in_a_date_window_newest_first(filled: MemoryAuditLog) -> None:
    assert search(filled, agent="A1", date="2026-03", _sort="-date") == [29, 26, 23, 20, 17, 14, 11, 8, 5, 2]
    assert search(filled, agent="A1", date="ge2026-03-20") == [20, 23, 26, 29]
    assert search(filled, agent="https://fhir.nhs.uk/Id/ods-organization-code|A1", date="lt2026-03-03") == [2]


def test_comma_is_or_and_parameters_are_and(filled: MemoryAuditLog) -> None:
    assert search(filled, agent="A1,A2", patient="9434765900") == [6, 11, 21, 26]


def test_token_parameters_match_code_or_system_and_code(filled: MemoryAuditLog) -> None:
    assert len(search(filled, purpose="THREAT")) == 30
    assert len(search(filled, purpose="http://terminology.hl7.org/CodeSystem/v3-ActReason|THREAT")) == 30
    assert search(filled, purpose="http://terminology.hl7.org/CodeSystem/v3-ActReason|PUBHLTH") == []
    assert (
        len(search(filled, type="http://dicom.nema.org/resources/ontology/DCM|110113", outcome="0", action="E")) == 30
    )
    assert len(search(filled, subtype="permit", source="X26", site="https://node.test/fhir")) == 30
    assert len(search(filled, policy="https://dsa.test/SharingPolicy/7|2", address="10.0.0.7")) == 30
    assert len(search(filled, entity="national.s47.is-known", entity_dash_role="13", entity_dash_type="1")) == 30


def test_agent_name_is_a_case_insensitive_prefix(filled: MemoryAuditLog) -> None:
    assert len(search(filled, agent_dash_name="sam")) == 30
    assert search(filled, agent_dash_name="worker") == []
    assert len(search(filled, agent_dash_role="158965000")) == 30


def test_outcome_and_review_subtype(log: MemoryAuditLog) -> None:
    log.append(decision_event(outcome="permit"))
    log.append(decision_event(outcome="deny"))
    log.append(decision_event(outcome="review"))
    assert search(log, outcome="8") == [2]
    assert search(log, subtype="review") == [3]


def test_keyset_paging_visits_every_record_once_in_date_order(filled: MemoryAuditLog) -> None:
    page = filled.search(parse_audit_query([("_count", "7")]))
    assert [r.seq for r in page.records] == [1, 2, 3, 4, 5, 6, 7]
    assert page.next_cursor
    assert search(filled, _count="7") == list(range(1, 31))
    assert search(filled, _count="4", _sort="-date") == list(range(30, 0, -1))


def test_date_order_follows_recorded_time_not_seq(log: MemoryAuditLog) -> None:
    log.append(decision_event(at=T0 + timedelta(hours=1)))
    log.append(decision_event(at=T0))
    assert search(log, _count="1") == [2, 1]


def test_a_search_by_who_did_the_search_finds_the_auditors_own_searches(log: MemoryAuditLog) -> None:
    log.append(balp.audit_searched(NODE, T0, actor("AUD", "auditor-1"), query="patient=943", returned=2))
    log.append(decision_event())
    assert search(log, agent="auditor-1", subtype="audit-search") == [1]
