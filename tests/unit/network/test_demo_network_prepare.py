"""``mais demo --network``'s preparation, in process: the signed register every node will trust, each partner's
store and people, and the commands it prints (the running network itself: tests/e2e/test_demo_network.py)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from mais_node.config import Settings
from mais_node.demo_network import CHILD, MEMBERS, commands, describe, prepare, save
from mais_node.network.signature import TrustedKeys, verify
from mais_node.wiring import build_services


def test_the_network_is_prepared_with_a_signed_register_and_each_partners_people(tmp_path: Path) -> None:
    network = prepare(tmp_path / "net", base_port=18500)

    register = orjson.loads((network.directory / "register.json").read_bytes())
    trust = TrustedKeys.from_jwks(orjson.loads((network.directory / "trust.json").read_bytes()))
    assert verify(register, trust) in trust.keys  # every node trusts what the authority signed
    organisations = {
        e["resource"]["identifier"][0]["value"]: e["resource"]
        for e in register["entry"]
        if e["resource"]["resourceType"] == "Organization"
    }
    assert set(organisations) == {"AUTH01", "LA0001", *(m.ods for m in MEMBERS)}  # the authority lists itself too
    endpoints = [e["resource"] for e in register["entry"] if e["resource"]["resourceType"] == "Endpoint"]
    assert {e["address"] for e in endpoints} >= {f"{network.bases[m.ods]}/fhir" for m in MEMBERS}
    assert len(set(network.bases.values())) == len(network.bases) == len(MEMBERS) + 2

    for member in MEMBERS:
        if member.behaviour != "serve":
            continue
        services = build_services(Settings(store=f"sqlite:///{network.directory / f'{member.ods}.db'}"))
        try:
            page = services.resources.search("Patient", [("identifier", CHILD["nhs_number"])]).page
            assert len(page.items) == len(member.knows), member.ods
        finally:
            services.close()

    printed = dict(commands(network))
    ask = next(text for what, text in printed.items() if what.startswith("the single view"))
    assert f"--client-id {network.practitioner.client_id}" in ask
    assert f"--nhs-number {CHILD['nhs_number']}" in ask
    assert all(network.bases[m.ods] in describe(network) for m in MEMBERS)
    save(network)
    saved = json.loads((network.directory / "network.json").read_text())
    assert saved["bases"] == network.bases
