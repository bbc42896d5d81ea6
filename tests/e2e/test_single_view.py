"""Issue 15 with real processes: a register authority and a small network of ``mais serve`` nodes on 127.0.0.1,
each its own store, organisation, rules and people, all importing one signed register.

The requesting LA's node asks, through real HTTP between real nodes: the police (who know the child: KNOWN), a GP
(NOT_KNOWN), a school whose local rules forbid every enquiry (DECLINED), a neighbouring LA whose record of the
child has an unverified NHS number (a probable match: PENDING_REVIEW), a health visiting service whose node is down
(ERROR), a CAMHS node that accepts connections and never answers (TIMED_OUT) and a suspended police force
(NOT_ASKED). The neighbouring LA's IG officer then permits the referral, and the view's row turns KNOWN. Both sides'
trails are joined by the view's trace id. Every process is stopped by its id."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks, write_key_pair
from mais_node.audit.actors import Actor
from mais_node.config import DEFAULTS, Settings
from mais_node.demo_network import silent_node
from mais_node.matching.fhir_patient import NHS_VERIFICATION, UKCORE_VERIFICATION_SYSTEM
from mais_node.wiring import build_services
from tests.e2e.nodes import (
    TRACE_SYSTEM,
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
from tests.processes import free_port

pytestmark = pytest.mark.slow

ACTOR = Actor(org_ods="AUTH01", client_id="single-view-test")
NHS = "https://fhir.nhs.uk/Id/nhs-number"
CHILD = "9991316825"
LIVE_SECONDS = 8.0
PARTNERS = {  # ODS: (type, role in the scenario)
    "POL001": ("police", "knows the child"),
    "GP0001": ("gp", "does not"),
    "SCH001": ("school", "its rules forbid"),
    "LA0002": ("la-childrens-social-care", "refers"),
    "HV0001": ("health-visiting", "down"),
    "CAM001": ("camhs", "never answers"),
    "POL002": ("police", "suspended"),
}


def child(*, verified: bool) -> dict[str, Any]:
    identifier: dict[str, Any] = {"system": NHS, "value": CHILD}
    if verified:
        status = {"coding": [{"system": UKCORE_VERIFICATION_SYSTEM, "code": "number-present-and-verified"}]}
        identifier["extension"] = [{"url": NHS_VERIFICATION, "valueCodeableConcept": status}]
    return {
        "resourceType": "Patient",
        "identifier": [identifier],
        "name": [{"use": "official", "family": "Rogers", "given": ["Chantelle"]}],
        "birthDate": "2015-03-02",
    }


never_answering = silent_node  # a node that accepts connections and never says a word


@contextmanager
def refusing(port: int) -> Iterator[None]:
    """A node that is down: its port bound and not listening, so that a connection is refused and no other process
    (another test's server on a port it was given) can take the port meanwhile, which made the view wait for it."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        yield


def test_a_single_view_across_a_network_of_real_nodes(tmp_path: Path) -> None:
    ports = {ods: free_port() for ods in ["AUTH01", "LA0001", *PARTNERS]}
    base = {ods: f"http://127.0.0.1:{port}" for ods, port in ports.items()}
    authority_key = generate_private_jwk("ES384")
    trust = tmp_path / "trust.json"
    trust.write_bytes(orjson.dumps(public_jwks(authority_key)))
    write_key_pair(tmp_path / "la0001-identity", "ES384")

    authority = Settings(store=f"sqlite:///{tmp_path / 'authority.db'}", node_org="AUTH01")
    services = build_services(authority)
    try:
        orgs = services.auth.organisations
        orgs.add("LA0001", "Leeds Children's Services", "la-childrens-social-care", actor=ACTOR, verified=True)
        orgs.add_endpoint("LA0001", f"{base['LA0001']}/fhir", actor=ACTOR)
        services.auth.clients.add(
            "LA0001",
            ["mais/enquiry", "system/Task.crs"],
            actor=ACTOR,
            jwks_uri=f"{base['LA0001']}/.well-known/jwks.json",
        )
        for ods, (kind, _) in PARTNERS.items():
            orgs.add(ods, f"Partner {ods}", kind, actor=ACTOR, verified=True)
            orgs.add_endpoint(ods, f"{base[ods]}/fhir", actor=ACTOR)
        orgs.suspend("POL002", actor=ACTOR)
    finally:
        services.close()
    publish_from(authority, authority_key)

    seed(tmp_path / "POL001.db", "POL001", child(verified=True))
    seed(tmp_path / "LA0002.db", "LA0002", child(verified=False))
    seed(tmp_path / "SCH001.db", "SCH001", child(verified=True))
    school_rules = tmp_path / "school-rules"
    shutil.copytree(DEFAULTS / "rules", school_rules)
    (school_rules / "local" / "90-no-enquiries.cedar").write_text(
        '@id("local:forbid:every-enquiry")\nforbid (principal, action, resource);\n'
    )
    la_rules = tmp_path / "la0001-rules"
    shutil.copytree(DEFAULTS / "rules", la_rules)
    imports = {
        "MAIS_REGISTER_URL": f"{base['AUTH01']}/register",
        "MAIS_REGISTER_TRUST": str(trust),
        "MAIS_REGISTER_SYNC_SECONDS": "2",
    }
    with ExitStack() as stack:
        stack.enter_context(
            serving_on(ports["AUTH01"], tmp_path / "authority.db", tmp_path / "authority.log", MAIS_NODE_ORG="AUTH01")
        )
        stack.enter_context(never_answering(ports["CAM001"]))
        nodes = {}
        for ods in ("LA0001", "POL001", "GP0001", "SCH001", "LA0002"):
            env = imports | {"MAIS_NODE_ORG": ods}
            if ods == "LA0001":
                env |= {
                    "MAIS_IDENTITY_KEYS": str(tmp_path / "la0001-identity"),
                    "MAIS_SINGLE_VIEW_SECONDS": str(LIVE_SECONDS),
                    "MAIS_RULES_DIR": str(la_rules),
                }
            if ods == "SCH001":
                env["MAIS_RULES_DIR"] = str(school_rules)
            nodes[ods] = stack.enter_context(
                serving_on(ports[ods], tmp_path / f"{ods}.db", tmp_path / f"{ods}.log", **env)
            )
        for ods, node in nodes.items():
            until(lambda node=node: register_serial(node)["serial"] == 1, f"{ods} on serial 1")

        practitioner_id, practitioner_key = local_client(
            tmp_path / "LA0001.db", "LA0001", "mais/single-view system/Task.rs"
        )
        bearer = token(nodes["LA0001"], practitioner_id, practitioner_key, "mais/single-view system/Task.rs")
        question = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "resource", "resource": child(verified=False)},
                {
                    "name": "reason",
                    "valueCoding": {
                        "system": "https://mais.example.org/fhir/CodeSystem/request-asserted-purpose",
                        "code": "s47-enquiry",
                    },
                },
                {"name": "requestedItem", "valueCode": "is-known"},
                {"name": "requestedItem", "valueCode": "is-open"},
                {"name": "authorisedUser", "part": [{"name": "name", "valueString": "Sam Worker"}]},
            ],
        }
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/fhir+json"}
        started = time.monotonic()
        answer = httpx.post(
            f"{nodes['LA0001']}/fhir/Patient/$single-view", content=orjson.dumps(question), headers=headers, timeout=60
        )
        took = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        print(f"\nsingle view over {len(PARTNERS)} partners answered in {took:.2f} s (live deadline {LIVE_SECONDS} s)")
        view = answer.json()
        # The silent partner never answers: the view came back because the node cut it off at its live deadline,
        # and not before it (it waited the whole deadline for that partner). How close to the deadline the cut
        # comes is the unit tests' and the bench's (test_peers_http, bench_single_view): under a whole run on two
        # loaded cores this request took up to 10.8 s for an 8 s deadline.
        assert took >= LIVE_SECONDS * 0.95
        states = {ods: state for ods, (state, _) in rows(view).items()}
        assert states == {
            "POL001": "KNOWN",
            "GP0001": "NOT_KNOWN",
            "SCH001": "DECLINED",
            "LA0002": "PENDING_REVIEW",
            "HV0001": "ERROR",
            "CAM001": "TIMED_OUT",
            "POL002": "NOT_ASKED",
            "AUTH01": "NOT_ASKED",  # the register authority lists itself: not a partner for s47
        }, rows(view)
        assert rows(view)["HV0001"][1]["reason"].startswith("could not connect")
        assert rows(view)["POL002"][1]["reason"] == "organisation POL002 is operationally suspended"
        trace_id = next(i["value"] for i in view["identifier"] if i["system"] == TRACE_SYSTEM)

        # Both sides' trails, joined by the trace id: the view and its rows here, the enquiry at the police.
        own = traced(
            nodes["LA0001"],
            token(
                nodes["LA0001"],
                *local_client(tmp_path / "LA0001.db", "LA0001", "system/AuditEvent.rs"),
                "system/AuditEvent.rs",
            ),
            trace_id,
        )
        assert len([e for e in own if any(c["code"] == "single-view-row" for c in e["subtype"])]) == len(PARTNERS) + 1
        police_auditor = local_client(tmp_path / "POL001.db", "POL001", "system/AuditEvent.rs")
        theirs = traced(nodes["POL001"], token(nodes["POL001"], *police_auditor, "system/AuditEvent.rs"), trace_id)
        assert {"enquiry-received"} <= {c["code"] for e in theirs for c in e.get("subtype", [])}

        # The neighbouring LA's IG officer permits the referral; the view's row follows.
        partner_task = rows(view)["LA0002"][1]["partnerTask"]
        reviewer = local_client(tmp_path / "LA0002.db", "LA0002", "mais/reviewer system/Task.rs")
        decided = httpx.post(
            f"{partner_task}/$review",
            content=orjson.dumps(
                {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "decision", "valueCode": "permit"},
                        {"name": "reason", "valueString": "same child; s47 gateway"},
                    ],
                }
            ),
            headers={
                "Authorization": f"Bearer {token(nodes['LA0002'], *reviewer, 'mais/reviewer system/Task.rs')}",
                "Content-Type": "application/fhir+json",
            },
            timeout=10,
        )
        assert decided.status_code == 200, decided.text
        location = answer.headers["content-location"]
        read = {"Authorization": f"Bearer {bearer}"}

        def followed() -> bool:
            latest = httpx.get(location, headers=read, timeout=10).json()
            return rows(latest)["LA0002"][0] == "KNOWN"

        waited = until(followed, "the referred row decided", within=40)
        print(f"the referred row turned KNOWN {waited:.1f} s after the IG officer's decision")
        latest = httpx.get(location, headers=read, timeout=10)
        assert latest.headers["etag"] != answer.headers["etag"]
        assert (
            httpx.get(location, headers=read | {"If-None-Match": latest.headers["etag"]}, timeout=10).status_code == 304
        )

        # The practitioner's command line: the same question, one line per partner, the pending ones named.
        key_file = tmp_path / "practitioner.jwk.json"
        key_file.write_bytes(orjson.dumps(practitioner_key))
        command = [sys.executable, "-m", "mais_node", "single-view", "--server", nodes["LA0001"]]
        command += ["--client-id", practitioner_id, "--key", str(key_file), "--reason", "s47-enquiry"]
        command += ["--nhs-number", CHILD, "--family", "Rogers", "--given", "Chantelle", "--birth-date", "2015-03-02"]
        printed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert printed.returncode == 0, printed.stderr
        lines = {line.split()[0]: line.split()[1] for line in printed.stdout.splitlines() if line[:1].isupper()}
        assert lines["POL001"] == "KNOWN"
        assert lines["GP0001"] == "NOT_KNOWN"
        assert lines["CAM001"] == "TIMED_OUT"
        assert "pending: LA0002" in printed.stdout
        print(printed.stdout)

        # The operator adds one rule file: the running node no longer asks GPs, and says so with the rule's id.
        (la_rules / "asking" / "local" / "20-no-gps.cedar").write_text(
            '@id("local:ask:forbid:gps")\nforbid (principal, action == Action::"ask", resource)\n'
            'when { resource.type == "gp" };\n'
        )
        named = {**question, "parameter": [*question["parameter"], {"name": "target", "valueString": "GP0001"}]}
        refused = httpx.post(
            f"{nodes['LA0001']}/fhir/Patient/$single-view", content=orjson.dumps(named), headers=headers, timeout=60
        ).json()
        assert rows(refused)["GP0001"][0] == "NOT_ASKED"
        assert rows(refused)["GP0001"][1]["reason"] == "this node's rules forbid asking"
        assert rows(refused)["GP0001"][1]["rule"] == "local:ask:forbid:gps"
