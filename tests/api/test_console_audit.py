"""The console's audit search and export in process: the same records the REST search finds, keyset pages,
each row in words with its raw AuditEvent, exports audited, refusals for bad input and the wrong role."""

from __future__ import annotations

import base64
import csv
import io
import re

import orjson

from mais_node.audit.query import parse_audit_query
from tests.api.conftest import Node
from tests.api.test_console_review import PASSWORD, console, referred, signed_in
from tests.api.test_enquiry import KNOWN, enquire, parameters, world  # noqa: F401

SUBTYPE = "https://mais.example.org/fhir/CodeSystem/audit-event-subtype"


def test_a_search_by_nhs_number_finds_what_the_rest_search_finds(world: Node) -> None:  # noqa: F811
    assert enquire(world, parameters()).status_code == 200
    signed_in(world, "ade", "auditor")
    page = world.http.get("/console/audit", params={"nhs": KNOWN["nhs"], "search": "1"})
    assert page.status_code == 200, page.text
    shown = {int(n) for n in re.findall(r"AuditEvent #(\d+)</span>", page.text)}
    rest = world.http.get(
        "/fhir/AuditEvent",
        params={"patient": f"https://fhir.nhs.uk/Id/nhs-number|{KNOWN['nhs']}"},
        headers=world.as_("system/AuditEvent.rs"),
    ).json()
    assert shown
    assert shown == {int(e["resource"]["id"]) for e in rest["entry"]}
    assert "the rules decided an item" in page.text
    assert f"NHS number {KNOWN['nhs']}" in page.text


def test_pages_are_small_keyset_pages_newest_first(world: Node) -> None:  # noqa: F811
    signed_in(world, "ade", "auditor")
    for _ in range(25):
        assert world.http.get("/console/sign-in").status_code == 200
        world.http.post("/console/sign-in", data={"name": "ade", "password": "wrong", "csrf": "x"})
    signed_in(world, "ada", "auditor")
    first = world.http.get("/console/audit", params={"subtype": "110122", "outcome": "4", "search": "1"})
    seqs = [int(n) for n in re.findall(r"AuditEvent #(\d+)</span>", first.text)]
    assert len(seqs) == 20
    assert seqs == sorted(seqs, reverse=True)
    older = re.search(r'href="(/console/audit\?[^"]+)" rel="next"', first.text)
    assert older
    second = world.http.get(older.group(1).replace("&amp;", "&"))
    more = [int(n) for n in re.findall(r"AuditEvent #(\d+)</span>", second.text)]
    assert more
    assert max(more) < min(seqs)


def test_an_export_holds_the_filtered_records_and_is_itself_audited(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    signed_in(world, "ade", "auditor")
    exported = world.http.get("/console/audit/export", params={"format": "csv", "subtype": "decision"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows
    assert all("decision" in r["subtype"] for r in rows)
    ndjson = world.http.get("/console/audit/export", params={"format": "ndjson", "subtype": "decision"})
    events = [orjson.loads(line) for line in ndjson.text.splitlines()]
    assert len(events) == len(rows)
    searches = world.services.audit.search(
        parse_audit_query([("subtype", f"{SUBTYPE}|audit-search"), ("agent", "ade")])
    )
    queries = [
        base64.b64decode(e["query"]).decode() for r in searches.records for e in r.event["entity"] if "query" in e
    ]
    assert "subtype=decision&export=csv" in queries
    assert "subtype=decision&export=ndjson" in queries
    assert any(
        e.get("detail") == [{"type": "returned", "valueString": str(len(rows))}]
        for r in searches.records
        for e in r.event["entity"]
    )
    assert task_id


def test_bad_input_is_named_in_an_error_summary(world: Node) -> None:  # noqa: F811
    signed_in(world, "ade", "auditor")
    page = world.http.get("/console/audit", params={"from": "yesterday", "nhs": "12345", "search": "1"})
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text
    assert "Enter the first day as YYYY-MM-DD" in page.text
    assert "Enter an NHS number of 10 digits" in page.text


def test_hostile_text_in_a_record_is_shown_as_text(world: Node) -> None:  # noqa: F811
    console(world).accounts.add("ade", "auditor", PASSWORD)
    world.http.post("/console/sign-in", data={"name": "<script>alert(1)</script>", "password": "x", "csrf": "x"})
    signed_in(world, "ada", "auditor")
    page = world.http.get("/console/audit", params={"subtype": "110122", "search": "1"})
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_practitioner_cannot_open_the_audit(world: Node) -> None:  # noqa: F811
    signed_in(world, "pat", "practitioner")
    assert world.http.get("/console/audit").status_code == 403
    assert world.http.get("/console/audit/export").status_code == 403


def test_the_date_window_bounds_the_search(world: Node) -> None:  # noqa: F811
    signed_in(world, "ade", "auditor")
    today = world.services.clock.now().date()
    shown = world.http.get("/console/audit", params={"from": today.isoformat(), "to": today.isoformat(), "search": "1"})
    assert re.findall(r"AuditEvent #(\d+)</span>", shown.text)
    later = today.replace(year=today.year + 1).isoformat()
    empty = world.http.get("/console/audit", params={"from": later, "search": "1"})
    assert empty.status_code == 200
    assert "No record matches." in empty.text


def test_the_page_shows_the_chains_state_and_verifies_it_on_demand(world: Node) -> None:  # noqa: F811
    csrf = signed_in(world, "ade", "auditor")
    page = world.http.get("/console/audit")
    last = world.services.audit.last()
    assert last is not None
    assert f"record {last.seq} at" in page.text
    verified = world.http.post("/console/audit/verify", data={"csrf": csrf})
    assert verified.status_code == 200
    assert "audit trail verified:" in verified.text
    assert world.http.post("/console/audit/verify", data={}).status_code == 403
    subtype = f"{SUBTYPE}|audit-verify"
    assert world.services.audit.search(parse_audit_query([("subtype", subtype), ("agent", "ade")])).records
