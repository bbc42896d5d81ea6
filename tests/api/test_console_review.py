"""The console's review queue in process: a referred enquiry decided from the page through the same review service
as ``Task/$review``; the requester's Task answers at once; roles and CSRF are checked."""

from __future__ import annotations

import re

from mais_node.console.web import Console
from tests.api.conftest import Node
from tests.api.test_enquiry import PURPOSE, ask, enquire, parameters, world  # noqa: F401

PASSWORD = "correct horse battery"


def console(node: Node) -> Console:
    got: Console = node.http.app.state.console  # type: ignore[attr-defined]
    return got


def signed_in(node: Node, name: str, role: str) -> str:
    """Sign ``node.http`` in as ``name`` with ``role`` (the account made at its first use); the session's CSRF token."""
    if console(node).accounts.store.get_person(name) is None:
        console(node).accounts.add(name, role, PASSWORD)
    node.http.cookies.clear()
    form = node.http.get("/console/sign-in").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    signed = node.http.post(
        "/console/sign-in", data={"csrf": token.group(1), "name": name, "password": PASSWORD}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    home = re.search(r'name="csrf" value="([^"]+)"', node.http.get("/console").text)
    assert home
    return home.group(1)


def referred(node: Node, family: str = "Okafor") -> str:
    reason = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
    who = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": ["Amara"]}],
        "birthDate": "2015-04-12",
    }
    answer = enquire(node, parameters(*ask("is-known", "is-open"), reason=reason, who=who))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def task(node: Node, task_id: str) -> dict[str, object]:
    got = node.http.get(f"/fhir/Task/{task_id}", headers=node.as_("system/Task.crs", "LA0001"))
    body: dict[str, object] = got.json()
    return body


def test_the_queue_lists_a_referral_and_its_page_shows_the_rules_and_candidates(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    signed_in(world, "olu", "ig-officer")
    queue = world.http.get("/console/reviews")
    assert queue.status_code == 200, queue.text
    assert f"/console/reviews/{task_id}" in queue.text
    assert "general-safeguarding" in queue.text
    page = world.http.get(f"/console/reviews/{task_id}")
    assert page.status_code == 200, page.text
    assert "LA0001" in page.text
    assert "Candidate 1" in page.text
    assert "Okafor" in page.text
    assert "national:general-safeguarding:review-without-agreement" in page.text  # on arrival, from the audit trail
    assert "The audit trail holds no decision" not in page.text


def test_a_decision_from_the_console_answers_the_requesters_task_at_once(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    csrf = signed_in(world, "olu", "ig-officer")
    decided = world.http.post(
        f"/console/reviews/{task_id}",
        data={"csrf": csrf, "decision": "permit", "reason": "s11 duty; checked"},
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    answered = task(world, task_id)
    assert answered["status"] == "completed"
    again = world.http.post(f"/console/reviews/{task_id}", data={"csrf": csrf, "decision": "deny", "reason": "again"})
    assert again.status_code == 409
    assert "not awaiting review" in again.text


def test_a_decision_without_a_reason_is_refused_with_an_error_summary(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    csrf = signed_in(world, "olu", "ig-officer")
    refused = world.http.post(f"/console/reviews/{task_id}", data={"csrf": csrf, "decision": "permit", "reason": " "})
    assert refused.status_code == 400
    assert "govuk-error-summary" in refused.text
    assert "Enter the reason for the decision" in refused.text
    assert task(world, task_id)["status"] == "on-hold"


def test_a_decision_without_the_csrf_token_changes_nothing(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    signed_in(world, "olu", "ig-officer")
    refused = world.http.post(f"/console/reviews/{task_id}", data={"decision": "permit", "reason": "no token"})
    assert refused.status_code == 403
    assert task(world, task_id)["status"] == "on-hold"


def test_an_auditor_cannot_decide_and_a_practitioner_cannot_open_the_queue(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    csrf = signed_in(world, "ade", "auditor")
    refused = world.http.post(f"/console/reviews/{task_id}", data={"csrf": csrf, "decision": "permit", "reason": "x"})
    assert refused.status_code == 403
    assert task(world, task_id)["status"] == "on-hold"
    signed_in(world, "pat", "practitioner")
    assert world.http.get("/console/reviews").status_code == 403
    assert world.http.get(f"/console/reviews/{task_id}").status_code == 403


def test_hostile_names_are_escaped(world: Node) -> None:  # noqa: F811
    task_id = referred(world, family='<script>alert(1)</script>"><img src=x onerror=alert(2)>')
    signed_in(world, "olu", "ig-officer")
    for path in ("/console/reviews", f"/console/reviews/{task_id}"):
        page = world.http.get(path).text
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
