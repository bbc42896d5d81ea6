"""``$single-view`` narrowed by ``area`` and by this node's own rules on asking (issue 15 item 3), in process with
the partners played by the in-memory ``Peers`` and the real Cedar rules on asking read from a rules directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mais_node.adapters.cedar_asking import CedarAskRules
from mais_node.config import DEFAULTS
from mais_node.network.peers_fake import FakePeers, Scripted
from mais_node.network.single_view import FOLLOW_FIRST, SingleViews
from mais_node.wiring_single_view import EXTRA
from tests.api.conftest import Node, make_node
from tests.api.test_single_view import SCOPE, ask, fake_single_views, post, rows
from tests.unit.network.test_fan_out import match
from tests.unit.network.test_targets import network

LEEDS, BRADFORD = "E08000035", "E08000032"
NO_SCHOOLS = """
@id("local:ask:forbid:schools-in-s47")
forbid (principal, action == Action::"ask", resource)
when { resource.type == "school" && context.purpose == "s47-enquiry" };
"""


@pytest.fixture
def requester(tmp_path: Path) -> Iterator[tuple[Node, FakePeers, Path]]:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULTS / "rules", rules)
    for node in make_node(tmp_path / "node"):
        listing = network()
        served = {"POL001": (LEEDS, BRADFORD), "GP0001": (LEEDS,), "SCH001": (LEEDS,), "HV0001": (BRADFORD,)}
        listing.orgs = [replace(o, areas=served.get(o.ods, ())) for o in listing.orgs]
        peers = FakePeers(queries={ods: Scripted(match(False)) for ods in ("POL001", "GP0001", "SCH001", "HV0001")})
        services = node.services
        services.extras[EXTRA] = fake_single_views(
            services,
            peers,
            listing,
            live_seconds=0.5,
            collection_seconds=30,
            follow_first=FOLLOW_FIRST,
            ask_rules=CedarAskRules(rules),
        )
        yield node, peers, rules


def area(code: str) -> dict[str, Any]:
    return {"name": "area", "valueCode": code}


def test_an_area_asks_only_the_partners_serving_it_and_says_why_not_the_others(
    requester: tuple[Node, FakePeers, Path],
) -> None:
    node, peers, _ = requester
    view = post(node, ask(area(LEEDS)), node.as_(SCOPE)).json()
    found = rows(view)
    assert sorted(c.ods for c in peers.calls) == ["GP0001", "POL001", "SCH001"]
    assert {ods for ods, (state, _) in found.items() if state == "NOT_KNOWN"} == {"GP0001", "POL001", "SCH001"}
    assert found["HV0001"] == ("NOT_ASKED", {"reason": f"does not serve area {LEEDS} (serves {BRADFORD})"})
    assert found["LA0002"] == ("NOT_ASKED", {"reason": f"does not serve area {LEEDS} (records no area served)"})


def test_without_an_area_every_relevant_partner_is_asked_by_the_default_rules(
    requester: tuple[Node, FakePeers, Path],
) -> None:
    node, peers, _ = requester
    post(node, ask(), node.as_(SCOPE))
    assert sorted(c.ods for c in peers.calls) == ["GP0001", "HV0001", "LA0001", "LA0002", "POL001", "SCH001"]


def test_a_forbid_in_a_local_rule_file_leaves_the_partner_not_asked_naming_the_rule_and_records_it(
    requester: tuple[Node, FakePeers, Path],
) -> None:
    node, peers, rules = requester
    (rules / "asking" / "local" / "20-no-schools.cedar").write_text(NO_SCHOOLS)  # the only change: a rule file
    view = post(node, ask(), node.as_(SCOPE)).json()
    assert "SCH001" not in {c.ods for c in peers.calls}
    state, parts = rows(view)["SCH001"]
    assert (state, parts["reason"], parts["rule"]) == (
        "NOT_ASKED",
        "this node's rules forbid asking",
        "local:ask:forbid:schools-in-s47",
    )
    assert parts["endpoint"] == "https://sch001.example/fhir"
    bundle = node.http.get("/fhir/AuditEvent?_count=200", headers=node.as_("system/AuditEvent.rs")).json()
    recorded = [
        e["resource"]
        for e in bundle["entry"]
        if "single-view-row" in {c["code"] for c in e["resource"].get("subtype", [])}
        and any((x.get("what") or {}).get("identifier", {}).get("value") == "SCH001" for x in e["resource"]["entity"])
    ]
    assert len(recorded) == 1
    rule_ids = [
        x["what"]["identifier"]["value"]
        for x in recorded[0]["entity"]
        if x["what"]["identifier"]["system"].endswith("/Id/rule")
    ]
    assert rule_ids == ["local:ask:forbid:schools-in-s47"]


def test_an_invalid_edit_is_refused_and_the_last_good_rules_stay_in_force(
    requester: tuple[Node, FakePeers, Path],
) -> None:
    node, _, rules = requester
    post(node, ask(), node.as_(SCOPE))  # the default rules loaded
    (rules / "asking" / "local" / "20-broken.cedar").write_text('@id("x") forbid (principal, action, resource) when {')
    view = post(node, ask(), node.as_(SCOPE)).json()
    assert rows(view)["SCH001"][0] == "NOT_KNOWN"


def test_with_no_valid_rules_on_asking_no_one_is_asked(tmp_path: Path, requester: tuple[Node, FakePeers, Path]) -> None:
    node, peers, rules = requester
    (rules / "asking" / "national.cedar").write_text("permit (principal, action, resource) when {")
    views: SingleViews = node.services.extras[EXTRA]
    views.ask_rules = CedarAskRules(rules)  # never loaded a good set
    answer = post(node, ask(), node.as_(SCOPE))
    assert answer.status_code == 503, answer.text
    assert "no valid rules on asking" in answer.json()["issue"][0]["diagnostics"]
    assert peers.calls == []


def test_an_area_may_be_an_ons_coding_and_a_coding_of_another_system_is_refused(
    requester: tuple[Node, FakePeers, Path],
) -> None:
    node, peers, _ = requester
    coded = {"name": "area", "valueCoding": {"system": "http://statistics.data.gov.uk/id/statistical-geography",
                                              "code": BRADFORD}}  # fmt: skip
    view = post(node, ask(coded), node.as_(SCOPE)).json()
    assert sorted(c.ods for c in peers.calls) == ["HV0001", "POL001"]
    assert rows(view)["GP0001"][0] == "NOT_ASKED"
    other = {"name": "area", "valueCoding": {"system": "https://example.org/postcodes", "code": "LS"}}
    refused = post(node, ask(other), node.as_(SCOPE))
    assert refused.status_code == 400
    issue = refused.json()["issue"][0]
    assert "'area' must be an ONS local authority district code" in issue["diagnostics"]
    assert issue["expression"] == ["Parameters.parameter[6]"]
    two = post(node, ask(area(LEEDS), area(BRADFORD)), node.as_(SCOPE))
    assert two.status_code == 400
    assert "give one 'area'" in two.json()["issue"][0]["diagnostics"]
