"""Issue 15 item 5 across a restart, with real processes: a referred row is followed from the requesting node's
store, so stopping that node loses nothing. A register authority, the requesting LA's node and a neighbouring LA whose
record of the child has an unverified NHS number (it refers the enquiry to its IG officer). A view is started, the
requesting node is stopped by its process id, the partner's IG officer permits, the requesting node is started again
on the same store (and port), and the row turns KNOWN with the view's version bumped and the requester's AuditEvent
for the late answer recorded. Every process is stopped by its id."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks, write_key_pair
from mais_node.config import Settings
from mais_node.wiring import build_services
from tests.e2e.nodes import (
    ACTOR,
    local_client,
    publish_from,
    register_serial,
    rows,
    seed,
    serving_on,
    token,
    traced,
    until,
)
from tests.e2e.test_single_view import child
from tests.processes import free_port

pytestmark = pytest.mark.slow

PURPOSE = "https://mais.example.org/fhir/CodeSystem/request-asserted-purpose"
SCOPE = "mais/single-view system/Task.rs"


def question() -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": child(verified=False)},
            {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "s47-enquiry"}},
            {"name": "requestedItem", "valueCode": "is-known"},
            {"name": "authorisedUser", "part": [{"name": "name", "valueString": "Sam Worker"}]},
            {"name": "target", "valueString": "LA0002"},
        ],
    }


def permit(partner_task: str, store: Path, base: str) -> None:
    reviewer = local_client(store, "LA0002", "mais/reviewer system/Task.rs")
    decision = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "decision", "valueCode": "permit"},
            {"name": "reason", "valueString": "same child; s47 gateway"},
        ],
    }
    decided = httpx.post(
        f"{partner_task}/$review",
        content=orjson.dumps(decision),
        headers={
            "Authorization": f"Bearer {token(base, *reviewer, 'mais/reviewer system/Task.rs')}",
            "Content-Type": "application/fhir+json",
        },
        timeout=10,
    )
    assert decided.status_code == 200, decided.text


def test_a_referred_row_is_answered_after_the_requesting_node_restarts(tmp_path: Path) -> None:
    ports = {ods: free_port() for ods in ("AUTH01", "LA0001", "LA0002")}
    base = {ods: f"http://127.0.0.1:{port}" for ods, port in ports.items()}
    authority_key = generate_private_jwk("ES384")
    trust = tmp_path / "trust.json"
    trust.write_bytes(orjson.dumps(public_jwks(authority_key)))
    write_key_pair(tmp_path / "la0001-identity", "ES384")
    authority = Settings(store=f"sqlite:///{tmp_path / 'authority.db'}", node_org="AUTH01")
    services = build_services(authority)
    try:
        orgs = services.auth.organisations
        for ods, name in (("LA0001", "Leeds Children's Services"), ("LA0002", "Bradford Children's Services")):
            orgs.add(ods, name, "la-childrens-social-care", actor=ACTOR, verified=True)
            orgs.add_endpoint(ods, f"{base[ods]}/fhir", actor=ACTOR)
        services.auth.clients.add(
            "LA0001",
            ["mais/enquiry", "system/Task.crs"],
            actor=ACTOR,
            jwks_uri=f"{base['LA0001']}/.well-known/jwks.json",
        )
    finally:
        services.close()
    publish_from(authority, authority_key)
    seed(tmp_path / "LA0002.db", "LA0002", child(verified=False))
    imports = {
        "MAIS_REGISTER_URL": f"{base['AUTH01']}/register",
        "MAIS_REGISTER_TRUST": str(trust),
        "MAIS_REGISTER_SYNC_SECONDS": "2",
    }
    requester = imports | {
        "MAIS_NODE_ORG": "LA0001",
        "MAIS_IDENTITY_KEYS": str(tmp_path / "la0001-identity"),
        "MAIS_SINGLE_VIEW_SECONDS": "5",
        "MAIS_SINGLE_VIEW_FOLLOW_SECONDS": "0.2",
    }
    store, log = tmp_path / "LA0001.db", tmp_path / "LA0001.log"
    with ExitStack() as stack:
        stack.enter_context(
            serving_on(ports["AUTH01"], tmp_path / "authority.db", tmp_path / "authority.log", MAIS_NODE_ORG="AUTH01")
        )
        partner = stack.enter_context(
            serving_on(
                ports["LA0002"], tmp_path / "LA0002.db", tmp_path / "LA0002.log", **imports, MAIS_NODE_ORG="LA0002"
            )
        )
        until(lambda: register_serial(partner)["serial"] == 1, "LA0002 on serial 1")
        practitioner = local_client(store, "LA0001", SCOPE)

        with serving_on(ports["LA0001"], store, log, **requester) as node:
            until(lambda: register_serial(node)["serial"] == 1, "LA0001 on serial 1")
            answer = httpx.post(
                f"{node}/fhir/Patient/$single-view",
                content=orjson.dumps(question()),
                headers={
                    "Authorization": f"Bearer {token(node, *practitioner, SCOPE)}",
                    "Content-Type": "application/fhir+json",
                },
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            view = answer.json()
            assert rows(view)["LA0002"][0] == "PENDING_REVIEW", rows(view)
            assert view["status"] == "in-progress"
        # The requesting node is stopped (by its process id). The partner's IG officer decides meanwhile.
        permit(rows(view)["LA0002"][1]["partnerTask"], tmp_path / "LA0002.db", partner)

        with serving_on(ports["LA0001"], store, log.with_suffix(".again.log"), **requester) as node:
            bearer = {"Authorization": f"Bearer {token(node, *practitioner, SCOPE)}"}
            location = answer.headers["content-location"]

            def answered() -> bool:
                return rows(httpx.get(location, headers=bearer, timeout=10).json())["LA0002"][0] == "KNOWN"

            waited = until(answered, "the referred row answered after the restart", within=30)
            print(f"\nthe row turned KNOWN {waited:.1f} s after the requesting node started again")
            latest = httpx.get(location, headers=bearer, timeout=10)
            assert int(latest.json()["meta"]["versionId"]) > int(view["meta"]["versionId"])
            assert latest.headers["etag"] != answer.headers["etag"]
            until(lambda: httpx.get(location, headers=bearer, timeout=10).json()["status"] == "completed", "completed")
            trace_id = next(i["value"] for i in view["identifier"] if i["system"].endswith("/Id/trace-id"))
            auditor = local_client(store, "LA0001", "system/AuditEvent.rs")
            trail = traced(node, token(node, *auditor, "system/AuditEvent.rs"), trace_id)
            late = [
                e
                for e in trail
                if {"single-view-row", "known"} <= {c["code"] for c in e.get("subtype", [])}
                and any((x.get("what") or {}).get("identifier", {}).get("value") == "LA0002" for x in e["entity"])
            ]
            assert len(late) == 1, [e.get("subtype") for e in trail]
