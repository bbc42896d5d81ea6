"""The console's register page in process: organisations and systems with their source (local or national serial
N); a suspension only through its confirmation page, by the same register service as ``mais org`` and the REST
API, audited with the person; reactivation; the node's own entry refused with the service's reason; hostile names
shown as text; the role and the CSRF token checked."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from markupsafe import escape

from mais_node import sharing_policies
from mais_node.adapters.jose_keys import generate_private_jwk
from mais_node.config import DEFAULTS
from mais_node.policy_testing import run_policy_tests
from tests.api.conftest import ADMIN_ACTOR, Node, make_node
from tests.api.test_console_review import signed_in
from tests.registers import Authority, a_system, an_organisation

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "Fam\u202eylimaf"]


@pytest.fixture
def national(tmp_path: Path) -> Iterator[Node]:
    """A node that has imported a signed national register listing LA0001 and its system cms-1."""
    authority = Authority()
    path = tmp_path / "register.json"
    trust = authority.write_trust(tmp_path)
    key = generate_private_jwk("ES384")
    content = authority.content(1, [an_organisation("LA0001")], [a_system("cms-1", "LA0001", key)])
    path.write_bytes(orjson.dumps(authority.signed(content)))
    for node in make_node(tmp_path, register_url=str(path), register_trust=trust, register_sync_seconds=0):
        assert node.services.network is not None
        assert node.services.network.importer is not None
        assert node.services.network.importer.sync().applied
        yield node


def register_changes(node: Node, target: str) -> list[dict[str, Any]]:
    """The register's audit records about ``target``."""
    return [
        r.event
        for r in node.services.audit.scan()
        if any(e["what"].get("reference", "").split("/_history")[0] == target for e in r.event.get("entity", []))
        and any(c.get("code") == "register-change" for c in r.event.get("subtype", []))
    ]


def agent_of(event: dict[str, Any]) -> str:
    return str(event["agent"][0]["who"]["identifier"]["value"])


def suspend(node: Node, csrf: str, kind: str, key: str) -> Any:
    confirm = node.http.post(f"/console/register/{kind}/{key}/confirm", data={"csrf": csrf})
    assert confirm.status_code == 200, confirm.text
    assert "Are you sure you want to suspend" in confirm.text
    assert f'action="/console/register/{kind}/{key}/suspend"' in confirm.text
    return node.http.post(
        f"/console/register/{kind}/{key}/suspend",
        data={"csrf": csrf, "confirmed": "yes"},
        follow_redirects=False,
    )


def test_the_register_lists_organisations_and_systems_with_their_source(national: Node) -> None:
    national.organisation("LA0002")
    signed_in(national, "ada", "admin")
    page = national.http.get("/console/register")
    assert page.status_code == 200, page.text
    rows = re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", page.text, re.S)
    la1 = next(r for r in rows if "LA0001" in r and "Organisation" not in r.split("<td")[0])
    assert "national serial 1" in la1
    la2 = next(r for r in rows if ">LA0002<" in r)
    assert ">local<" in la2
    assert any("cms-1" in r and "national serial 1" in r for r in rows)
    assert 'href="/console/register"' in national.http.get("/console").text


def test_a_local_organisation_is_suspended_only_after_confirmation_and_audited_with_the_person(node: Node) -> None:
    node.organisation("LA0002")
    csrf = signed_in(node, "ian", "ig-officer")
    unconfirmed = node.http.post("/console/register/org/LA0002/suspend", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    assert node.services.auth.organisations.require("LA0002").operational_status == "active"
    done = suspend(node, csrf, "org", "LA0002")
    assert done.status_code == 303, done.text
    assert node.services.auth.organisations.require("LA0002").operational_status == "suspended"
    page = node.http.get(done.headers["location"]).text
    assert "Organisation LA0002 (LA0002) suspended" in page
    assert 'Reactivate<span class="govuk-visually-hidden"> LA0002' in page
    org_id = node.services.auth.organisations.require("LA0002").id
    changes = register_changes(node, f"Organization/{org_id}")
    assert changes
    assert agent_of(changes[-1]) == "ian"
    again = node.http.post("/console/register/org/LA0002/reactivate", data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 303
    assert node.services.auth.organisations.require("LA0002").operational_status == "active"
    assert agent_of(register_changes(node, f"Organization/{org_id}")[-1]) == "ian"


def test_a_national_entry_is_suspended_here_and_lifted(national: Node) -> None:
    csrf = signed_in(national, "ada", "admin")
    assert suspend(national, csrf, "org", "LA0001").status_code == 303
    org = national.services.auth.organisations.require("LA0001")
    assert org.suspended_here
    assert "national serial 1, suspended here" in national.http.get("/console/register").text
    changes = register_changes(national, "Organization/LA0001")
    assert changes
    assert agent_of(changes[-1]) == "ada"
    assert suspend(national, csrf, "client", "cms-1").status_code == 303
    client = national.services.auth.clients.get("cms-1")
    assert client is not None
    assert client.suspended_here
    lifted = national.http.post("/console/register/client/cms-1/reactivate", data={"csrf": csrf})
    assert lifted.status_code == 200
    client = national.services.auth.clients.get("cms-1")
    assert client is not None
    assert not client.suspended_here


def test_the_nodes_own_organisation_is_refused_with_the_services_reason(node: Node) -> None:
    csrf = signed_in(node, "ada", "admin")
    refused = suspend(node, csrf, "org", "NODE01")
    assert refused.status_code == 400
    assert "is this node&#39;s own organisation" in refused.text
    assert "There is a problem" in refused.text
    assert node.services.auth.organisations.require("NODE01").operational_status == "active"


def test_a_practitioner_and_an_auditor_get_the_403_page(node: Node) -> None:
    node.organisation("LA0002")
    for name, role in (("pat", "practitioner"), ("aud", "auditor")):
        csrf = signed_in(node, name, role)
        page = node.http.get("/console/register")
        assert page.status_code == 403
        assert "You cannot open this page" in page.text
        posted = node.http.post("/console/register/org/LA0002/reactivate", data={"csrf": csrf})
        assert posted.status_code == 403
        assert 'href="/console/register"' not in node.http.get("/console").text
    assert node.services.auth.organisations.require("LA0002").operational_status == "active"


def test_without_the_csrf_token_nothing_is_suspended(node: Node) -> None:
    node.organisation("LA0002")
    signed_in(node, "ada", "admin")
    for path in ("/console/register/org/LA0002/confirm", "/console/register/org/LA0002/suspend"):
        refused = node.http.post(path, data={"csrf": "forged", "confirmed": "yes"})
        assert refused.status_code == 403
        assert "This form cannot be accepted" in refused.text
    assert node.services.auth.organisations.require("LA0002").operational_status == "active"


def test_hostile_names_are_shown_as_text(node: Node) -> None:
    for i, name in enumerate(HOSTILE):
        node.services.auth.organisations.add(f"HX000{i}", name, "la-childrens-social-care", actor=ADMIN_ACTOR)
    csrf = signed_in(node, "ada", "admin")
    page = node.http.get("/console/register").text
    confirm = node.http.post("/console/register/org/HX0000/confirm", data={"csrf": csrf}).text
    for name in HOSTILE:
        assert str(escape(name)) in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert str(escape(HOSTILE[0])) in confirm
    assert "<script>alert" not in confirm
    assert "<bdi>Fam\u202eylimaf</bdi>" in page


def test_an_unknown_entry_is_a_404_page(node: Node) -> None:
    csrf = signed_in(node, "ada", "admin")
    missing = node.http.post("/console/register/org/ZZ9999/confirm", data={"csrf": csrf})
    assert missing.status_code == 404
    assert "Not in the register" in missing.text


AGREEMENT = DEFAULTS / "sharing-policies" / "LA0001-NODE01-2026.json"


def console_actions(node: Node, action: str) -> list[tuple[str, str, str]]:
    """(target, outcome, agent) of each console record of ``action``."""
    found = []
    for record in node.services.audit.scan():
        event = record.event
        if action in [c["code"] for c in event.get("subtype", [])]:
            who = event["agent"][0]["who"]["identifier"]["value"]
            found.append((event["entity"][0]["what"]["reference"], event["outcome"], who))
    return found


def test_a_sharing_policy_is_held_listed_and_retired_after_confirmation(node: Node) -> None:
    csrf = signed_in(node, "ada", "admin")
    text = AGREEMENT.read_text(encoding="utf-8")
    held = node.http.post("/console/register/policies", data={"csrf": csrf, "document": text}, follow_redirects=False)
    assert held.status_code == 303, held.text
    assert [(e.policy.identifier, e.state) for e in sharing_policies.held(node.services)] == [
        ("LA0001-NODE01-2026", "in force")
    ]
    assert console_actions(node, "sharing-policy-change") == [("Contract/LA0001-NODE01-2026/_history/1", "0", "ada")]
    page = node.http.get(held.headers["location"]).text
    assert "LA0001-NODE01-2026 version 1 held" in page
    assert 'action="/console/register/policy/LA0001-NODE01-2026/confirm"' in page
    confirm = node.http.post("/console/register/policy/LA0001-NODE01-2026/confirm", data={"csrf": csrf})
    assert "Are you sure you want to retire this sharing policy?" in confirm.text
    unconfirmed = node.http.post("/console/register/policy/LA0001-NODE01-2026/retire", data={"csrf": csrf})
    assert unconfirmed.status_code == 400
    assert sharing_policies.held(node.services)[0].state == "in force"
    retired = node.http.post(
        "/console/register/policy/LA0001-NODE01-2026/retire",
        data={"csrf": csrf, "confirmed": "yes"},
        follow_redirects=False,
    )
    assert retired.status_code == 303
    assert [(e.policy.version, e.state) for e in sharing_policies.held(node.services)] == [
        (1, "active"),
        (2, "retired"),
    ]
    listed = node.http.get("/console/register").text
    assert re.findall(r'govuk-tag--grey">([a-z ]+)<', listed) == ["not in force", "retired"]
    assert "Retire<span" not in listed
    assert console_actions(node, "sharing-policy-change")[1:] == [
        ("Contract/LA0001-NODE01-2026/_history/2", "0", "ada")
    ]
    gone = node.http.post("/console/register/policy/LA0001-NODE01-2026/confirm", data={"csrf": csrf})
    assert gone.status_code == 404


def test_a_sharing_policy_the_node_cannot_act_on_is_refused_whole_with_an_error_summary(node: Node) -> None:
    csrf = signed_in(node, "ada", "admin")
    not_json = node.http.post("/console/register/policies", data={"csrf": csrf, "document": "{not json"})
    assert not_json.status_code == 400
    assert "There is a problem" in not_json.text
    assert "The document is not JSON" in not_json.text
    assert "{not json</textarea>" in not_json.text  # the person's entry is kept
    document = orjson.loads(AGREEMENT.read_bytes())
    document["Name"] = HOSTILE[1]
    document["Purpose"] = ["https://mais.example.org/fhir/CodeSystem/no-such|<script>alert(1)</script>"]
    refused = node.http.post(
        "/console/register/policies", data={"csrf": csrf, "document": orjson.dumps(document).decode()}
    )
    assert refused.status_code == 400
    assert 'href="#document"' in refused.text
    assert "<script>alert" not in refused.text
    assert "<img src=x" not in refused.text
    assert sharing_policies.held(node.services) == []
    assert [outcome for _, outcome, _ in console_actions(node, "sharing-policy-add")] == ["4"], refused.text


def test_the_rules_page_shows_the_set_in_force_and_the_policy_tests_on_disk(node: Node) -> None:
    signed_in(node, "ian", "ig-officer")
    page = node.http.get("/console/rules")
    assert page.status_code == 200, page.text
    in_force = node.services.rules.in_force
    assert in_force is not None
    assert in_force.content_hash in page.text
    assert "national/s17-child-in-need.cedar" in page.text
    run = run_policy_tests(node.services, node.services.settings.rules_dir / "tests")
    total = len(run.rows) + len(run.ask_rows)
    assert total > 10
    assert f"{total} passed, 0 failed" in page.text
    assert page.text.count('govuk-tag--green">passed') == total
    assert console_actions(node, "policy-test") == [("tests", "0", "ian")]
    assert 'href="/console/rules"' in page.text


def test_a_failing_case_on_disk_is_shown_failed(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULTS / "rules", rules)
    shutil.copytree(DEFAULTS / "sharing-policies", tmp_path / "sharing-policies")
    case = rules / "tests" / "use-cases" / "s17-child-in-need.json"
    case.write_text(case.read_text(encoding="utf-8").replace('"PERMIT"', '"DENY"', 1), encoding="utf-8")
    for node in make_node(tmp_path, rules_dir=rules):
        signed_in(node, "ada", "admin")
        page = node.http.get("/console/rules").text
        assert re.search(r"\d+ passed, 1 failed", page), page
        assert page.count('govuk-tag--red">failed') == 1


def test_a_practitioner_cannot_open_the_rules_or_hold_a_policy(node: Node) -> None:
    csrf = signed_in(node, "pat", "practitioner")
    assert node.http.get("/console/rules").status_code == 403
    text = AGREEMENT.read_text(encoding="utf-8")
    assert node.http.post("/console/register/policies", data={"csrf": csrf, "document": text}).status_code == 403
    assert sharing_policies.held(node.services) == []
