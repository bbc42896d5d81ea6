"""The crash test of issue 6 (DESIGN §7 "no answer leaves without its record"): the real server under enquiry load is
killed with SIGKILL at random moments, many times; after each restart every enquiry whose answer a client saw has its
AuditEvents (received and decided, and disclosed when something was released), and the whole trail verifies, against
the node's own signed checkpoint too. Loopback only; every server process is killed in a ``finally``."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.adapters.jose_signer import KeyRingSigner
from mais_node.audit.actors import Actor
from mais_node.audit.verify import verify
from mais_node.client import client_assertion
from mais_node.config import DEFAULTS, Settings
from mais_node.enquiry.records import to_contract
from mais_node.policy import parse_sharing_policy
from mais_node.wiring import build_services, start
from tests.api.test_enquiry import KNOWN, PURPOSE, S47, ask, person, subject
from tests.processes import free_port

ROUNDS = 10
THREADS = 3
MAX_PER_THREAD = 150  # bounds the load of one round whatever the machine's speed
KILL_AFTER = (0.2, 1.5)  # seconds of load before SIGKILL
READY_WITHIN = 20.0
CHECKPOINT_EVERY = 7  # so that crashes also land between a record and the checkpoint its writer signs
ENQUIRY_ID = "https://mais.example.org/fhir/Id/enquiry"
AGREEMENT = "LA0001-NODE01-2026"
SEEDER = Actor(org_ods="NODE01", client_id="crash-test")
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@dataclass(frozen=True)
class System:
    """A requesting system registered with the node: its organisation, client id and private key."""

    ods: str
    client_id: str
    private: dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """One kind of enquiry in the load and the answer it must get."""

    name: str
    system: str
    reason: dict[str, Any]
    extra: tuple[dict[str, Any], ...]
    status: int
    discloses: bool


GENERAL = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
KINDS = (
    Kind("s47", "LA0001", {"name": "reason", "valueUri": S47}, tuple(ask("is-known", "is-open", "contact")), 200, True),
    Kind("agreement", "LA0001", GENERAL, ({"name": "sharingPolicy", "valueString": AGREEMENT},), 200, True),
    Kind("referred", "LA0001", GENERAL, (), 202, False),
    Kind("denied", "POL001", {"name": "reason", "valueUri": S47}, (), 403, False),
)


@dataclass
class Load:
    """What the clients saw in one round: answered enquiries (request id -> kind), cut ones, and surprises."""

    answered: dict[str, Kind] = field(default_factory=dict)
    cut: int = 0
    surprises: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def seed(path: Path) -> dict[str, System]:
    """The node's store before its first start: register, systems with keys, a known person, the agreement."""
    services = build_services(Settings(store=f"sqlite:///{path}", checkpoint_every=CHECKPOINT_EVERY))
    try:
        start(services)
        systems = {}
        for ods, kind in (("LA0001", "la-childrens-social-care"), ("POL001", "police")):
            services.auth.organisations.add(ods, f"Organisation {ods}", kind, actor=SEEDER, verified=True)
            private = generate_private_jwk("ES384")
            client = services.auth.clients.add(ods, ["mais/enquiry"], actor=SEEDER, jwks=public_jwks(private))
            systems[ods] = System(ods, client.client_id, private)
        team = {"resourceType": "Organization", "name": "North Team", "telecom": [{"system": "phone", "value": "0113"}]}
        team_id = services.resources.create("Organization", team).stored.id
        patient_id = services.resources.create("Patient", person(*KNOWN.values())).stored.id
        episode = {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "patient": {"reference": f"Patient/{patient_id}"},
            "managingOrganization": {"reference": f"Organization/{team_id}"},
        }
        services.resources.create("EpisodeOfCare", episode)
        document = orjson.loads(Path(DEFAULTS / f"sharing-policies/{AGREEMENT}.json").read_bytes())
        services.resources.update("Contract", AGREEMENT, to_contract(document, parse_sharing_policy(document)))
    finally:
        services.close()
    return systems


@contextmanager
def serving(path: Path, log: IO[bytes], workers: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``mais serve`` on a fresh loopback port, ready; killed with SIGKILL on the way out whatever happened.

    The server runs in a process group of its own, so its workers die with it as on a machine that loses power."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")}
    env |= {"MAIS_BASE_URL": base, "MAIS_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY), "MAIS_LOG_LEVEL": "warning"}
    env["MAIS_RATE_LIMIT_REQUESTS"] = "1000000"  # the load is the test's own; throttling is tested elsewhere
    command = [sys.executable, "-m", "mais_node", "serve", "--store", f"sqlite:///{path}", "--port", str(port)]
    command += ["--workers", str(workers)]
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=path.parent, start_new_session=True
    )
    try:
        wait_ready(server, base)
        yield server, base
    finally:
        kill(server)


def kill(server: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's process group; only while the server is unreaped, so its group id cannot be reused."""
    if server.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def wait_ready(server: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + READY_WITHIN
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"the server exited with {server.returncode} before it was ready")
            try:
                if http.get(f"{base}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    pytest.fail(f"the server was not ready within {READY_WITHIN} s")


def token(http: httpx.Client, base: str, system: System) -> str:
    url = f"{base}/auth/token"
    answer = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "scope": "mais/enquiry",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(system.client_id, url, system.private),
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def enquiry(kind: Kind, request_id: str) -> bytes:
    parameters = [
        {"name": "resource", "resource": subject()},
        kind.reason,
        {"name": "requestId", "valueString": request_id},
        *kind.extra,
    ]
    return orjson.dumps({"resourceType": "Parameters", "parameter": parameters})


def seen(kind: Kind, answer: httpx.Response) -> str | None:
    """Why ``answer`` is not the one ``kind`` must get, or None when it is."""
    expected = {200: "Parameters", 202: "Task", 403: "OperationOutcome"}[kind.status]
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code != kind.status or body.get("resourceType") != expected:
        return f"{kind.name}: {answer.status_code} {answer.text[:200]}"
    if kind.status == 200:
        match: dict[str, Any] = next((p for p in body["parameter"] if p["name"] == "match"), {})
        return None if match.get("valueBoolean") is True else f"{kind.name}: the known person was not matched"
    return None


def fire(base: str, tokens: dict[str, str], worker: int, load: Load, stop: threading.Event) -> None:
    """Send enquiries of every kind until the server dies (or the round's bound); record what was answered."""
    with httpx.Client(timeout=10.0) as http:
        for number in range(MAX_PER_THREAD):
            if stop.is_set():
                return
            kind = KINDS[(number + worker) % len(KINDS)]
            request_id = uuid.uuid4().hex
            headers = FHIR | {"Authorization": f"Bearer {tokens[kind.system]}"}
            try:
                answer = http.post(
                    f"{base}/fhir/Patient/$person-info-query", content=enquiry(kind, request_id), headers=headers
                )
            except httpx.TransportError:
                with load.lock:
                    load.cut += 1
                return
            surprise = seen(kind, answer)
            with load.lock:
                if surprise is None:
                    load.answered[request_id] = kind
                else:
                    load.surprises.append(surprise)


def crash(server: subprocess.Popen[bytes], base: str, systems: dict[str, System], after: float) -> Load:
    """Put the running node under enquiry load and SIGKILL it ``after`` seconds in; what the clients saw."""
    load, stop = Load(), threading.Event()
    with httpx.Client(timeout=5.0) as http:
        tokens = {ods: token(http, base, system) for ods, system in systems.items()}
    workers = [threading.Thread(target=fire, args=(base, tokens, n, load, stop), daemon=True) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    time.sleep(after)
    kill(server)
    stop.set()
    for worker in workers:
        worker.join(timeout=15)
    assert not any(worker.is_alive() for worker in workers)
    return load


def check_trail(path: Path, answered: dict[str, Kind]) -> tuple[int, int]:
    """Every answered enquiry has its AuditEvents; the chain and its latest signed checkpoint verify.

    Returns the number of records and the seq of that checkpoint (0 while none has been signed)."""
    services = build_services(Settings(store=f"sqlite:///{path}"))
    try:
        steps: dict[str, set[str]] = {}
        for record in services.audit.scan():
            for entity in record.event.get("entity", []):
                identifier = (entity.get("what") or {}).get("identifier") or {}
                if identifier.get("system") == ENQUIRY_ID:
                    steps.setdefault(identifier["value"], set()).update(
                        coding["code"] for coding in record.event["subtype"]
                    )
        for request_id, kind in answered.items():
            have = steps.get(request_id, set())
            must = {"enquiry-received", "decision"} | ({"disclose"} if kind.discloses else set())
            assert must <= have, f"{kind.name} enquiry {request_id} was answered but its trail has only {have}"
        report = verify(services.audit.scan())
        assert report.ok, str(report)
        checkpoint = services.checkpoints.latest_checkpoint()
        if checkpoint is None:
            return report.records, 0
        signed = verify(services.audit.scan(), checkpoint, KeyRingSigner(services.auth.keyring))
        assert signed.ok, str(signed)
        return report.records, checkpoint.seq
    finally:
        services.close()


def test_every_answer_seen_survives_sigkill_with_its_audit_trail(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    systems = seed(path)
    seed_value = random.randrange(2**32)
    rng = random.Random(seed_value)
    answered: dict[str, Kind] = {}
    cut = records = checkpointed = 0
    with (tmp_path / "server.log").open("wb") as log:
        for round_ in range(ROUNDS + 1):
            # Every other run has two worker processes: two writers on one chain, both killed mid-write.
            with serving(path, log, workers=1 + round_ % 2) as (server, base):
                # After each restart: everything answered before any of the crashes is in the trail, which verifies.
                records, checkpointed = check_trail(path, answered)
                if round_ == ROUNDS:
                    break
                load = crash(server, base, systems, rng.uniform(*KILL_AFTER))
            assert not load.surprises, f"round {round_} (seed {seed_value}): {load.surprises[:3]}"
            answered |= load.answered
            cut += load.cut
    assert len(answered) >= ROUNDS * 3, f"too little load to prove anything (seed {seed_value})"
    assert cut >= 1, f"no SIGKILL landed while an enquiry was in flight (seed {seed_value})"
    assert records > len(answered) * 2
    assert checkpointed > records - 3 * CHECKPOINT_EVERY, "the writers stopped signing checkpoints"
