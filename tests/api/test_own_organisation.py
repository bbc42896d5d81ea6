"""Issue 13 item 7: nothing an administrator does over HTTP takes the node's own organisation, or its own systems,
out of its register or stops them connecting; each such change is refused with 409 naming why. The operator at the
node's console (the CLI) keeps the power to suspend."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mais_node.register.fhir_organisation import OPERATIONAL, TECHNICAL, VERIFICATION
from mais_node.register.model import ODS_SYSTEM
from tests.api.conftest import Node

FHIR = {"content-type": "application/fhir+json"}
ADMIN = "system/*.cruds mais/admin"


def own(node: Node) -> tuple[str, dict[str, Any], int]:
    """The node's own Organization: id, body and version."""
    org = node.services.auth.organisations.require("NODE01")
    assert org.id is not None
    stored = node.services.resources.read("Organization", org.id)
    return org.id, stored.body, stored.version


def refused_with_409(answer: Any, words: str) -> None:
    assert answer.status_code == 409, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]


def still_connects(node: Node, admin: dict[str, str]) -> None:
    """The node's own systems still get tokens and their tokens still work."""
    assert node.services.auth.organisations.require("NODE01").may_connect
    assert node.http.get("/fhir/Organization", headers=admin).status_code == 200
    assert node.http.get("/fhir/Organization", headers=node.as_(ADMIN)).status_code == 200


def test_deleting_the_nodes_own_organisation_is_refused_and_nothing_changes(node: Node) -> None:
    admin = node.as_(ADMIN)
    org_id, _, version = own(node)
    answer = node.http.delete(f"/fhir/Organization/{org_id}", headers=admin)
    refused_with_409(answer, "NODE01 is this node's own organisation")
    assert own(node)[2] == version
    still_connects(node, admin)


def _set(body: dict[str, Any], url: str, code: str) -> dict[str, Any]:
    return {**body, "extension": [e for e in body["extension"] if e["url"] != url] + [{"url": url, "valueCode": code}]}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda b: _set(b, OPERATIONAL, "suspended"), "operationally suspended"),
        (lambda b: _set(b, OPERATIONAL, "inactive"), "operationally inactive"),
        (lambda b: _set(b, TECHNICAL, "inactive"), "technically inactive"),
        (lambda b: _set(b, VERIFICATION, "rejected"), "rejected"),
        (lambda b: {**b, "extension": []}, "operationally inactive"),
        (lambda b: {**b, "identifier": [{"system": ODS_SYSTEM, "value": "ELSE01"}]}, "its ODS code"),
        (lambda b: {**b, "identifier": []}, "its ODS code"),
        (lambda b: {**b, "active": False}, "made inactive"),
    ],
    ids=["suspended", "inactive", "technically-inactive", "rejected", "no-statuses", "other-ods", "no-ods", "active"],
)
def test_an_update_that_stops_the_nodes_own_organisation_connecting_is_refused(
    node: Node, change: Any, words: str
) -> None:
    admin = node.as_(ADMIN)
    org_id, body, version = own(node)
    changed = change({k: v for k, v in body.items() if k != "meta"})
    answer = node.http.put(f"/fhir/Organization/{org_id}", content=orjson.dumps(changed), headers={**FHIR, **admin})
    refused_with_409(answer, words)
    assert own(node)[2] == version
    still_connects(node, admin)


def test_an_update_that_keeps_the_nodes_own_organisation_connecting_is_accepted(node: Node) -> None:
    admin = node.as_(ADMIN)
    org_id, body, version = own(node)
    changed = {**{k: v for k, v in body.items() if k != "meta"}, "telecom": [{"system": "phone", "value": "0113"}]}
    answer = node.http.put(f"/fhir/Organization/{org_id}", content=orjson.dumps(changed), headers={**FHIR, **admin})
    assert answer.status_code == 200, answer.text
    assert own(node)[2] == version + 1
    still_connects(node, admin)


def test_a_patch_or_a_conditional_write_of_the_nodes_own_organisation_is_refused_too(node: Node) -> None:
    """PATCH and the conditional interactions reach the same guard as PUT and DELETE."""
    admin = node.as_(ADMIN)
    org_id, _, version = own(node)
    merge = {"active": False}
    patched = node.http.patch(
        f"/fhir/Organization/{org_id}",
        content=orjson.dumps(merge),
        headers={"content-type": "application/merge-patch+json", **admin},
    )
    refused_with_409(patched, "made inactive")
    by_ods = f"identifier={ODS_SYSTEM}|NODE01"
    conditional = node.http.patch(
        f"/fhir/Organization?{by_ods}",
        content=orjson.dumps(merge),
        headers={"content-type": "application/merge-patch+json", **admin},
    )
    refused_with_409(conditional, "made inactive")
    deleted = node.http.delete(f"/fhir/Organization?{by_ods}", headers=admin)
    refused_with_409(deleted, "cannot be deleted over the API")
    assert own(node)[2] == version
    still_connects(node, admin)


def test_a_second_entry_with_the_nodes_ods_code_cannot_shadow_its_own(node: Node) -> None:
    """The register is looked up by ODS code: a second, inactive NODE01 would answer for the node's own."""
    admin = node.as_(ADMIN)
    _, body, _ = own(node)
    twin = {k: v for k, v in _set(body, OPERATIONAL, "inactive").items() if k not in ("id", "meta")}
    created = node.http.post("/fhir/Organization", content=orjson.dumps(twin), headers={**FHIR, **admin})
    refused_with_409(created, "NODE01 is already in the register")
    node.organisation("LA0001")
    other = node.services.auth.organisations.require("LA0001")
    assert other.id is not None
    renamed = {**node.services.resources.read("Organization", other.id).body, "identifier": body["identifier"]}
    renamed.pop("meta")
    answer = node.http.put(f"/fhir/Organization/{other.id}", content=orjson.dumps(renamed), headers={**FHIR, **admin})
    refused_with_409(answer, "NODE01 is already in the register")
    put_new = node.http.put(
        "/fhir/Organization/twin1", content=orjson.dumps({**twin, "id": "twin1"}), headers={**FHIR, **admin}
    )
    refused_with_409(put_new, "NODE01 is already in the register")
    still_connects(node, admin)


def test_the_register_routes_refuse_to_suspend_the_nodes_own_organisation(node: Node) -> None:
    admin = node.as_(ADMIN)
    answer = node.http.post("/auth/register/organisations/NODE01/suspend", headers=admin)
    refused_with_409(answer, "mais org suspend NODE01")
    still_connects(node, admin)
    node.organisation("LA0001")
    assert node.http.post("/auth/register/organisations/LA0001/suspend", headers=admin).status_code == 200


def test_the_nodes_own_systems_cannot_be_revoked_over_http(node: Node) -> None:
    admin = node.as_(ADMIN)
    mine = node.services.auth.clients.list("NODE01")
    for client in mine:
        answer = node.http.post(f"/auth/register/clients/{client.client_id}/revoke", headers=admin)
        refused_with_409(answer, "mais client revoke")
        assert node.services.auth.clients.get(client.client_id).active  # type: ignore[union-attr]
    still_connects(node, admin)
    node.organisation("LA0001")
    node.token("mais/enquiry", "LA0001")
    partner = node.services.auth.clients.list("LA0001")[0]
    revoked = node.http.post(f"/auth/register/clients/{partner.client_id}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
