"""The console's single-view pages in process (issue 16 §7): a practitioner's form starts a view through the same
start as ``POST /fhir/Patient/$single-view``, the partners played by the in-memory ``Peers``; the view's page shows
one row per partner in its state, filling in; bad forms start nothing; hostile names are text; CSRF, roles and
ownership are enforced; opening a view is audited with the person as the agent."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest

from mais_node.network.peers_fake import FakePeers, Scripted
from mais_node.wiring_single_view import EXTRA
from tests.api.conftest import Node, make_node
from tests.api.test_console_review import PASSWORD, console, signed_in
from tests.api.test_single_view import (
    PARTNER_TASK,
    decided,
    fake_single_views,
    known_with_contact,
    on_hold,
    referred,
)
from tests.unit.network.test_fan_out import DENIED, DOWN, match
from tests.unit.network.test_targets import Listing

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\u202eevil'
SUBTYPE = "https://mais.example.org/fhir/CodeSystem/audit-event-subtype"
PERSON_SYSTEM = "https://mais.example.org/fhir/Id/console-user"
GOOD = {
    "nhs_number": "999 131 6825",
    "purpose": "s47-enquiry",
    "items": ["is-known", "is-open", "contact"],
}


def partners() -> Listing:
    listing = Listing()
    listing.add("POL001", "police", name=HOSTILE)
    listing.add("GP0001", "gp")
    listing.add("SCH001", "school")
    listing.add("HV0001", "health-visiting")
    listing.add("LA0002", "la-childrens-social-care")
    listing.add("LA0001", "la-childrens-social-care")
    listing.add("HOU001", "housing")
    return listing


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, FakePeers]]:
    """One node for the module, its partners the in-memory Peers: a row in each state."""
    police = known_with_contact()
    hostile_contact = replace(police, body=police.body.replace(b"Police Safeguarding Hub", orjson.dumps(HOSTILE)[1:-1]))
    for node in make_node(tmp_path_factory.mktemp("svpage"), single_view_follow_seconds=0.05):
        peers = FakePeers(
            queries={
                "POL001": Scripted(hostile_contact),
                "GP0001": Scripted(match(False)),
                "SCH001": Scripted(DENIED),
                "HV0001": Scripted(DOWN),
                "LA0002": Scripted(referred()),
                "LA0001": Scripted(match(False), delay=30),  # never in time
            },
        )
        services = node.services
        services.extras[EXTRA] = fake_single_views(services, peers, partners(), live_seconds=0.3)
        console(node).accounts.add("priya", "practitioner", PASSWORD, display_name="Priya Shah")
        yield node, peers


def records(node: Node, action: str) -> list[dict[str, Any]]:
    """The node's audit records of subtype ``action``, in order."""
    return [
        r.event
        for r in node.services.audit.scan()
        if any(c.get("system") == SUBTYPE and c.get("code") == action for c in r.event.get("subtype", []))
    ]


def views_started(node: Node) -> int:
    return len(records(node, "single-view"))


def traces(peers: FakePeers) -> set[str]:
    """The trace ids of every call the partners had: a view started makes calls under a trace id of its own, while
    an earlier test's view may still be following its partners under the id it had."""
    return {call.traceparent.split("-")[1] for call in peers.calls}


def start(node: Node, csrf: str, peers: FakePeers, **form: Any) -> str:
    peers.tasks[PARTNER_TASK] = [Scripted(on_hold()), Scripted(decided(True))]
    answer = node.http.post("/console/single-view", data={"csrf": csrf, **GOOD, **form}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/console/single-view/[0-9a-f]{32}", location)
    return str(location)


def until(node: Node, url: str, condition: Any, within: float = 30.0) -> str:
    started = time.monotonic()
    while time.monotonic() - started < within:
        page = node.http.get(url)
        assert page.status_code == 200, page.text
        if condition(page.text):
            return str(page.text)
        time.sleep(0.05)
    pytest.fail("the view's page did not change in time")


def states(page: str) -> dict[str, str]:
    """ODS code → the state tag of its row."""
    found = re.findall(
        r'ODS ([A-Z0-9]+)</span></th>\s*<td[^>]*><strong class="govuk-tag[^"]*">([A-Z_]+)</strong>', page
    )
    return dict(found)


def test_the_form_offers_the_reasons_in_force_to_a_practitioner(world: tuple[Node, FakePeers]) -> None:
    node, _ = world
    signed_in(node, "priya", "practitioner")
    page = node.http.get("/console/single-view")
    assert page.status_code == 200
    assert '<option value="s47-enquiry"' in page.text
    assert 'href="/console/single-view"' in page.text  # the navigation names it
    assert 'name="csrf"' in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"nhs_number": "999 131 6826"}, "nhs_number", "check digit is wrong"),
        ({"nhs_number": "12345"}, "nhs_number", "Enter the NHS number as 10 digits"),
        ({"nhs_number": ""}, "nhs_number", "Enter an NHS number, or the family name"),
        ({"nhs_number": "", "family": "Rogers"}, "given", "Enter the given name"),
        (
            {
                "nhs_number": "",
                "family": "Rogers",
                "given": "C",
                "birth_day": "31",
                "birth_month": "2",
                "birth_year": "2015",
            },
            "birth_day",
            "Enter a real date of birth",
        ),
        ({"purpose": ""}, "purpose", "Select the reason for asking"),
        ({"purpose": "not-a-purpose"}, "purpose", "Select the reason for asking"),
        ({"items": []}, "items", "Select at least one thing to ask"),
        ({"area": "Leeds"}, "area", "ONS local authority district code"),
        ({"targets": "POL001 <b>"}, "targets", "ODS codes"),
    ],
)
def test_a_bad_form_is_named_in_an_error_summary_and_starts_nothing(
    world: tuple[Node, FakePeers], form: dict[str, Any], field: str, message: str
) -> None:
    node, peers = world
    csrf = signed_in(node, "priya", "practitioner")
    before, asked = views_started(node), traces(peers)
    page = node.http.post("/console/single-view", data={"csrf": csrf, **GOOD, **form})
    assert page.status_code == 400
    summary = page.text.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    assert f'href="#{field}"' in summary
    assert message in html.unescape(summary)
    assert f'id="{field}"' in page.text  # the link lands on the field
    assert views_started(node) == before
    assert traces(peers) == asked


def test_a_started_view_shows_one_row_per_partner_in_its_state_as_they_answer(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    csrf = signed_in(node, "priya", "practitioner")
    location = start(node, csrf, peers)
    first = node.http.get(location)
    assert first.status_code == 200
    assert "Refresh the rows" in first.text  # without JavaScript, the page reloads itself by a link
    page = until(node, location, lambda text: states(text).get("LA0002") == "KNOWN")
    assert states(page) == {
        "POL001": "KNOWN",
        "GP0001": "NOT_KNOWN",
        "SCH001": "DECLINED",
        "HV0001": "ERROR",
        "LA0002": "KNOWN",  # referred, followed, then decided by the partner's IG officer
        "LA0001": "TIMED_OUT",
        "HOU001": "NOT_ASKED",
    }
    text = html.unescape(page)
    assert "not relevant to s47-enquiry (housing)" in text  # NOT_ASKED with its reason
    assert "could not connect" in text
    assert "0113 000 0000" in text  # the contact the police released
    assert ">Open<" in page
    assert "As of" in page
    assert "(version " in page
    assert re.search(r"\d+ ms", page)
    assert "999 131 6825" in page


def test_a_referred_row_shows_pending_review_until_the_partner_decides(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    csrf = signed_in(node, "priya", "practitioner")
    location = start(node, csrf, peers)
    peers.tasks[PARTNER_TASK] = [Scripted(on_hold())]  # the partner's IG officer has not decided yet
    page = until(node, location, lambda text: "LA0002" in states(text))
    assert states(page)["LA0002"] == "PENDING_REVIEW"
    assert "In progress" in page
    peers.tasks[PARTNER_TASK] = [Scripted(decided(False))]  # decided: the view ends, nothing left following it
    done = until(node, location, lambda text: "Every row is final" in text)
    assert states(done)["LA0002"] == "NOT_KNOWN"


def test_the_rows_fragment_answers_204_while_nothing_changed(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    csrf = signed_in(node, "priya", "practitioner")
    location = start(node, csrf, peers)
    until(node, location, lambda text: states(text).get("LA0002") == "KNOWN" and "Every row is final" in text)
    version = node.services.resources.read("Task", location.rsplit("/", 1)[1]).version
    assert node.http.get(f"{location}/rows?seen={version}").status_code == 204
    rows = node.http.get(f"{location}/rows?seen={version - 1}")
    assert rows.status_code == 200
    assert "<html" not in rows.text
    assert 'id="single-view-rows"' in rows.text
    assert f'data-version="{version}"' in rows.text
    assert 'data-complete="true"' in rows.text


def test_hostile_partner_and_contact_names_are_shown_as_text(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    csrf = signed_in(node, "priya", "practitioner")
    location = start(
        node, csrf, peers, nhs_number="", family=HOSTILE, given="Ann", birth_day="2", birth_month="3", birth_year="2015"
    )
    page = until(node, location, lambda text: "POL001" in states(text))
    listing = node.http.get("/console/single-view").text
    for text in (page, listing):
        assert "<script>alert" not in text
        assert "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert (
        len(re.findall(r"<bdi>[^<]*&lt;script&gt;", page)) >= 3
    )  # the subject, the partner and its contact, each isolated


def test_the_form_without_its_csrf_token_is_refused_and_starts_nothing(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    signed_in(node, "priya", "practitioner")
    before, asked = views_started(node), traces(peers)
    refused = node.http.post("/console/single-view", data={**GOOD, "csrf": "forged"})
    assert refused.status_code == 403
    assert "This form cannot be accepted" in refused.text
    assert views_started(node) == before
    assert traces(peers) == asked


def test_an_auditor_gets_the_403_page_everywhere(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    location = start(node, signed_in(node, "priya", "practitioner"), peers)
    csrf = signed_in(node, "aud", "auditor")
    home = node.http.get("/console").text
    assert 'href="/console/single-view"' not in home
    for page in (
        node.http.get("/console/single-view"),
        node.http.post("/console/single-view", data={**GOOD, "csrf": csrf}),
        node.http.get(location),
        node.http.get(f"{location}/rows"),
    ):
        assert page.status_code == 403
        assert "You cannot open this page" in page.text


def test_someone_elses_view_is_a_404_as_an_unknown_one_is(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    location = start(node, signed_in(node, "priya", "practitioner"), peers)
    signed_in(node, "sam", "practitioner")
    for url in (location, f"{location}/rows", "/console/single-view/" + "0" * 32, "/console/single-view/..%2Fx"):
        page = node.http.get(url)
        assert page.status_code == 404, url
    assert location not in node.http.get("/console/single-view").text  # not in sam's recent views
    signed_in(node, "priya", "practitioner")
    assert location in node.http.get("/console/single-view").text  # in priya's


def test_the_view_is_started_and_opened_with_the_person_as_the_agent(world: tuple[Node, FakePeers]) -> None:
    node, peers = world
    location = start(node, signed_in(node, "priya", "practitioner"), peers)
    view_id = location.rsplit("/", 1)[1]
    assert node.http.get(location).status_code == 200

    def person(event: dict[str, Any]) -> dict[str, Any]:
        return next(a for a in event["agent"] if a.get("who", {}).get("identifier", {}).get("system") == PERSON_SYSTEM)

    def about(event: dict[str, Any]) -> bool:
        return any(view_id in str(e.get("what")) for e in event.get("entity", []))

    started = [e for e in records(node, "single-view") if about(e)]
    assert len(started) == 1
    assert person(started[0])["who"]["identifier"]["value"] == "priya"
    assert person(started[0])["name"] == "Priya Shah"
    clients = [str(a.get("who")) for a in started[0]["agent"]]
    assert any("console:priya" in c for c in clients)  # the console is the client
    assert any("NODE01" in c for c in clients)  # the node's own organisation asks
    opened = [e for e in records(node, "single-view-opened") if any(f"Task/{view_id}" in str(x) for x in e["entity"])]
    assert opened
    assert person(opened[-1])["who"]["identifier"]["value"] == "priya"
    task = node.services.resources.read("Task", view_id).body
    assert task["note"] == [{"text": "asked by Priya Shah"}]  # the REST view is the same view


def test_a_node_that_cannot_ask_its_partners_says_so_on_the_form(world: tuple[Node, FakePeers]) -> None:
    node, _ = world
    csrf = signed_in(node, "priya", "practitioner")
    built = node.services.extras.pop(EXTRA)
    try:
        before = views_started(node)
        page = node.http.post("/console/single-view", data={"csrf": csrf, **GOOD})
    finally:
        node.services.extras[EXTRA] = built
    assert page.status_code == 503
    assert "govuk-error-summary" in page.text
    assert "cannot ask its partners" in page.text
    assert views_started(node) == before
