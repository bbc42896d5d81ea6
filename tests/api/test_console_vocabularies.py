"""The console's vocabularies pages in process: CodeSystems and versions, a draft code added with its legal basis,
activated and retired through the REST API's write rules and If-Match; a stale form refused with the person's
entry kept; hostile text shown as text; the role and the CSRF token checked."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import escape

from tests.api.conftest import Node
from tests.api.test_console_review import signed_in
from tests.api.test_terminology import MANAGER, PURPOSE, purpose_system, vocabulary_changes

LAW = "https://www.legislation.gov.uk/ukpga/1989/41/section/17"
GDPR = "UK GDPR Art 6(1)(e); Art 9(2)(g); DPA 2018 Sch 1 para 18"
CHILD_IN_NEED = {"code": "s17-assessment", "display": "Child in need assessment", "legislation": LAW, "gdpr": GDPR}


def page_of(node: Node) -> tuple[str, str]:
    """The purpose CodeSystem's console page: its id and the version its forms carry."""
    cs, _ = purpose_system(node, node.as_(MANAGER))
    text = node.http.get(f"/console/vocabularies/{cs['id']}").text
    at = re.search(r'name="at" value="(\d+)"', text)
    assert at, text
    return str(cs["id"]), at.group(1)


def post(node: Node, cs_id: str, action: str, csrf: str, at: str, **fields: str) -> Any:
    data = {"csrf": csrf, "at": at, **fields}
    return node.http.post(f"/console/vocabularies/{cs_id}/{action}", data=data, follow_redirects=False)


def lookup(node: Node, code: str) -> dict[str, Any]:
    answer = node.http.get(
        "/fhir/CodeSystem/$lookup", params={"system": PURPOSE, "code": code}, headers=node.as_(MANAGER)
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = {}
    for p in answer.json()["parameter"]:
        if p["name"] == "property":
            found[p["part"][0]["valueCode"]] = p["part"][1]["valueString"]
        elif p["name"] in ("version", "display"):
            found[p["name"]] = p["valueString"]
    return found


def console_edits(node: Node) -> list[tuple[str, str, str]]:
    """(target, outcome, detail) of each vocabulary edit the console recorded with the person as agent."""
    found = []
    for record in node.services.audit.scan():
        event = record.event
        if "vocabulary-edit" in [c["code"] for c in event.get("subtype", [])]:
            entity = event["entity"][0]
            detail = next((d["valueString"] for d in entity.get("detail", [])), "")
            who = event["agent"][0]["who"]["identifier"]["value"]
            found.append((entity["what"]["reference"], event["outcome"], f"{who}: {detail}"))
    return found


def test_the_list_shows_each_codesystem_with_its_version(node: Node) -> None:
    signed_in(node, "tess", "terminology-manager")
    listed = node.http.get("/console/vocabularies")
    assert listed.status_code == 200, listed.text
    assert "Request asserted purpose" in listed.text
    assert PURPOSE in listed.text
    assert "0.2.0" in listed.text
    home = node.http.get("/console").text
    assert 'href="/console/vocabularies"' in home


def test_a_draft_code_added_with_its_legal_basis_then_activated_goes_through_the_rest_rules(node: Node) -> None:
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, at = page_of(node)
    added = post(node, cs_id, "add", csrf, at, **CHILD_IN_NEED)
    assert added.status_code == 303, added.text
    concept = lookup(node, "s17-assessment")
    assert concept == {
        "version": "0.2.1",
        "display": "Child in need assessment",
        "status": "draft",
        "legislation": LAW,
        "gdpr-condition": GDPR,
    }
    shown = node.http.get(added.headers["location"]).text
    assert "s17-assessment added as a draft" in shown

    signed_in(node, "olu", "ig-officer")
    assert 'value="s17-assessment"' not in node.http.get("/console/what-if").text  # a draft is not in force
    csrf = signed_in(node, "tina", "terminology-manager")
    _, at = page_of(node)
    activated = post(node, cs_id, "activate", csrf, at, code="s17-assessment")
    assert activated.status_code == 303, activated.text
    assert lookup(node, "s17-assessment")["status"] == "active"
    assert lookup(node, "s17-assessment")["version"] == "0.2.2"
    # the REST API's vocabulary-change records, and the console's own with the person
    assert [c["after-version"] for c in vocabulary_changes(node)] == ["2", "3"]
    assert console_edits(node) == [
        (f"CodeSystem/{cs_id}/_history/2", "0", "tess: s17-assessment added as a draft in version 0.2.1"),
        (f"CodeSystem/{cs_id}/_history/3", "0", "tina: s17-assessment activated in version 0.2.2"),
    ]
    # the what-if form offers the purposes in force, the activated one among them
    signed_in(node, "ola", "ig-officer")
    assert 'value="s17-assessment"' in node.http.get("/console/what-if").text


def test_a_code_retired_with_its_replacement_is_refused_in_use_and_named(node: Node) -> None:
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, at = page_of(node)
    retired = post(node, cs_id, "retire", csrf, at, **{"retire-code": "already-open", "replaced-by": "s47-enquiry"})
    assert retired.status_code == 303, retired.text
    assert lookup(node, "already-open")["status"] == "retired"
    verdict = node.http.get(
        "/fhir/CodeSystem/$validate-code", params={"url": PURPOSE, "code": "already-open"}, headers=node.as_(MANAGER)
    ).json()
    message = next(p["valueString"] for p in verdict["parameter"] if p["name"] == "message")
    assert "use 's47-enquiry'" in message


def test_the_diff_between_two_versions_names_the_codes_added_and_changed(node: Node) -> None:
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, at = page_of(node)
    assert post(node, cs_id, "add", csrf, at, **CHILD_IN_NEED).status_code == 303
    _, at = page_of(node)
    assert post(node, cs_id, "retire", csrf, at, **{"retire-code": "already-open"}).status_code == 303
    diff = node.http.get(f"/console/vocabularies/{cs_id}/diff", params={"before": "1", "after": "3"})
    assert diff.status_code == 200, diff.text
    rows = re.findall(r"<code><bdi>([^<]+)</bdi></code></td>\s*<td[^>]*><strong[^>]*>(\w+)</strong>", diff.text)
    assert rows == [("already-open", "changed"), ("s17-assessment", "added")]
    assert "status: active" in diff.text
    assert "status: retired" in diff.text
    assert "From version 0.2.0 to 0.2.2" in diff.text


def test_a_stale_edit_is_refused_saves_nothing_and_shows_the_entry_again(node: Node) -> None:
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, stale = page_of(node)
    other = post(
        node, cs_id, "add", csrf, stale, code="other-draft", display="Someone else's", legislation=LAW, gdpr=GDPR
    )
    assert other.status_code == 303
    refused = post(node, cs_id, "add", csrf, stale, **CHILD_IN_NEED)
    assert refused.status_code == 409, refused.text
    assert "govuk-error-summary" in refused.text
    assert f"you read version {stale}; it is now version 2" in refused.text
    assert '<a href="#code">' in refused.text
    assert 'value="s17-assessment"' in refused.text
    assert f'value="{escape(GDPR)}"' in refused.text
    assert 'name="at" value="2"' in refused.text  # the page now shows version 2: sending again is an edit of it
    missing = node.http.get(
        "/fhir/CodeSystem/$lookup", params={"system": PURPOSE, "code": "s17-assessment"}, headers=node.as_(MANAGER)
    )
    assert missing.status_code == 404
    assert console_edits(node)[-1] == (f"CodeSystem/{cs_id}", "4", "tess: add refused: read at version 1")
    again = post(node, cs_id, "add", csrf, "2", **CHILD_IN_NEED)
    assert again.status_code == 303, again.text


def test_each_invalid_entry_is_named_in_the_error_summary_with_its_field_linked(node: Node) -> None:
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, at = page_of(node)
    empty = post(node, cs_id, "add", csrf, at, code=" ", display="", legislation="http://example.org/law", gdpr="")
    assert empty.status_code == 400
    for field, message in (
        ("code", "Enter the code"),
        ("display", "Enter the display"),
        ("legislation", "must be an address beginning https://www.legislation.gov.uk/"),
        ("gdpr", "Enter the UK GDPR and DPA 2018 condition"),
    ):
        assert re.search(f'<a href="#{field}">[^<]*{re.escape(message)}', empty.text), field
        assert f'id="{field}"' in empty.text
    duplicate = post(node, cs_id, "add", csrf, at, **{**CHILD_IN_NEED, "code": "s47-enquiry"})
    assert duplicate.status_code == 400
    assert re.search(r'<a href="#code">The code s47-enquiry is already in this vocabulary', duplicate.text)
    unknown = post(node, cs_id, "retire", csrf, at, **{"retire-code": "already-open", "replaced-by": "no-such-code"})
    assert unknown.status_code == 400
    assert re.search(r'<a href="#replaced-by">The code no-such-code is not in this vocabulary', unknown.text)
    assert 'value="no-such-code"' in unknown.text
    active = post(node, cs_id, "activate", csrf, at, code="s47-enquiry")
    assert active.status_code == 400
    assert "only a draft code can be activated" in active.text
    assert purpose_system(node, node.as_(MANAGER))[1] == 'W/"1"'  # nothing was written


def test_a_hostile_display_is_shown_as_text(node: Node) -> None:
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, at = page_of(node)
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\u202egnp.exe'
    added = post(node, cs_id, "add", csrf, at, **{**CHILD_IN_NEED, "display": hostile, "definition": hostile})
    assert added.status_code == 303, added.text
    shown = node.http.get(f"/console/vocabularies/{cs_id}").text
    assert "<script>alert" not in shown
    assert "<img src=x" not in shown
    assert f"<bdi>{escape(hostile)}</bdi>" in shown  # the RTL override cannot reorder the text around it
    diff = node.http.get(f"/console/vocabularies/{cs_id}/diff").text
    assert "<script>alert" not in diff
    assert str(escape(hostile)) in diff


def test_other_roles_get_a_403_page_and_a_form_without_its_csrf_token_is_refused(node: Node) -> None:
    signed_in(node, "olu", "ig-officer")
    refused = node.http.get("/console/vocabularies")
    assert refused.status_code == 403
    assert "You cannot open this page" in refused.text
    assert node.http.get("/console/vocabularies/no-such-system").status_code == 403  # the role before the id
    csrf = signed_in(node, "tess", "terminology-manager")
    cs_id, at = page_of(node)
    signed_in(node, "ade", "auditor")
    assert post(node, cs_id, "add", csrf, at, **CHILD_IN_NEED).status_code == 403
    signed_in(node, "tess2", "terminology-manager")
    forged = post(node, cs_id, "add", "not-the-token", at, **CHILD_IN_NEED)
    assert forged.status_code == 403
    assert "This form cannot be accepted" in forged.text
    assert node.http.get("/console/vocabularies/no-such-system").status_code == 404
    csrf = re.search(r'name="csrf" value="([^"]+)"', node.http.get("/console").text)
    assert csrf
    assert post(node, cs_id, "delete", csrf.group(1), at).status_code == 404
    assert post(node, cs_id, "add", csrf.group(1), "", **CHILD_IN_NEED).status_code == 400
    assert purpose_system(node, node.as_(MANAGER))[1] == 'W/"1"'
