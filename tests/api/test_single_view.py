"""``POST /fhir/Patient/$single-view`` in process (issue 15 items 1, 2, 5, 6), the partners played by the in-memory
``Peers``: the view at the live deadline, or 202 at once; one row per partner in its own state; a referred row
followed until the partner's IG officer decides, the view's version bumped and ``If-None-Match`` telling the
poller; the requester's own trail (the view once with its subject, each row with its state), joined by the trace id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.clock import SystemClock
from mais_node.network.fan_out import FanOut
from mais_node.network.peers_fake import FakePeers, Scripted
from mais_node.network.rows import Exchange, Stage
from mais_node.network.single_view import SingleViews
from mais_node.network.view import PROFILE, ROW_EXTENSION, TRACE_SYSTEM
from mais_node.policy.asking import AskRules
from mais_node.wiring import Services, build_services
from mais_node.wiring_single_view import EXTRA
from tests.api.conftest import Node, make_node
from tests.unit.network.test_fan_out import DENIED, DOWN, FHIR, match
from tests.unit.network.test_targets import Listing, network

NHS = "https://fhir.nhs.uk/Id/nhs-number"
SCOPE = "mais/single-view system/Task.rs"
PARTNER_TASK = "https://la0002.example/fhir/Task/t1"
CONTACT = {"resourceType": "Organization", "name": "Police Safeguarding Hub", "telecom": [{"value": "0113 000 0000"}]}


def known_with_contact() -> Exchange:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "match", "valueBoolean": True},
            {"name": "requestId", "valueString": "pol-7"},
            {"name": "open", "valueBoolean": True},
            {"name": "contact", "resource": CONTACT},
        ],
    }
    return Exchange(Stage.QUERY, 200, FHIR, orjson.dumps(body))


def referred() -> Exchange:
    task = {"resourceType": "Task", "status": "on-hold", "intent": "order"}
    return Exchange(Stage.QUERY, 202, FHIR | {"content-location": PARTNER_TASK}, orjson.dumps(task))


def decided(known: bool) -> Exchange:
    output = {
        "type": {"coding": [{"system": "https://mais.example.org/fhir/CodeSystem/request-type", "code": "is-known"}]},
        "valueBoolean": known,
    }
    task = {"resourceType": "Task", "status": "completed", "intent": "order", "output": [output]}
    return Exchange(Stage.FOLLOW, 200, FHIR, orjson.dumps(task))


def on_hold() -> Exchange:
    return Exchange(Stage.FOLLOW, 200, FHIR, orjson.dumps({"resourceType": "Task", "status": "on-hold"}))


def make_requester(tmp_path: Path) -> Iterator[tuple[Node, FakePeers]]:
    """A node whose partners are the in-memory Peers: the register's network of test_targets, each scripted."""
    for node in make_node(tmp_path, single_view_follow_seconds=0.05):
        peers = FakePeers(
            queries={
                "POL001": Scripted(known_with_contact()),
                "GP0001": Scripted(match(False)),
                "SCH001": Scripted(DENIED),
                "HV0001": Scripted(DOWN),
                "LA0002": Scripted(referred()),
                "LA0001": Scripted(match(False), delay=30),  # never in time
            },
            tasks={PARTNER_TASK: [Scripted(on_hold()), Scripted(decided(True))]},
        )
        services = node.services
        services.extras[EXTRA] = fake_single_views(services, peers, network(), live_seconds=0.5, collection_seconds=30)
        yield node, peers


def fake_single_views(
    services: Services,
    peers: FakePeers,
    listing: Listing,
    *,
    live_seconds: float,
    collection_seconds: float = 60,
    follow_first: float = 0.05,
    ask_rules: AskRules | None = None,
) -> SingleViews:
    """The node's single views asking the in-memory ``peers`` about the partners ``listing`` registers."""
    return SingleViews(
        fan_out=FanOut(peers, SystemClock(), listing=listing),
        listing=listing,
        terminology=services.vocabularies,
        store=services.resources,
        follow_ups=services.network.store,  # type: ignore[union-attr]
        audit=services.checkpointer,
        clock=services.clock,
        node=services.node,
        live_seconds=live_seconds,
        collection_seconds=collection_seconds,
        follow_first=follow_first,
        ask_rules=ask_rules,
    )


@pytest.fixture
def requester(tmp_path: Path) -> Iterator[tuple[Node, FakePeers]]:
    yield from make_requester(tmp_path)


def ask(*extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "resource",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": NHS, "value": "9991316825"}],
                    "name": [{"family": "Rogers", "given": ["Chantelle"]}],
                    "birthDate": "2015-03-02",
                },
            },
            {
                "name": "reason",
                "valueCoding": {
                    "system": "https://mais.example.org/fhir/CodeSystem/request-asserted-purpose",
                    "code": "s47-enquiry",
                },
            },
            {"name": "requestedItem", "valueCode": "is-known"},
            {"name": "requestedItem", "valueCode": "is-open"},
            {"name": "requestedItem", "valueCode": "contact"},
            {"name": "authorisedUser", "part": [{"name": "name", "valueString": "Sam Worker"}]},
            *extra,
        ],
    }


def rows(view: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for output in view.get("output", []):
        parts = {
            e["url"]: next(v for k, v in e.items() if k.startswith("value"))
            for e in output["extension"][0]["extension"]
        }
        found[output["valueReference"]["identifier"]["value"]] = (output["type"]["coding"][0]["code"], parts)
    return found


def post(node: Node, body: dict[str, Any], headers: dict[str, str], **more: str) -> Any:
    return node.http.post(
        "/fhir/Patient/$single-view",
        content=orjson.dumps(body),
        headers=headers | {"Content-Type": "application/fhir+json"} | more,
    )


def until(node: Node, url: str, headers: dict[str, str], condition: Any, within: float = 10.0) -> dict[str, Any]:
    started = time.monotonic()
    while time.monotonic() - started < within:
        view = node.http.get(url, headers=headers).json()
        if condition(view):
            return dict(view)
        time.sleep(0.05)
    pytest.fail("the view did not change in time")


def test_the_view_at_the_live_deadline_has_one_row_per_partner_each_in_its_state(
    requester: tuple[Node, FakePeers],
) -> None:
    node, _ = requester
    headers = node.as_(SCOPE)
    started = time.monotonic()
    answer = post(node, ask(), headers)
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert took < 2.0  # the live deadline (0.5 s here), not the slow partner's 30 s
    view = answer.json()
    assert view["meta"]["profile"] == ["https://mais.example.org/fhir/StructureDefinition/mais-single-view"]
    states = {ods: state for ods, (state, _) in rows(view).items()}
    assert states == {
        "POL001": "KNOWN",
        "GP0001": "NOT_KNOWN",
        "SCH001": "DECLINED",
        "HV0001": "ERROR",
        "LA0002": "PENDING_REVIEW",
        "LA0001": "TIMED_OUT",
        "HOU001": "NOT_ASKED",
        "POL002": "NOT_ASKED",
        "POL003": "NOT_ASKED",
        "POL004": "NOT_ASKED",
        "POL005": "NOT_ASKED",
        "POL006": "NOT_ASKED",
    }
    police = rows(view)["POL001"][1]
    assert police["open"] is True
    assert police["partnerRequestId"] == "pol-7"
    assert police["endpoint"] == "https://pol001.example/fhir"
    assert police["latencyMs"] >= 0
    contact = next(r for r in view["contained"] if r["id"] == police["contact"]["reference"][1:])
    assert contact["name"] == "Police Safeguarding Hub"
    assert rows(view)["LA0002"][1]["partnerTask"] == PARTNER_TASK
    assert rows(view)["HV0001"][1]["reason"].startswith("could not connect")
    assert view["status"] == "in-progress"  # the referred row is being followed
    location = answer.headers["content-location"]
    assert node.http.get(location, headers=headers).json()["id"] == view["id"]


def test_a_referred_row_is_followed_until_decided_and_the_poller_sees_the_change(
    requester: tuple[Node, FakePeers],
) -> None:
    node, peers = requester
    headers = node.as_(SCOPE)
    answer = post(node, ask(), headers)
    location, etag = answer.headers["content-location"], answer.headers["etag"]
    done = until(node, location, headers, lambda v: v["status"] == "completed")
    assert rows(done)["LA0002"][0] == "KNOWN"
    assert rows(done)["LA0002"][1]["partnerTask"] == PARTNER_TASK
    assert rows(done)["POL001"][0] == "KNOWN"  # the other rows as they were
    assert node.http.get(location, headers=headers | {"If-None-Match": etag}).status_code == 200
    latest = node.http.get(location, headers=headers)
    assert latest.headers["etag"] != etag
    assert node.http.get(location, headers=headers | {"If-None-Match": latest.headers["etag"]}).status_code == 304
    assert [c.target for c in peers.calls if c.stage is Stage.FOLLOW] == [PARTNER_TASK, PARTNER_TASK]


def test_respond_async_answers_202_at_once_and_the_view_fills_in(requester: tuple[Node, FakePeers]) -> None:
    node, _ = requester
    headers = node.as_(SCOPE)
    started = time.monotonic()
    answer = post(node, ask(), headers, Prefer="respond-async")
    assert time.monotonic() - started < 0.4
    assert answer.status_code == 202, answer.text
    first = answer.json()
    assert first["status"] == "in-progress"
    assert {state for state, _ in rows(first).values()} == {"NOT_ASKED"}
    filled = until(node, answer.headers["content-location"], headers, lambda v: "POL001" in rows(v))
    assert rows(filled)["POL001"][0] == "KNOWN"


def test_the_requesters_trail_records_the_view_once_and_each_row_joined_by_the_trace(
    requester: tuple[Node, FakePeers],
) -> None:
    node, peers = requester
    headers = node.as_(SCOPE)
    view = post(node, ask(), headers).json()
    trace_id = next(i["value"] for i in view["identifier"] if i["system"] == TRACE_SYSTEM)
    auditor = node.as_("system/AuditEvent.rs")
    bundle = node.http.get("/fhir/AuditEvent?_count=200", headers=auditor).json()
    events = [e["resource"] for e in bundle.get("entry", [])]

    def subtypes(event: dict[str, Any]) -> set[str]:
        return {c["code"] for c in event.get("subtype", [])}

    def traced(event: dict[str, Any]) -> bool:
        return any(
            (e.get("what") or {}).get("identifier", {}).get("value") == trace_id for e in event.get("entity", [])
        )

    started = [e for e in events if "single-view" in subtypes(e)]
    per_row = [e for e in events if "single-view-row" in subtypes(e)]
    assert len(started) == 1
    assert traced(started[0])
    assert any((e.get("what") or {}).get("identifier", {}).get("value") == "9991316825" for e in started[0]["entity"])
    assert len(per_row) == len(view["output"])
    assert all(traced(e) for e in per_row)
    assert not any("9991316825" in orjson.dumps(e).decode() for e in per_row)  # the subject is recorded once
    assert {c.traceparent.split("-")[1] for c in peers.calls} == {trace_id}


def test_the_partners_get_the_question_without_targets_and_with_the_views_request_id(
    requester: tuple[Node, FakePeers],
) -> None:
    node, peers = requester
    seen: list[Any] = []

    def capture(partner: Any, parameters: Any) -> Scripted:
        seen.append(parameters)
        return Scripted(match(False))

    peers.queries["POL001"] = capture
    view = post(node, ask({"name": "target", "valueString": "pol001"}), node.as_(SCOPE)).json()
    assert list(rows(view)) == ["POL001"]
    names = [p["name"] for p in seen[0]["parameter"]]
    assert "target" not in names
    assert names.count("requestId") == 1
    request_id = next(p["valueString"] for p in seen[0]["parameter"] if p["name"] == "requestId")
    assert request_id == f"single-view-{view['id']}"
    assert view["status"] == "completed"


def test_a_single_view_needs_its_scope(requester: tuple[Node, FakePeers]) -> None:
    node, peers = requester
    answer = post(node, ask(), node.as_("mais/enquiry system/Task.rs"))
    assert answer.status_code == 403
    assert "mais/single-view" in answer.json()["issue"][0]["diagnostics"]
    assert peers.calls == []


@pytest.mark.parametrize(
    ("extra", "status", "said"),
    [
        ({"name": "area", "valueString": "Leeds"}, 400, "E06000001-style"),
        ({"name": "area", "valueCode": "E0800003"}, 400, "not an ONS local authority district code"),
        ({"name": "area", "valueBoolean": True}, 400, "'area' must be an ONS local authority district code"),
        ({"name": "target", "valueString": ""}, 400, "ODS code"),
        ({"name": "nonsense", "valueString": "x"}, 422, "Unknown parameter 'nonsense'"),
    ],
)
def test_a_malformed_single_view_is_refused_naming_what_is_wrong_and_asks_no_one(
    requester: tuple[Node, FakePeers], extra: dict[str, Any], status: int, said: str
) -> None:
    node, peers = requester
    answer = post(node, ask(extra), node.as_(SCOPE))
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert said in body["issue"][0]["diagnostics"]
    assert peers.calls == []


def test_a_row_extension_is_the_one_the_profile_names(requester: tuple[Node, FakePeers]) -> None:
    node, _ = requester
    view = post(node, ask(), node.as_(SCOPE)).json()
    assert {o["extension"][0]["url"] for o in view["output"]} == {ROW_EXTENSION}


def test_the_view_conforms_to_its_profile(requester: tuple[Node, FakePeers]) -> None:
    node, _ = requester
    view = post(node, ask(), node.as_(SCOPE)).json()
    issues = node.services.validator().validate(view, PROFILE)
    assert [i for i in issues if i.severity in ("error", "fatal")] == []


def test_a_view_continues_the_practitioners_systems_trace(requester: tuple[Node, FakePeers]) -> None:
    node, peers = requester
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    view = post(node, ask(), node.as_(SCOPE), traceparent=f"00-{trace_id}-00f067aa0ba902b7-01").json()
    assert next(i["value"] for i in view["identifier"] if i["system"] == TRACE_SYSTEM) == trace_id
    assert {c.traceparent.split("-")[1] for c in peers.calls} == {trace_id}


def test_stopping_the_node_leaves_the_follow_up_in_the_store_unheld_and_closes_the_peers(tmp_path: Path) -> None:
    fixture = make_requester(tmp_path)
    node, peers = next(fixture)
    peers.tasks[PARTNER_TASK] = [Scripted(on_hold(), delay=30)]  # a poll under way when the node stops
    view = post(node, ask(), node.as_(SCOPE)).json()  # LA0002's row is referred
    deadline = time.monotonic() + 5
    while not [c for c in peers.calls if c.stage is Stage.FOLLOW] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [c.target for c in peers.calls if c.stage is Stage.FOLLOW] == [PARTNER_TASK]
    settings = node.services.settings
    next(fixture, None)  # the node stops
    assert peers.closed
    # The lease was given up at once: another worker (its own services on the same file) claims the view now, not
    # after the lease expires.
    other = build_services(settings)
    try:
        store = other.network.store  # type: ignore[union-attr]
        claimed = store.claim_follow_ups("next-worker", now=time.time(), lease_until=time.time() + 30, limit=10)
    finally:
        other.close()
    assert [f.view_id for f in claimed] == [view["id"]]


@pytest.mark.parametrize(
    "reason",
    [
        {"name": "reason", "valueCoding": {"code": "curiosity"}},
        {"name": "reason", "valueUri": "https://www.legislation.gov.uk/ukpga/2099/1/section/1"},
    ],
)
def test_a_purpose_that_is_not_agreed_is_refused_and_asks_no_one(
    requester: tuple[Node, FakePeers], reason: dict[str, Any]
) -> None:
    node, peers = requester
    body = ask()
    body["parameter"] = [reason if p["name"] == "reason" else p for p in body["parameter"]]
    answer = post(node, body, node.as_(SCOPE))
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert issue["code"] == "code-invalid"
    assert issue["expression"] == ["reason"]
    assert peers.calls == []


def test_a_refused_single_view_is_audited(requester: tuple[Node, FakePeers]) -> None:
    node, _ = requester
    answer = post(node, ask({"name": "area", "valueString": "Leeds"}), node.as_(SCOPE))
    assert answer.status_code == 400
    bundle = node.http.get("/fhir/AuditEvent?_count=200", headers=node.as_("system/AuditEvent.rs")).json()
    refused = [
        e["resource"]
        for e in bundle.get("entry", [])
        if "enquiry-refused" in {c["code"] for c in e["resource"].get("subtype", [])}
    ]
    assert len(refused) == 1
    assert "'Leeds' is not an ONS local authority district code" in refused[0]["outcomeDesc"]
