"""The organisations register on FHIR Organization: fields, statuses, endpoints, and an audit record per change."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import InvalidRequest, NotFound, VersionConflict
from mais_node.register.fhir_organisation import OPERATIONAL, PROFILE, from_resource, to_resource
from mais_node.register.model import ODS_SYSTEM, IgReference, Organisation
from tests.unit.auth.support import ADMIN, World

EXAMPLE = DEFAULTS / "profiles" / "examples" / "mais-organisation-valid-la-childrens.json"


def test_the_node_is_in_its_own_register_from_the_first_start(world: World) -> None:
    node = world.auth.organisations.get("NODE01")
    assert node is not None
    assert node.may_connect


def test_an_added_organisation_is_a_searchable_versioned_organization(world: World) -> None:
    org = world.auth.organisations.add("la0001", "Leeds", "la-childrens-social-care", verified=True, actor=ADMIN)
    assert (org.ods, org.version, org.verification_date) == ("LA0001", 1, "2026-11-26")
    found = world.services.resources.search("Organization", [("type", "la-childrens-social-care")])
    body = found.page.items[0].body
    assert body["meta"]["profile"] == [PROFILE]
    assert {"url": OPERATIONAL, "valueCode": "active"} in body["extension"]
    event = world.audit.records[-1].event
    assert event["action"] == "C"
    assert event["entity"][0]["what"]["reference"] == f"Organization/{org.id}/_history/1"


def test_an_ods_code_is_registered_once(world: World) -> None:
    world.organisation("LA0001")
    with pytest.raises(VersionConflict):
        world.auth.organisations.add("LA0001", "Again", "police", actor=ADMIN)


@pytest.mark.parametrize(
    ("ods", "name", "type_", "message"),
    [("L!", "x", "police", "ODS"), ("LA0003", " ", "police", "name"), ("LA0003", "x", "bank", "organisation-type")],
)
def test_bad_entries_are_refused(world: World, ods: str, name: str, type_: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        world.auth.organisations.add(ods, name, type_, actor=ADMIN)


def test_suspend_and_activate_are_new_versions_with_before_and_after(world: World) -> None:
    world.organisation("LA0001")
    suspended = world.auth.organisations.suspend("LA0001", actor=ADMIN)
    assert (suspended.operational_status, suspended.version, suspended.may_connect) == ("suspended", 2, False)
    detail = {d["type"]: d["valueString"] for d in world.audit.records[-1].event["entity"][0]["detail"]}
    assert detail == {"before-version": "1", "after-version": "2"}
    assert world.auth.organisations.activate("LA0001", actor=ADMIN).may_connect


def test_verification_is_dated(world: World) -> None:
    world.organisation("LA0002", verified=False)
    assert world.auth.organisations.require("LA0002").why_not() == "organisation LA0002 is unverified"
    verified = world.auth.organisations.verify("LA0002", actor=ADMIN)
    assert (verified.verification_status, verified.verification_date) == ("verified", "2026-11-26")


def test_an_impossible_status_is_refused(world: World) -> None:
    world.organisation("LA0001")
    with pytest.raises(InvalidRequest):
        world.auth.organisations.change("LA0001", actor=ADMIN, operational_status="asleep")


def test_an_unknown_organisation_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.auth.organisations.suspend("ZZ999", actor=ADMIN)


def test_an_endpoint_is_a_fhir_endpoint_referenced_by_the_organisation(world: World) -> None:
    world.organisation("LA0001")
    org = world.auth.organisations.add_endpoint("LA0001", "https://la0001.example/fhir", actor=ADMIN)
    endpoint = world.services.resources.read("Endpoint", org.endpoints[0]).body
    assert endpoint["address"] == "https://la0001.example/fhir"
    assert endpoint["managingOrganization"]["reference"] == f"Organization/{org.id}"
    with pytest.raises(InvalidRequest):
        world.auth.organisations.add_endpoint("LA0001", "ftp://x", actor=ADMIN)


@pytest.mark.parametrize(
    "address", ["https://", "http://", "https://la 0001.example/fhir", "http://la0001.example/fhir"]
)
def test_an_endpoint_address_is_an_https_url_with_a_host(world: World, address: str) -> None:
    world.organisation("LA0001")
    with pytest.raises(InvalidRequest, match="https"):
        world.auth.organisations.add_endpoint("LA0001", address, actor=ADMIN)
    assert world.auth.organisations.require("LA0001").endpoints == ()


def test_the_register_lists_every_organisation(world: World) -> None:
    for code in ("LA0003", "LA0001", "LA0002"):
        world.organisation(code)
    assert [o.ods for o in world.auth.organisations.list()] == ["LA0001", "LA0002", "LA0003", "NODE01"]


def test_the_profile_example_reads_as_a_register_entry() -> None:
    org = from_resource(json.loads(EXAMPLE.read_text()), 1)
    assert org is not None
    assert (org.ods, org.type, org.may_connect) == ("X26", "la-childrens-social-care", True)
    assert org.ig_references == (IgReference("https://ico.org.uk/registration", "Z1234567"),)
    assert (org.system_provider, org.system_version) == ("Example Case Systems Ltd", "7.2")


def test_fields_the_register_does_not_own_are_kept_on_update() -> None:
    org = Organisation("LA0001", "Leeds", "police", ig_references=(IgReference("s", "v"),))
    base = {"resourceType": "Organization", "telecom": [{"system": "phone", "value": "0113"}]}
    body = to_resource(org, base)
    assert body["telecom"] == base["telecom"]
    assert from_resource(body, 1) == replace(org, version=1)


def test_an_organization_without_register_extensions_may_not_connect() -> None:
    body = {"resourceType": "Organization", "identifier": [{"system": ODS_SYSTEM, "value": "Q1"}]}
    org = from_resource(body, 1)
    assert org is not None
    assert not org.may_connect
    assert from_resource({"resourceType": "Organization"}, 1) is None
