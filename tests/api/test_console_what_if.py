"""The console's what-if form in process: the rules in force decide per item, as ``Patient/$what-if`` does."""

from __future__ import annotations

import orjson

from tests.api.conftest import Node
from tests.api.test_console_review import signed_in
from tests.api.test_enquiry import FHIR, PURPOSE, ask, parameters, world  # noqa: F401


def test_the_form_gives_the_decision_per_item_with_the_rule_ids_the_api_gives(world: Node) -> None:  # noqa: F811
    csrf = signed_in(world, "olu", "ig-officer")
    page = world.http.post(
        "/console/what-if",
        data={"csrf": csrf, "org": "LA0001", "purpose": "general-safeguarding", "items": ["is-known", "is-open"]},
    )
    assert page.status_code == 200, page.text
    reason = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
    body = parameters(*ask("is-known", "is-open"), reason=reason)
    body["parameter"].append(
        {
            "name": "requester",
            "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LA0001"},
        }
    )
    api = world.http.post(
        "/fhir/Patient/$what-if", content=orjson.dumps(body), headers={**FHIR, **world.as_("mais/reviewer")}
    ).json()
    rules = {
        p["valueString"] for d in api["parameter"] if d["name"] == "decision" for p in d["part"] if p["name"] == "rule"
    }
    assert rules
    for rule in rules:
        assert rule in page.text
    assert "REVIEW" in page.text


def test_a_form_missing_its_fields_names_each_in_an_error_summary(world: Node) -> None:  # noqa: F811
    csrf = signed_in(world, "olu", "ig-officer")
    page = world.http.post("/console/what-if", data={"csrf": csrf})
    assert page.status_code == 400
    for message in ("Enter the ODS code", "Select the purpose", "Select at least one item"):
        assert message in page.text


def test_an_organisation_the_register_does_not_know_is_said_so(world: Node) -> None:  # noqa: F811
    csrf = signed_in(world, "olu", "ig-officer")
    page = world.http.post(
        "/console/what-if", data={"csrf": csrf, "org": "ZZ9999", "purpose": "s47-enquiry", "items": ["is-known"]}
    )
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text


def test_what_if_needs_the_reviewer_role_and_the_csrf_token(world: Node) -> None:  # noqa: F811
    csrf = signed_in(world, "ade", "auditor")
    assert world.http.get("/console/what-if").status_code == 403
    csrf = signed_in(world, "olu", "ig-officer")
    form = {"org": "LA0001", "purpose": "s47-enquiry", "items": ["is-known"]}
    assert world.http.post("/console/what-if", data=form).status_code == 403
    assert world.http.post("/console/what-if", data={**form, "csrf": csrf}).status_code == 200
