"""The audit trail searched as any R4 server is (issue 12 item 8): an auditor's own FHIR tooling — here the
third-party client fhirpy, unmodified — works on this trail the way it works elsewhere: identifier and bare-id
reference searches, ``_id``, ``_lastUpdated``, counts, ``:missing`` / ``:not``, every date prefix, unknown
parameters ignored and reported (refused under ``Prefer: handling=strict``), reads with ``ETag`` and ``meta``, and a
CapabilityStatement that types each parameter as R4 does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import fhirpy.base.lib_sync
import pytest
from fhirpy import SyncFHIRClient

from tests.api.conftest import Node
from tests.api.test_audit_trail import (
    AUDITOR,
    KNOWN,
    OTHER,
    codes,
    enquiry_of,
    events,
    search,
    seed_trail,
    send_enquiries,
)

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


@pytest.fixture
def trail(node: Node) -> Node:
    return seed_trail(node)


@pytest.fixture
def enquiries(trail: Node) -> dict[str, int]:
    return send_enquiries(trail)


class _Reply:
    """What fhirpy reads of a ``requests`` response."""

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content


@pytest.fixture
def fhir(trail: Node, monkeypatch: pytest.MonkeyPatch) -> SyncFHIRClient:
    """fhirpy's own sync client, its HTTP calls answered by the node in process instead of over a socket."""

    def request(method: str, url: str, json: Any = None, headers: Any = None, **_: Any) -> _Reply:
        answer = trail.http.request(method.upper(), url, json=json, headers=headers)
        return _Reply(answer.status_code, answer.content)

    monkeypatch.setattr(fhirpy.base.lib_sync.requests, "request", request)
    token = trail.token(AUDITOR)
    return SyncFHIRClient(
        trail.services.settings.fhir_base,
        authorization=f"Bearer {token}",
        extra_headers={"Accept": "application/fhir+json"},
    )


def _ids(resources: list[Any]) -> list[str]:
    return [str(r["id"]) for r in resources]


def test_fhirpy_counts_pages_and_finds_a_person_by_identifier_and_by_bare_id(
    trail: Node, enquiries: dict[str, int], fhir: SyncFHIRClient
) -> None:
    audit = fhir.resources("AuditEvent")
    about_known = audit.search(patient=KNOWN["nhs"])
    everything = about_known.limit(1000).fetch()
    assert len(everything) > 6
    assert about_known.count() == len(everything)  # _count=0 with fhirpy's own _totalMethod, unknown here
    assert _ids(about_known.limit(3).fetch_all()) == _ids(everything)  # next links followed, every page

    by_identifier = audit.search(**{"patient:identifier": f"{NHS}|{KNOWN['nhs']}"}).limit(1000).fetch()
    assert _ids(by_identifier) == _ids(everything)
    by_agent = audit.search(**{"agent:identifier": f"{ODS}|LA0001"}, patient=KNOWN["nhs"]).limit(1000).fetch()
    assert by_agent
    assert {enquiry_of(e) for e in by_agent} == {"la1-a-s47", "la1-a-dsa", "la1-a-gen", "la1-a-old"}

    disclosed = next(e for e in everything if "disclose" in codes(e))
    person = next(x["what"]["reference"] for x in disclosed["entity"] if x.get("role", {}).get("code") == "1")
    bare = audit.search(patient=person.removeprefix("Patient/")).limit(1000).fetch()
    assert _ids(bare) == _ids(audit.search(patient=person).limit(1000).fetch())
    assert bare
    assert all("disclose" in codes(e) for e in bare)
    absolute = audit.search(patient=f"{trail.services.settings.fhir_base}/{person}").limit(1000).fetch()
    assert _ids(absolute) == _ids(bare)

    one = audit.search(_id=disclosed["id"]).get()
    assert one["id"] == disclosed["id"]
    assert one["meta"]["versionId"] == "1"


def test_fhirpy_date_prefixes_last_updated_not_and_missing(
    trail: Node, enquiries: dict[str, int], fhir: SyncFHIRClient
) -> None:
    audit = fhir.resources("AuditEvent").search(patient=KNOWN["nhs"])
    everything = audit.limit(1000).fetch()
    today = datetime.now(UTC).date()
    recent = _ids(audit.search(date__ge=(today - timedelta(days=30)).isoformat()).limit(1000).fetch())
    old = _ids(audit.search(date__ne=today.isoformat()).limit(1000).fetch())  # the record of 60 days ago
    assert sorted(recent + old, key=int) == sorted(_ids(everything), key=int)
    assert [enquiry_of(e) for e in audit.search(date__eb=(today - timedelta(days=30)).isoformat()).fetch()] == [
        "la1-a-old"
    ]
    assert _ids(audit.search(date__sa=(today - timedelta(days=30)).isoformat()).limit(1000).fetch()) == recent
    assert _ids(audit.search(_lastUpdated__ge=(today - timedelta(days=30)).isoformat()).limit(1000).fetch()) == recent
    assert _ids(audit.search(date__ap=(today - timedelta(days=60)).isoformat()).limit(1000).fetch()) == old

    refused = _ids(audit.search(outcome="8").limit(1000).fetch())
    allowed = _ids(audit.search(outcome__not="8").limit(1000).fetch())
    assert sorted(refused + allowed, key=int) == sorted(_ids(everything), key=int)
    with_policy = _ids(audit.search(policy__missing="false").limit(1000).fetch())
    without = _ids(audit.search(policy__missing="true").limit(1000).fetch())
    assert with_policy
    assert without
    assert sorted(with_policy + without, key=int) == sorted(_ids(everything), key=int)


def test_unknown_parameters_are_ignored_and_reported_and_refused_when_strict(
    trail: Node, enquiries: dict[str, int]
) -> None:
    auditor = trail.as_(AUDITOR)
    plain = search(trail, auditor, f"patient={KNOWN['nhs']}&_count=1000")
    lenient = search(trail, auditor, f"patient={KNOWN['nhs']}&_count=1000&subject=x&_totalMethod=count")
    matched = [e["resource"]["id"] for e in lenient["entry"] if e["search"]["mode"] == "match"]
    assert matched == [e["id"] for e in events(plain)]
    outcome = lenient["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert {i["diagnostics"] for i in outcome["resource"]["issue"]} == {
        "Search parameter 'subject' is not supported and was ignored",
        "Search parameter '_totalMethod' is not supported and was ignored",
    }
    own = urlsplit(next(link["url"] for link in lenient["link"] if link["relation"] == "self")).query
    assert "subject" not in own
    assert "_totalMethod" not in own
    assert "patient=" in own

    strict = trail.http.get(
        "/fhir/AuditEvent?subject=x", headers={**auditor, "Prefer": "handling=strict"}
    )  # the FHIR way to ask for refusal
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["subject"]


def test_summary_count_and_total_give_the_number_of_matches(trail: Node, enquiries: dict[str, int]) -> None:
    auditor = trail.as_(AUDITOR)
    matched = len(events(search(trail, auditor, f"patient={OTHER['nhs']}&_count=1000")))
    counted = search(trail, auditor, f"patient={OTHER['nhs']}&_summary=count")
    assert counted["total"] == matched
    assert "entry" not in counted
    paged = search(trail, auditor, f"patient={OTHER['nhs']}&_total=accurate&_count=2")
    assert paged["total"] == matched
    assert len(events(paged)) == 2
    too_many = search(trail, auditor, f"patient={OTHER['nhs']}&_count=5000")  # R4: return fewer, say so
    own = next(link["url"] for link in too_many["link"] if link["relation"] == "self")
    assert own.endswith("&_count=1000")
    assert len([e for e in too_many["entry"] if e["search"]["mode"] == "match"]) == matched
    assert any("1000" in i["diagnostics"] for e in too_many["entry"][-1:] for i in e["resource"].get("issue", []))


def test_a_read_carries_etag_last_modified_and_meta(trail: Node, enquiries: dict[str, int]) -> None:
    auditor = trail.as_(AUDITOR)
    read = trail.http.get("/fhir/AuditEvent/3", headers=auditor)
    assert read.status_code == 200
    event = read.json()
    assert read.headers["ETag"] == 'W/"1"'
    assert event["meta"]["versionId"] == "1"
    assert event["meta"]["lastUpdated"] == event["recorded"]
    assert read.headers["Last-Modified"].endswith(" GMT")
    found = events(search(trail, auditor, "_id=3"))
    assert found == [event]
    assert search(trail, auditor, "_id=3,4,999999&_summary=count")["total"] == 2
    vread = trail.http.get("/fhir/AuditEvent/3/_history/1", headers=auditor)
    assert vread.status_code == 200
    assert vread.json() == event
    assert trail.http.get("/fhir/AuditEvent/3/_history/2", headers=auditor).status_code == 404


def test_the_capability_statement_types_the_audit_parameters_as_r4_does(trail: Node) -> None:
    statement = trail.http.get("/fhir/metadata").json()
    audit = next(r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent")
    declared = {p["name"]: p["type"] for p in audit["searchParam"]}
    r4 = {
        "action": "token",
        "address": "string",
        "agent": "reference",
        "agent-name": "string",
        "agent-role": "token",
        "altid": "token",
        "date": "date",
        "entity": "reference",
        "entity-name": "string",
        "entity-role": "token",
        "entity-type": "token",
        "outcome": "token",
        "patient": "reference",
        "policy": "uri",
        "site": "token",
        "source": "reference",
        "subtype": "token",
        "type": "token",
        "purpose": "token",
        "_id": "token",
        "_lastUpdated": "date",
    }
    assert declared == r4
    assert {i["code"] for i in audit["interaction"]} == {"read", "vread", "search-type"}
