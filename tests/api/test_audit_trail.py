"""The audit trail for auditors over HTTP (issue 6, DESIGN §7), in process with real tokens: the one search that
answers "every enquiry organisation X made about person Y last month, what was decided, under which agreement and
rule, and what was disclosed"; keyset paging; append-only; audited searches; signed checkpoints; fail closed."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from mais_node.adapters.jose_signer import KeyRingSigner
from mais_node.audit import balp
from mais_node.audit.actors import Actor, Subject
from mais_node.audit.checkpoint import Checkpoint
from mais_node.audit.verify import verify
from mais_node.config import DEFAULTS
from mais_node.enquiry.records import to_contract
from mais_node.policy import parse_sharing_policy
from mais_node.storage.sqlite_audit import SqliteAuditLog
from tests.api.conftest import Node, make_node
from tests.api.test_enquiry import FHIR, KNOWN, PURPOSE, ask, parameters, person, subject

AUDITOR = "system/AuditEvent.rs"
AGREEMENT = "LA0001-NODE01-2026"
OTHER = {"nhs": "9434765935", "family": "Bello", "given": "Kemi", "birthDate": "2012-09-03", "postcode": "LS7 1AA"}
BASE = "https://mais.example.org/fhir"
ENQUIRY_ID = f"{BASE}/Id/enquiry"
RULE_ID = f"{BASE}/Id/rule"
SUBTYPES = f"{BASE}/CodeSystem/audit-event-subtype"


@pytest.fixture
def trail(node: Node) -> Node:
    return seed_trail(node)


def seed_trail(node: Node) -> Node:
    """Two local authorities, two known people (one with an open episode), and the agreement LA0001 relies on."""
    node.organisation("LA0001")
    node.organisation("LA0002")
    admin = {**FHIR, **node.as_("system/*.cruds mais/admin")}
    team = {"resourceType": "Organization", "name": "North Team", "telecom": [{"system": "phone", "value": "0113 1"}]}
    team_id = node.http.post("/fhir/Organization", content=orjson.dumps(team), headers=admin).json()["id"]
    for who in (KNOWN, OTHER):
        pid = node.http.post("/fhir/Patient", content=orjson.dumps(person(*who.values())), headers=admin).json()["id"]
        episode = {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "patient": {"reference": f"Patient/{pid}"},
            "managingOrganization": {"reference": f"Organization/{team_id}"},
        }
        node.http.post("/fhir/EpisodeOfCare", content=orjson.dumps(episode), headers=admin)
    document = orjson.loads(Path(DEFAULTS / f"sharing-policies/{AGREEMENT}.json").read_bytes())
    node.services.resources.update("Contract", AGREEMENT, to_contract(document, parse_sharing_policy(document)))
    node.services.rules.refresh(force=True)
    node.services.persons.refresh()
    return node


def about(who: dict[str, str]) -> dict[str, Any]:
    name = [{"use": "official", "family": who["family"], "given": [who["given"]]}]
    return subject(who["nhs"], name=name, birthDate=who["birthDate"])


def enquire(
    node: Node,
    request_id: str,
    who: dict[str, str],
    *extra: dict[str, Any],
    headers: dict[str, str],
    reason: dict[str, Any] | None = None,
) -> int:
    """Send a $person-info-query carrying our own requestId; the status code."""
    body = parameters({"name": "requestId", "valueString": request_id}, *extra, reason=reason, who=about(who))
    answer = node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers={**FHIR, **headers})
    return answer.status_code


def search(node: Node, headers: dict[str, str], query: str) -> dict[str, Any]:
    answer = node.http.get(f"/fhir/AuditEvent?{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    bundle: dict[str, Any] = answer.json()
    return bundle


def events(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def enquiry_of(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity", []):
        identifier = (entity.get("what") or {}).get("identifier") or {}
        if identifier.get("system") == ENQUIRY_ID:
            return str(identifier["value"])
    return None


def codes(event: dict[str, Any]) -> set[str]:
    return {coding["code"] for coding in event.get("subtype", [])}


def rules_of(event: dict[str, Any]) -> set[str]:
    return {
        entity["what"]["identifier"]["value"]
        for entity in event.get("entity", [])
        if (entity.get("what") or {}).get("identifier", {}).get("system") == RULE_ID
    }


def requester(event: dict[str, Any]) -> dict[str, Any]:
    return next(agent for agent in event["agent"] if agent.get("requestor"))


def window(days: int = 30) -> str:
    today = datetime.now(UTC).date()
    return f"date=ge{(today - timedelta(days=days)).isoformat()}&date=lt{(today + timedelta(days=1)).isoformat()}"


@pytest.fixture
def enquiries(trail: Node) -> dict[str, int]:
    return send_enquiries(trail)


def send_enquiries(trail: Node) -> dict[str, int]:
    """Enquiries from LA0001 and LA0002 about two people; returns request id -> HTTP status."""
    la1, la2 = trail.as_("mais/enquiry", "LA0001"), trail.as_("mais/enquiry", "LA0002")
    agreement = {"name": "sharingPolicy", "valueString": AGREEMENT}
    general = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
    sent = {
        "la1-a-s47": enquire(trail, "la1-a-s47", KNOWN, *ask("is-known", "is-open"), headers=la1),
        "la1-a-dsa": enquire(trail, "la1-a-dsa", KNOWN, agreement, *ask("is-known"), headers=la1),
        "la1-b-s47": enquire(trail, "la1-b-s47", OTHER, headers=la1),
        "la2-a-s47": enquire(trail, "la2-a-s47", KNOWN, headers=la2),
        "la2-b-s47": enquire(trail, "la2-b-s47", OTHER, headers=la2),
    }
    assert set(sent.values()) == {200}, sent
    # The same organisation asked about the same person two months ago: outside the auditor's window.
    old = datetime.now(UTC) - timedelta(days=60)
    trail.services.checkpointer.append(
        balp.enquiry_received(
            trail.services.node,
            old,
            Actor(org_ods="LA0001", client_id="old-client"),
            enquiry_id="la1-a-old",
            raw_request=b"{}",
            subject=Subject(nhs_number=KNOWN["nhs"]),
        )
    )
    assert enquire(trail, "la1-a-gen", KNOWN, agreement, headers=la1, reason=general) == 200
    return sent


def test_one_search_answers_what_organisation_x_asked_about_person_y_and_what_was_decided_and_disclosed(
    trail: Node, enquiries: dict[str, int]
) -> None:
    auditor = trail.as_(AUDITOR)
    found = events(search(trail, auditor, f"agent=LA0001&patient={KNOWN['nhs']}&{window()}&_count=1000"))

    assert {enquiry_of(e) for e in found} == {"la1-a-s47", "la1-a-dsa", "la1-a-gen"}
    for event in found:
        assert any(a.get("who", {}).get("identifier", {}).get("value") == "LA0001" for a in event["agent"])
        patients = [e["what"] for e in event["entity"] if e.get("role", {}).get("code") == "1"]
        assert [p["identifier"]["value"] for p in patients] == [KNOWN["nhs"]]
    by_enquiry: dict[str, list[dict[str, Any]]] = {}
    for event in found:
        by_enquiry.setdefault(str(enquiry_of(event)), []).append(event)

    s47 = by_enquiry["la1-a-s47"]
    assert [sorted(codes(e) - {"operation"}) for e in s47] == [
        ["enquiry-received"],
        ["decision", "is-known", "permit"],
        ["decision", "is-open", "permit"],
        ["disclose", "is-known", "is-open"],
    ]
    received, decided, _, disclosed = s47
    raw = next(e["query"] for e in received["entity"] if "query" in e)
    assert orjson.loads(base64.b64decode(raw))["parameter"][0]["name"] == "resource"
    assert "national:s47:statutory-gateway" in rules_of(decided)
    assert decided["outcome"] == "0"
    assert {c["code"] for c in requester(decided)["purposeOfUse"][0]["coding"]} >= {"s47-enquiry"}
    patient = next(e for e in disclosed["entity"] if e.get("role", {}).get("code") == "1")
    assert patient["what"]["reference"].startswith("Patient/")
    assert patient["detail"] == [{"type": "released", "valueString": "is-known is-open"}]

    general = by_enquiry["la1-a-gen"]
    decision = next(e for e in general if "decision" in codes(e))
    assert requester(decision)["policy"] == [f"urn:mais:sharing-policy:{AGREEMENT}"]
    assert any(AGREEMENT in rule for rule in rules_of(decision))
    assert "general-safeguarding" in {c["code"] for c in requester(decision)["purposeOfUse"][0]["coding"]}
    disclosure = next(e for e in general if "disclose" in codes(e))
    assert requester(disclosure)["policy"] == [f"urn:mais:sharing-policy:{AGREEMENT}|1"]

    by_policy = events(search(trail, auditor, f"policy=urn:mais:sharing-policy:{AGREEMENT}&agent=LA0001"))
    assert {enquiry_of(e) for e in by_policy} == {"la1-a-dsa", "la1-a-gen"}
    everything = events(search(trail, auditor, f"agent=LA0001&patient={KNOWN['nhs']}&_count=1000"))
    assert "la1-a-old" in {enquiry_of(e) for e in everything}
    # The same question by the person index's reference, or by system|value, finds the same person.
    reference = patient["what"]["reference"]
    by_reference = events(search(trail, auditor, f"patient={reference}&{window()}"))
    assert {enquiry_of(e) for e in by_reference} == {"la1-a-s47", "la1-a-dsa", "la1-a-gen", "la2-a-s47"}
    assert all("disclose" in codes(e) for e in by_reference)
    qualified = f"agent=LA0001&patient=https://fhir.nhs.uk/Id/nhs-number|{KNOWN['nhs']}&{window()}&_count=1000"
    assert [e["id"] for e in events(search(trail, auditor, qualified))] == [e["id"] for e in found]


def test_paging_follows_the_next_link_and_sorts_newest_first(trail: Node, enquiries: dict[str, int]) -> None:
    auditor = trail.as_(AUDITOR)
    query = f"patient={KNOWN['nhs']}&{window()}"
    whole = [e["id"] for e in events(search(trail, auditor, f"{query}&_count=1000"))]
    assert len(whole) > 6

    paged: list[str] = []
    bundle = search(trail, auditor, f"{query}&_count=4")
    pages = 1
    while True:
        assert len(events(bundle)) <= 4
        paged += [e["id"] for e in events(bundle)]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        url = urlsplit(following[0])
        bundle = search(trail, auditor, url.query)
        pages += 1
    assert paged == whole
    assert pages == -(-len(whole) // 4)

    newest_first = [e["id"] for e in events(search(trail, auditor, f"{query}&_sort=-date&_count=1000"))]
    assert newest_first == whole[::-1]
    recorded = [e["recorded"] for e in events(search(trail, auditor, f"{query}&_sort=-date&_count=1000"))]
    assert recorded == sorted(recorded, reverse=True)


def test_only_auditors_search_and_nobody_writes_the_trail(trail: Node, enquiries: dict[str, int]) -> None:
    for scope, ods in (("mais/enquiry", "LA0001"), ("system/Patient.rs", "NODE01")):
        refused = trail.http.get("/fhir/AuditEvent?agent=LA0001", headers=trail.as_(scope, ods))
        assert refused.status_code == 403, refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"
    assert trail.http.get("/audit/checkpoint", headers=trail.as_("mais/enquiry", "LA0001")).status_code == 403

    auditor = trail.as_(AUDITOR)
    first = trail.http.get("/fhir/AuditEvent/1", headers=auditor).json()
    body = orjson.dumps({**first, "outcome": "8"})
    for method, path in (
        ("POST", "/fhir/AuditEvent"),
        ("PUT", "/fhir/AuditEvent/1"),
        ("DELETE", "/fhir/AuditEvent/1"),
        ("PATCH", "/fhir/AuditEvent/1"),
    ):
        answer = trail.http.request(method, path, content=body, headers={**FHIR, **auditor})
        assert answer.status_code == 405, (method, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    assert trail.http.get("/fhir/AuditEvent/1", headers=auditor).json() == first
    assert verify(trail.services.audit.scan()).ok


def test_an_auditors_search_is_itself_audited(trail: Node, enquiries: dict[str, int]) -> None:
    auditor = trail.as_(AUDITOR)
    query = f"agent=LA0001&patient={KNOWN['nhs']}&{window()}"
    returned = len(events(search(trail, auditor, query)))

    tail = trail.services.audit.last()
    assert tail is not None
    assert "audit-search" in codes(tail.event)
    entity = tail.event["entity"][0]
    assert base64.b64decode(entity["query"]).decode() == query
    assert entity["detail"] == [{"type": "returned", "valueString": str(returned)}]
    assert "NODE01" in {a["who"].get("identifier", {}).get("value") for a in tail.event["agent"]}
    searches = events(search(trail, auditor, f"subtype={SUBTYPES}|audit-search"))
    assert len(searches) >= 1


def test_a_checkpoint_is_signed_on_demand_served_and_verifies(trail: Node, enquiries: dict[str, int]) -> None:
    auditor = trail.as_(AUDITOR)
    assert trail.http.get("/audit/checkpoint", headers=auditor).status_code == 404  # none signed yet (every 1000)

    signed = trail.http.post("/audit/checkpoint", headers=auditor)
    assert signed.status_code == 201, signed.text
    tail = trail.services.audit.last()
    assert tail is not None
    assert signed.json()["seq"] == tail.seq
    assert signed.json()["hash"] == tail.hash
    assert trail.http.get("/audit/checkpoint", headers=auditor).json() == signed.json()

    checkpoint = Checkpoint.from_json(signed.json())
    signer = KeyRingSigner(trail.services.auth.keyring)
    assert verify(trail.services.audit.scan(), checkpoint, signer).ok
    forged = Checkpoint(checkpoint.seq, "0" * 64, checkpoint.time, checkpoint.jws)
    assert verify(trail.services.audit.scan(), forged, signer).problem == "bad-signature"


@pytest.fixture
def every_five(tmp_path: Path) -> Iterator[Node]:
    yield from make_node(tmp_path, checkpoint_every=5)


def test_a_checkpoint_is_signed_automatically_every_n_records(every_five: Node) -> None:
    every_five.organisation("LA0001")
    la1 = every_five.as_("mais/enquiry", "LA0001")
    for number in range(3):
        enquire(every_five, f"auto-{number}", KNOWN, headers=la1)
    auditor = every_five.as_(AUDITOR)
    tail = every_five.services.audit.last()
    assert tail is not None
    assert tail.seq >= 10

    latest = every_five.http.get("/audit/checkpoint", headers=auditor)
    assert latest.status_code == 200
    # Signed by the write that reached the last multiple of 5 (an enquiry's records are written together).
    assert tail.seq - tail.seq % 5 <= latest.json()["seq"] <= tail.seq
    at_seq = next(iter(every_five.services.audit.scan(latest.json()["seq"])))
    assert latest.json()["hash"] == at_seq.hash
    signer = KeyRingSigner(every_five.services.auth.keyring)
    assert verify(every_five.services.audit.scan(), Checkpoint.from_json(latest.json()), signer).ok


class FailingConnection:
    """A SQLite connection on which one statement of the audit write fails, as a full or broken disk would."""

    def __init__(self, conn: sqlite3.Connection, failing: str) -> None:
        self._conn, self._failing = conn, failing

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith(self._failing):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        if sql.startswith(self._failing):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.executemany(sql, rows)


@pytest.mark.parametrize("failing", ["BEGIN", "INSERT INTO audit_log", "INSERT OR IGNORE INTO audit_index", "COMMIT"])
def test_when_the_audit_write_fails_the_node_answers_503_discloses_nothing_and_keeps_no_half_record(
    trail: Node, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Any statement of the enquiry's one durable audit write fails in SQLite: no answer, nothing half-written."""
    log = trail.services.audit
    assert isinstance(log, SqliteAuditLog)
    la1 = trail.as_("mais/enquiry", "LA0001")
    before = log.last()
    real = log._conn
    monkeypatch.setattr(log, "_conn", lambda: FailingConnection(real(), failing))

    body = parameters({"name": "requestId", "valueString": "doomed"}, *ask("is-known", "is-open", "contact"))
    answer = trail.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers={**FHIR, **la1})

    assert answer.status_code == 503, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    for secret in ("match", "0113", "Patient/", "permit"):
        assert secret not in answer.text
    monkeypatch.undo()
    assert log.last() == before
    assert verify(log.scan()).ok
    again = parameters({"name": "requestId", "valueString": "recovered"}, *ask("is-known"))
    answer = trail.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(again), headers={**FHIR, **la1})
    assert answer.status_code == 200
    assert {enquiry_of(r.event) for r in log.scan()} >= {"recovered"}
    assert "doomed" not in {enquiry_of(r.event) for r in log.scan()}
