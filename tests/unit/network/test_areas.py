"""The areas an organisation serves (issue 15 item 3): ONS LAD codes, set by ``mais org add --area``, on the
Organization of the signed register, read back by every node that imports it; a malformed code refused."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mais_node.errors import InvalidRequest
from mais_node.network import bundle
from mais_node.network.diff import diff
from mais_node.network.model import entry_states, from_entries, header_state, organisation_from_state
from mais_node.register.areas import LAD_SYSTEM, lad_code, lad_codes
from mais_node.register.fhir_organisation import AREA_SERVED, from_resource, to_resource
from tests.registers import Authority, an_organisation
from tests.unit.network.test_cli_network import authority, new_store, run

LEEDS, BRADFORD = "E08000035", "E08000032"


@pytest.mark.parametrize("text", ["E08000035", "e08000035", " W06000015 ", "S12000036", "N09000003"])
def test_a_lad_code_is_a_nation_letter_and_eight_digits(text: str) -> None:
    assert lad_code(text) == text.strip().upper()


@pytest.mark.parametrize("text", ["", "Leeds", "E0800003", "E080000351", "X08000035", "E08-00035", "LS1"])
def test_anything_else_is_refused_naming_the_format(text: str) -> None:
    with pytest.raises(InvalidRequest, match="E06000001-style"):
        lad_code(text)


def test_codes_are_kept_once_each_in_the_order_given() -> None:
    assert lad_codes([LEEDS, BRADFORD, LEEDS.lower()]) == (LEEDS, BRADFORD)


def test_the_areas_ride_on_the_organization_as_ons_codings() -> None:
    org = an_organisation("POL001", type="police", areas=(LEEDS, BRADFORD))
    body = to_resource(org)
    served = [e["valueCoding"] for e in body["extension"] if e["url"] == AREA_SERVED]
    assert served == [{"system": LAD_SYSTEM, "code": LEEDS}, {"system": LAD_SYSTEM, "code": BRADFORD}]
    back = from_resource(body, 1)
    assert back is not None
    assert back.areas == (LEEDS, BRADFORD)


def test_the_signed_register_carries_the_areas_to_the_store_and_back() -> None:
    authority_ = Authority()
    org = an_organisation("POL001", type="police", areas=(LEEDS,))
    content = bundle.parse(authority_.signed(authority_.content(3, [org])))
    assert content.organisations["POL001"].areas == (LEEDS,)
    kept = from_entries(header_state(content), entry_states(content))
    assert kept.organisations["POL001"].areas == (LEEDS,)
    # a serial kept before areas were recorded reads as serving none
    old = {k: v for k, v in kept.state()["organisations"][0].items() if k != "areas"}
    assert organisation_from_state(old).areas == ()


def test_a_change_of_areas_is_a_change_an_import_applies_and_records() -> None:
    authority_ = Authority()
    before = bundle.parse(authority_.signed(authority_.content(3, [an_organisation("POL001", areas=(LEEDS,))])))
    after = bundle.parse(authority_.signed(authority_.content(4, [an_organisation("POL001", areas=(BRADFORD,))])))
    changes = [c for c in diff(before, after) if c.kind == "organisation"]
    assert [(c.key, c.action) for c in changes] == [("POL001", "changed")]
    assert changes[0].after is not None
    assert changes[0].after["areas"] == [BRADFORD]


@pytest.mark.parametrize(
    ("coding", "said"),
    [
        ({"system": LAD_SYSTEM, "code": "Leeds"}, "E06000001-style"),
        ({"system": LAD_SYSTEM, "code": "e08000035"}, "upper-case LAD codes"),
        ({"system": "https://example.org/postcode-areas", "code": "LS"}, "ONS LAD Coding"),
        ("E08000035", "ONS LAD Coding"),
    ],
)
def test_a_register_with_a_malformed_area_is_refused_naming_the_organisation(coding: object, said: str) -> None:
    authority_ = Authority()
    doc = copy.deepcopy(authority_.signed(authority_.content(3, [an_organisation("POL001", areas=(LEEDS,))])))
    org = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Organization")
    next(e for e in org["extension"] if e["url"] == AREA_SERVED).update(valueCoding=coding)
    with pytest.raises(bundle.Malformed, match=f"Organization POL001: .*{said}"):
        bundle.parse(doc)


def test_the_authority_sets_areas_and_every_node_that_imports_the_register_sees_them(tmp_path: Path) -> None:
    store, key, trust, _ = authority(tmp_path)
    added = run(
        "org", "add", "--store", store, "--ods", "POL001", "--name", "Police", "--type", "police", "--verified",
        "--area", LEEDS, "--area", BRADFORD.lower(),
    )  # fmt: skip
    assert added.strip().endswith(f"areas={LEEDS},{BRADFORD}")
    out = tmp_path / "register.json"
    run("authority", "publish", "--store", store, "--key", str(key), "--out", str(out))
    env = {"MAIS_NODE_ORG": "NODE02"}
    node = new_store(tmp_path, "node", env)
    run("register", "sync", "--store", node, "--url", str(out), "--trust", str(trust), env=env)
    lines = {line.split("\t")[0]: line for line in run("org", "list", "--store", node, env=env).splitlines()}
    assert f"areas={LEEDS},{BRADFORD}" in lines["POL001"]
    assert "areas=" not in lines["LA0001"]


def test_a_malformed_area_is_refused_in_one_line_and_nothing_is_added(tmp_path: Path) -> None:
    store = new_store(tmp_path, "authority")
    said = run(
        "org", "add", "--store", store, "--ods", "POL001", "--name", "Police", "--type", "police",
        "--area", "Leeds", code=1,
    )  # fmt: skip
    assert said.strip().splitlines() == [
        "error: 'Leeds' is not an ONS local authority district code (a letter E, W, S or N and 8 digits, "
        "E06000001-style)"
    ]
    assert "POL001" not in run("org", "list", "--store", store)


def test_the_authority_changes_the_areas_of_an_organisation_it_registered(tmp_path: Path) -> None:
    store = new_store(tmp_path, "authority")
    run("org", "add", "--store", store, "--ods", "POL001", "--name", "Police", "--type", "police", "--area", LEEDS)
    changed = run("org", "areas", "POL001", "--area", BRADFORD, "--store", store)
    assert changed.strip().endswith(f"areas={BRADFORD}")
    assert "areas=" not in run("org", "areas", "POL001", "--store", store)  # none given: none served
    said = run("org", "areas", "POL001", "--area", "Leeds", "--store", store, code=1)
    assert "E06000001-style" in said
