"""The console's register page in process: organisations and systems with their source (local or national serial
N); a suspension only through its confirmation page, by the same register service as ``mais org`` and the REST
API, audited with the person; reactivation; the node's own entry refused with the service's reason; hostile names
shown as text; the role and the CSRF token checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from markupsafe import escape

from mais_node.adapters.jose_keys import generate_private_jwk
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
