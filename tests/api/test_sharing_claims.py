"""Issue 12 item 10: a claimed sharing policy is found by its MAIS URI, by ``system|value`` and by value; an
agreement with a clause the node cannot interpret is refused when it is added (CLI and REST), naming the clause."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mais_node.cli import app
from mais_node.config import DEFAULTS, Settings
from mais_node.enquiry.records import to_contract
from mais_node.policy import parse_sharing_policy
from mais_node.wiring import build_services
from tests.api.conftest import Node
from tests.api.test_enquiry import FHIR, enquire, parameters, world  # noqa: F401 (world is a fixture)
from tests.builders import ODS

AGREEMENT = DEFAULTS / "sharing-policies" / "LA0001-NODE01-2026.json"
DOCUMENT: dict[str, Any] = orjson.loads(AGREEMENT.read_bytes())
GENERAL = {"name": "reason", "valueCoding": {"code": "general-safeguarding"}}
SYSTEM, VALUE = DOCUMENT["Identifier"]["System"], DOCUMENT["Identifier"]["value"]
PERMITTED = "dsa:LA0001-NODE01-2026:v1:clause:permitted-use"


@pytest.fixture
def held(world: Node) -> Node:  # noqa: F811
    policy = parse_sharing_policy(DOCUMENT)
    world.services.resources.update("Contract", policy.identifier, to_contract(DOCUMENT, policy))
    world.services.rules.refresh(force=True)
    return world


def _rules(answer: Any) -> set[str]:
    decisions = [p for p in answer.json().get("parameter", []) if p["name"] == "decision"]
    return {part["valueString"] for d in decisions for part in d["part"] if part["name"] == "rule"}


@pytest.mark.parametrize(
    "claim",
    [
        {"name": "sharingPolicy", "valueUri": DOCUMENT["URI"]},
        {"name": "sharingPolicy", "valueString": DOCUMENT["URI"]},
        {"name": "sharingPolicy", "valueIdentifier": {"system": SYSTEM, "value": VALUE}},
        {"name": "sharingPolicy", "valueString": f"{SYSTEM}|{VALUE}"},
        {"name": "sharingPolicy", "valueIdentifier": {"value": VALUE}},
        {"name": "sharingPolicy", "valueString": VALUE},
    ],
    ids=["uri", "uri-as-string", "identifier", "system|value", "identifier-value", "value"],
)  # fmt: skip
def test_a_claim_is_resolved_by_uri_by_system_and_value_and_by_value(held: Node, claim: dict[str, Any]) -> None:
    answer = _what_if(held, claim)
    assert answer.status_code == 200, answer.text
    assert any(rule.startswith("dsa:LA0001-NODE01-2026:v1:clause:permitted-use") for rule in _rules(answer)), (
        answer.text
    )
    assert enquire(held, parameters(claim, reason=GENERAL)).status_code in (200, 202)


def _what_if(node: Node, claim: dict[str, Any]) -> Any:
    """The decision, with the ids of the rules that took it, for LA0001 claiming the agreement."""
    requester = {"name": "requester", "valueIdentifier": {"system": ODS, "value": "LA0001"}}
    body = orjson.dumps(parameters(claim, requester, reason=GENERAL))
    headers = {**FHIR, **node.as_("mais/reviewer")}
    return node.http.post("/fhir/Patient/$what-if", content=body, headers=headers)


def test_a_claim_with_another_system_is_not_the_agreement(held: Node) -> None:
    claim = {"name": "sharingPolicy", "valueIdentifier": {"system": "https://example.org/other", "value": VALUE}}
    answer = _what_if(held, claim)
    assert answer.status_code == 422
    assert "not known to this node" in answer.text


def test_a_referred_claim_by_uri_is_decided_under_the_same_agreement(held: Node) -> None:
    """The REVIEW Task keeps the claim as it was made, so the review resolves the same agreement."""
    from mais_node.enquiry.parse import from_task
    from mais_node.enquiry.respond import task_for
    from mais_node.policy import current_versions
    from mais_node.policy.claims import Claims

    enquiry_body = parameters({"name": "sharingPolicy", "valueUri": DOCUMENT["URI"]}, reason=GENERAL)
    from mais_node.enquiry.parse import from_parameters

    enquiry = from_parameters(enquiry_body, orjson.dumps(enquiry_body))
    again = from_task(task_for(enquiry), b"")
    held_policies = held.services.rules.agreements.held()
    claims = Claims(held_policies, current_versions(held_policies))
    (name,) = again.sharing_policies
    resolved = claims.resolve(name)
    assert resolved is not None
    assert resolved.identifier == "LA0001-NODE01-2026"


def _document(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document.update(changes)
    return document


UNINTERPRETABLE = [
    (
        _document(PermittedUse=["read"]),
        "PermittedUse[0]: 'read' is not a use this node can interpret (did you mean 'odrl:read'?)",
    ),
    (
        _document(Purpose=["general-safegaurding"]),
        "Purpose[0]: 'general-safegaurding' is not a purpose in this node's vocabulary"
        " (did you mean 'general-safeguarding'?)",
    ),
    (_document(Party=[DOCUMENT["Party"][0]]), "Party: no party is this node's organisation (NODE01)"),
]


@pytest.mark.parametrize(("document", "wanted"), UNINTERPRETABLE, ids=["bare-read", "purpose", "parties"])
def test_sharing_policy_add_refuses_a_clause_it_cannot_interpret(
    tmp_path: Path, document: dict[str, Any], wanted: str
) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    build_services(Settings(store=store)).close()  # a node's store: the commands refuse one that does not exist
    path = tmp_path / "agreement.json"
    path.write_bytes(orjson.dumps(document))
    result = CliRunner().invoke(app, ["sharing-policy", "add", str(path), "--store", store])
    assert result.exit_code == 1, result.output
    assert wanted in result.output
    assert "Traceback" not in result.output
    listed = CliRunner().invoke(app, ["sharing-policy", "list", "--store", store])
    assert listed.output.strip() == ""


@pytest.mark.parametrize(("document", "wanted"), UNINTERPRETABLE[:1], ids=["bare-read"])
def test_a_contract_put_over_rest_with_such_a_clause_is_refused(
    node: Node, document: dict[str, Any], wanted: str
) -> None:
    contract = {
        "resourceType": "Contract",
        "id": "LA0001-NODE01-2026",
        "status": "executed",
        "legallyBindingAttachment": {
            "contentType": "application/json",
            "data": base64.b64encode(orjson.dumps(document)).decode(),
        },
    }
    headers = {**FHIR, **node.as_("system/*.cruds mais/admin")}
    answer = node.http.put("/fhir/Contract/LA0001-NODE01-2026", content=orjson.dumps(contract), headers=headers)
    assert answer.status_code == 422, answer.text
    assert wanted in answer.text
    good = {**contract, "legallyBindingAttachment": {**contract["legallyBindingAttachment"],
            "data": base64.b64encode(orjson.dumps(DOCUMENT)).decode()}}  # fmt: skip
    assert node.http.put(
        "/fhir/Contract/LA0001-NODE01-2026", content=orjson.dumps(good), headers=headers
    ).status_code in (200, 201)
