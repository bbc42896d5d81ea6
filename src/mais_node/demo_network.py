"""``mais demo --network`` (issue 15 item 8): a register authority and a small network on 127.0.0.1, each node its
own ``mais serve`` process with its own store, organisation, rules and people, all importing one signed register.

The requesting LA's node (LA0001) and its partners: the police and a health visiting service who both know the child
(KNOWN, with contacts), a GP who does not (NOT_KNOWN), a school whose local rules forbid every enquiry (DECLINED), a
neighbouring LA holding the child with an unverified NHS number (a probable match: PENDING_REVIEW), a CAMHS node that
accepts connections and never answers (slow: TIMED_OUT), a youth justice node that is down (ERROR), and a suspended
police force (NOT_ASKED). Each organisation records the local authority areas it serves (ONS LAD codes: Leeds
E08000035, Bradford E08000032, North Yorkshire E06000065), so ``--area`` narrows who is asked. Everything lives
under ``var/demo-network/``; the processes stop with the demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks, write_key_pair
from mais_node.audit.actors import Actor
from mais_node.config import DEFAULTS, Settings
from mais_node.console.demo import DEMO_NAMES
from mais_node.console.store import open_accounts
from mais_node.demo import DemoClient, _client
from mais_node.network.publish import publish
from mais_node.wiring import build_services

ACTOR = Actor(org_ods="AUTH01", client_id="mais-demo-network")
NHS = "https://fhir.nhs.uk/Id/nhs-number"
VERIFIED = {
    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "valueCodeableConcept": {
        "coding": [
            {
                "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
                "code": "number-present-and-verified",
            }
        ]
    },
}
CHILD = {"nhs_number": "9991316825", "family": "Rogers", "given": "Chantelle", "birth_date": "2015-03-02"}
LEEDS, BRADFORD = "E08000035", "E08000032"
OTHER = {"nhs_number": "9434765919", "family": "Okafor", "given": "Daniel", "birth_date": "2014-07-19"}


@dataclass(frozen=True, slots=True)
class Member:
    ods: str
    name: str
    type: str
    behaviour: str  # serve | silent | down | suspended
    knows: tuple[str, ...] = ()  # "verified" / "unverified": how its record of the child holds the NHS number
    contact: tuple[str, str] | None = None  # the team it names as the contact, and its phone
    deny_all: bool = False
    areas: tuple[str, ...] = ("E08000035",)  # the ONS LAD codes it serves (Leeds unless said)


MEMBERS = (
    Member(
        "POL001",
        "West Yorkshire Police",
        "police",
        "serve",
        ("verified",),
        ("Safeguarding Hub", "0113 241 3456"),
        areas=(LEEDS, BRADFORD),
    ),
    Member(
        "HV0001",
        "Leeds Health Visiting",
        "health-visiting",
        "serve",
        ("verified",),
        ("Health Visiting", "0113 843 4400"),
    ),
    Member("GP0001", "Meadow Lane Surgery", "gp", "serve"),
    Member("SCH001", "Hillside Primary School", "school", "serve", ("verified",), deny_all=True),
    Member(
        "LA0002",
        "Bradford Children's Services",
        "la-childrens-social-care",
        "serve",
        ("unverified",),
        areas=(BRADFORD,),
    ),
    Member("CAM001", "Leeds CAMHS", "camhs", "silent"),
    Member("YJS001", "Leeds Youth Justice", "youth-justice", "down"),
    Member("POL002", "North Yorkshire Police", "police", "suspended", areas=("E06000065",)),
)


def person(who: dict[str, str], *, verified: bool) -> dict[str, Any]:
    identifier: dict[str, Any] = {"system": NHS, "value": who["nhs_number"]}
    if verified:
        identifier["extension"] = [VERIFIED]
    return {
        "resourceType": "Patient",
        "identifier": [identifier],
        "name": [{"use": "official", "family": who["family"], "given": [who["given"]]}],
        "birthDate": who["birth_date"],
    }


@dataclass
class Network:
    directory: Path
    bases: dict[str, str]
    practitioner: DemoClient
    reviewer: DemoClient
    console: tuple[str, str] = ("", "")  # the LA's console practitioner account: name, password


def _store(directory: Path, ods: str) -> str:
    return f"sqlite:///{directory / f'{ods}.db'}"


def prepare(directory: Path, base_port: int) -> Network:
    """The stores, keys, rules and the signed register (a fresh network each run)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    ods_codes = ["AUTH01", "LA0001", *(m.ods for m in MEMBERS)]
    bases = {ods: f"http://127.0.0.1:{base_port + i}" for i, ods in enumerate(ods_codes)}
    authority_key = generate_private_jwk("ES384")
    (directory / "trust.json").write_bytes(orjson.dumps(public_jwks(authority_key)))
    write_key_pair(directory / "la0001-identity", "ES384")
    settings = Settings(store=_store(directory, "AUTH01"), node_org="AUTH01", node_org_name="MAIS Register Authority")
    services = build_services(settings)
    try:
        orgs = services.auth.organisations
        orgs.add(
            "LA0001", "Leeds Children's Services", "la-childrens-social-care", actor=ACTOR, verified=True, areas=[LEEDS]
        )
        orgs.add_endpoint("LA0001", f"{bases['LA0001']}/fhir", actor=ACTOR)
        jwks_uri = f"{bases['LA0001']}/.well-known/jwks.json"
        services.auth.clients.add("LA0001", ["mais/enquiry", "system/Task.crs"], actor=ACTOR, jwks_uri=jwks_uri)
        for member in MEMBERS:
            orgs.add(member.ods, member.name, member.type, actor=ACTOR, verified=True, areas=member.areas)
            orgs.add_endpoint(member.ods, f"{bases[member.ods]}/fhir", actor=ACTOR)
            if member.behaviour == "suspended":
                orgs.suspend(member.ods, actor=ACTOR)
        assert services.network is not None
        published = publish(
            orgs,
            services.auth.clients,
            services.resources,
            services.network.store,
            services.clock,
            private_jwk=authority_key,
            valid_for=timedelta(days=7),
            base=settings.public_base,
        )
        (directory / "register.json").write_bytes(published.document)
    finally:
        services.close()
    for member in MEMBERS:
        if member.behaviour == "serve":
            _seed_member(directory, member)
    practitioner = _own_client(directory, "LA0001", "practitioner", ["mais/single-view", "system/Task.rs"])
    reviewer = _own_client(directory, "LA0002", "la0002-reviewer", ["mais/reviewer", "system/Task.crs"])
    console = _console_practitioner(directory)
    rules = directory / "school-rules"
    shutil.copytree(DEFAULTS / "rules", rules)
    (rules / "local" / "90-no-enquiries.cedar").write_text(
        '// This school answers no enquiry through its node.\n@id("local:forbid:every-enquiry")\n'
        "forbid (principal, action, resource);\n"
    )
    return Network(directory, bases, practitioner, reviewer, console)


def _seed_member(directory: Path, member: Member) -> None:
    services = build_services(Settings(store=_store(directory, member.ods), node_org=member.ods))
    try:
        services.resources.create("Patient", person(OTHER, verified=True))
        for how in member.knows:
            child = services.resources.create("Patient", person(CHILD, verified=how == "verified")).stored.id
            if member.contact:
                name, phone = member.contact
                team = services.resources.create(
                    "Organization",
                    {"resourceType": "Organization", "name": name, "telecom": [{"system": "phone", "value": phone}]},
                ).stored.id
                services.resources.create(
                    "EpisodeOfCare",
                    {
                        "resourceType": "EpisodeOfCare",
                        "status": "active",
                        "patient": {"reference": f"Patient/{child}"},
                        "managingOrganization": {"reference": f"Organization/{team}"},
                        "period": {"start": "2026-10-01"},
                    },
                )
    finally:
        services.close()


def _own_client(directory: Path, ods: str, name: str, scopes: list[str]) -> DemoClient:
    services = build_services(Settings(store=_store(directory, ods), node_org=ods))
    try:
        return _client(services, directory, name, ods, scopes, Actor(org_ods=ods, client_id="mais-demo-network"))
    finally:
        services.close()


def _console_practitioner(directory: Path) -> tuple[str, str]:
    """A practitioner's console account on the LA's node (``mais demo``'s name for it, a fresh password), so the
    single view can be tried in a browser too: its name and password."""
    name, display = DEMO_NAMES["practitioner"]
    password = secrets.token_urlsafe(12)
    services = build_services(Settings(store=_store(directory, "LA0001"), node_org="LA0001"))
    try:
        open_accounts(services).add(name, "practitioner", password, display_name=display)
    finally:
        services.close()
    return name, password


@contextmanager
def _serving(network: Network, ods: str) -> Iterator[subprocess.Popen[bytes]]:
    base = network.bases[ods]
    port = base.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")}
    env |= {"MAIS_BASE_URL": base, "MAIS_NODE_ORG": ods, "MAIS_LOG_LEVEL": "warning"}
    if ods != "AUTH01":
        env |= {
            "MAIS_REGISTER_URL": f"{network.bases['AUTH01']}/register",
            "MAIS_REGISTER_TRUST": str(network.directory / "trust.json"),
            "MAIS_REGISTER_SYNC_SECONDS": "5",
        }
    if ods == "LA0001":
        env |= {"MAIS_IDENTITY_KEYS": str(network.directory / "la0001-identity"), "MAIS_SINGLE_VIEW_SECONDS": "5"}
    if ods == "SCH001":
        env["MAIS_RULES_DIR"] = str(network.directory / "school-rules")
    command = [sys.executable, "-m", "mais_node", "serve", "--store", _store(network.directory, ods), "--port", port]
    with (network.directory / f"{ods}.log").open("wb") as log:
        # Our own interpreter and arguments: nothing from outside reaches the command line.
        process = subprocess.Popen(  # noqa: S603
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


@contextmanager
def silent_node(port: int) -> Iterator[None]:
    """A node that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True, name="mais-demo-silent-node")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()


def _until(condition: Callable[[], bool], what: str, within: float = 60.0) -> None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            if condition():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not happen within {within:g} s (see the logs under var/demo-network/)")


@contextmanager
def running(network: Network) -> Iterator[None]:
    """Every node of the network up, each on the register's first serial, until the block ends."""
    with ExitStack() as stack:
        order = ["AUTH01", "LA0001", *(m.ods for m in MEMBERS if m.behaviour == "serve")]
        processes = {ods: stack.enter_context(_serving(network, ods)) for ods in order}
        silent = next(m.ods for m in MEMBERS if m.behaviour == "silent")
        stack.enter_context(silent_node(int(network.bases[silent].rsplit(":", 1)[1])))
        for ods in order:
            process, base = processes[ods], network.bases[ods]

            def ready(process: subprocess.Popen[bytes] = process, base: str = base) -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"the node at {base} exited with {process.returncode}")
                return httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200

            _until(ready, f"{ods} ready")
        for ods in order[1:]:

            def imported(base: str = network.bases[ods]) -> bool:
                return bool(httpx.get(f"{base}/readyz", timeout=1.0).json()["register"]["serial"] == 1)

            _until(imported, f"{ods} importing the register")
        yield


def commands(network: Network) -> list[tuple[str, str]]:
    la, la2 = network.bases["LA0001"], network.bases["LA0002"]
    practitioner = network.practitioner
    ask = (
        f".venv/bin/mais single-view --server {la} --client-id {practitioner.client_id} --key {practitioner.key} "
        f"--reason s47-enquiry --nhs-number {CHILD['nhs_number']} --family {CHILD['family']} "
        f"--given {CHILD['given']} --birth-date {CHILD['birth_date']} --user-name 'Sam Worker' --wait"
    )
    review = f"--server {la2} --key-file {network.reviewer.record}"
    in_bradford = ask.removesuffix(" --wait") + f" --area {BRADFORD}"
    return [
        ("the single view (leave it running: the pending row changes once decided)", ask),
        ("the same question about Bradford only: partners not serving it are NOT_ASKED", in_bradford),
        ("the neighbouring LA's IG officer: the referral", f".venv/bin/mais review list {review}"),
        ("… and the decision (the view's LA0002 row turns KNOWN)",
         f".venv/bin/mais review decide <id> --decision permit --reason 'same child; s47' {review}"),
    ]  # fmt: skip


def describe(network: Network) -> str:
    rows = [f"  {network.bases['AUTH01']}  register authority"]
    rows.append(f"  {network.bases['LA0001']}  LA0001 Leeds Children's Services (asks)")
    rows += [f"  {network.bases[m.ods]}  {m.ods} {m.name} ({m.behaviour})" for m in MEMBERS]
    name, password = network.console
    if name:
        rows.append(
            f"\nIn a browser: {network.bases['LA0001']}/console, sign in as {name} / {password}, then Single view."
        )
    return "\n".join(rows)


def save(network: Network) -> None:
    summary = {"bases": network.bases, "commands": dict(commands(network))}
    (network.directory / "network.json").write_text(json.dumps(summary, indent=2))


def run(directory: Path, base_port: int, echo: Callable[[str], None]) -> None:
    """Prepare the network, start it, print how to use it, and keep it up until interrupted (SIGINT or SIGTERM)."""
    network = prepare(directory, base_port)
    save(network)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    echo(f"starting a network of {len(MEMBERS) + 2} nodes under {directory} …")
    with contextlib.suppress(KeyboardInterrupt), running(network):
        echo(describe(network))
        echo("\nIn another terminal:\n")
        for what, command in commands(network):
            echo(f"  # {what}\n  {command}\n")
        echo("Ctrl-C stops every node.")
        while True:
            time.sleep(1)
