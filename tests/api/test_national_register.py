"""Issue 14: a node imports the signed national register by itself; a nationally listed system gets tokens with no
local step; every refused document changes nothing, is audited with its reason, and the last good register stays."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mongomock
import orjson
import pytest
from fastapi.testclient import TestClient

from mais_node.adapters.jose_keys import generate_private_jwk
from mais_node.app import create_app
from mais_node.client import client_assertion
from mais_node.config import Settings
from mais_node.errors import InvalidRequest
from mais_node.network.sync import ImportRefused, RegisterImport
from mais_node.wiring import build_services
from tests.api.conftest import ADMIN_ACTOR, Node, make_node
from tests.registers import Authority, a_system, an_organisation

Json = dict[str, Any]
SCOPE = "mais/enquiry"


@dataclass
class Network:
    node: Node
    authority: Authority
    path: Path  # where the node reads the register (MAIS_REGISTER_URL as a file)
    key: Json  # the private key of the nationally listed system "cms-1"

    @property
    def importer(self) -> RegisterImport:
        assert self.node.services.network is not None
        assert self.node.services.network.importer is not None
        return self.node.services.network.importer

    def publish(self, document: Json | bytes) -> None:
        self.path.write_bytes(document if isinstance(document, bytes) else orjson.dumps(document))

    def serial(self) -> int | None:
        assert self.node.services.network is not None
        return self.node.services.network.store.national_serial()

    def token(self, client_id: str = "cms-1", key: Json | None = None) -> Any:
        assertion = client_assertion(client_id, self.node.services.auth.token_url, key or self.key)
        return self.node.http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "scope": SCOPE,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
        )

    def events(self, subtype: str) -> list[Json]:
        return [
            r.event
            for r in self.node.services.audit.scan()
            if any(c.get("code") == subtype for c in r.event.get("subtype", []))
        ]


def first_register(authority: Authority, key: Json, serial: int = 1) -> Any:
    return authority.content(serial, [an_organisation("LA0001")], [a_system("cms-1", "LA0001", key)])


def node_on(store: str, tmp_path: Path, **settings: Any) -> Iterator[Node]:
    """A node in process on SQLite or on MongoDB (mongomock): the import is one atomic write on both."""
    if store == "sqlite":
        yield from make_node(tmp_path, **settings)
        return
    config = Settings(store="mongodb://mongomock/mais", **settings)
    services = build_services(config, mongo_database=mongomock.MongoClient().get_database("mais"))
    with TestClient(create_app(config, services=services)) as http:
        yield Node(http, services)
    services.close()


@pytest.fixture(params=["sqlite", "mongo"])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    authority = Authority()
    path = tmp_path / "register.json"
    trust = authority.write_trust(tmp_path)
    key = generate_private_jwk("ES384")
    for node in node_on(request.param, tmp_path, register_url=str(path), register_trust=trust, register_sync_seconds=0):
        net = Network(node, authority, path, key)
        net.publish(authority.signed(first_register(authority, key)))
        yield net


def test_a_system_listed_only_nationally_gets_a_token_after_one_import(network: Network) -> None:
    assert network.token().status_code == 401  # unknown before any import
    result = network.importer.sync()
    assert result.applied
    assert result.serial == 1
    assert {(c.target, c.action) for c in result.changes} == {
        ("Organization/LA0001", "added"),
        ("Endpoint/ep-LA0001", "added"),
        ("Device/cms-1", "added"),
    }
    answer = network.token()
    assert answer.status_code == 200, answer.text
    orgs = {o.ods: o for o in network.node.services.auth.organisations.list()}
    assert orgs["LA0001"].source == "national serial 1"
    assert orgs["NODE01"].source == "local"


def test_each_change_is_audited_with_both_states_and_the_serial_applied(network: Network) -> None:
    network.importer.sync()
    authority = network.authority
    second = authority.content(
        2, [an_organisation("LA0001")], [a_system("cms-1", "LA0001", network.key, status="suspended")]
    )
    network.publish(authority.signed(second))
    result = network.importer.sync()
    assert [(c.target, c.action) for c in result.changes] == [("Device/cms-1", "suspended")]
    assert network.token().status_code == 401  # a suspension at the authority is refused at the next sync
    changes = network.events("national-register-change")
    last = {d["type"]: d["valueString"] for d in changes[-1]["entity"][0]["detail"]}
    assert last["serial"] == "2"
    assert last["change"] == "suspended"
    assert json.loads(last["before"])["status"] == "active"
    assert json.loads(last["after"])["status"] == "suspended"
    imports = network.events("register-import")
    assert [e["outcome"] for e in imports] == ["0", "0"]


def test_a_one_change_serial_reads_again_only_the_entry_that_changed(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entries a serial repeats are taken as the last serial read them (network/entries.py); checked once."""
    from mais_node.network import bundle

    read: list[str] = []
    for name in ("_organisation", "_endpoint", "_system"):
        original = getattr(bundle, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            read.append(_name)
            return _original(*args)

        monkeypatch.setattr(bundle, name, counted)
    network.importer.sync()
    assert sorted(read) == ["_endpoint", "_organisation", "_system"]
    read.clear()
    second = first_register(network.authority, network.key, serial=2)
    second.systems["cms-1"] = replace(second.systems["cms-1"], status="suspended")
    network.publish(network.authority.signed(second))
    result = network.importer.sync()
    assert [(c.target, c.action) for c in result.changes] == [("Device/cms-1", "suspended")]
    assert read == ["_system"]
    assert network.token().status_code == 401


def test_an_entry_read_before_is_still_checked_against_the_others(network: Network) -> None:
    """A system whose entry is unchanged is refused when its organisation leaves the register."""
    network.importer.sync()
    content = first_register(network.authority, network.key, serial=2)
    document = network.authority.unsigned(content)
    document["entry"] = [e for e in document["entry"] if e["resource"]["resourceType"] == "Device"]
    network.publish(orjson.dumps(network.authority.sign(document)))
    with pytest.raises(ImportRefused, match="its organisation is not in the register"):
        network.importer.sync()
    assert network.serial() == 1
    assert network.token().status_code == 200


def test_a_national_system_keeps_the_time_of_the_first_serial_that_listed_it(network: Network) -> None:
    """Not the issue time of each serial: a serial rewrites only what changed (the system's state is per entry)."""
    first = first_register(network.authority, network.key)
    network.publish(network.authority.signed(first))
    network.importer.sync()
    later = network.authority.content(
        2,
        [an_organisation("LA0001")],
        [a_system("cms-1", "LA0001", network.key, status="suspended")],
        issued=datetime.now(UTC) + timedelta(minutes=5),
    )
    network.publish(network.authority.signed(later))
    network.importer.sync()
    assert network.node.services.auth.clients.get("cms-1").created == first.issued  # type: ignore[union-attr]


def test_the_cycle_collector_is_paused_while_a_document_is_read_and_resumed_after(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from mais_node.network import bundle

    seen: list[bool] = []
    original = bundle.parse

    def parse(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return original(*args)

    monkeypatch.setattr(bundle, "parse", parse)
    assert gc.isenabled()
    network.importer.sync()
    network.publish(b"<html>gateway error</html>")
    with pytest.raises(ImportRefused):
        network.importer.sync()
    assert seen == [False]
    assert gc.isenabled()  # resumed after an import and after a refusal


def test_an_unchanged_register_is_not_applied_again(network: Network) -> None:
    network.importer.sync()
    again = network.importer.sync()
    assert not again.applied
    assert again.serial == 1
    assert len(network.events("register-import")) == 1


def _resign(authority: Authority, header: Json, document: Json, key: bytes | None = None) -> Json:
    """``document`` with a signature whose JOSE header is ``header`` (HMAC with ``key``, or no signature at all)."""
    import hashlib
    import hmac

    from mais_node.network.signature import signing_input

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    protected = b64(orjson.dumps(header))
    payload = b64(signing_input(document))
    mac = hmac.new(key, f"{protected}.{payload}".encode(), hashlib.sha384).digest() if key else b""
    signed = authority.sign(document)
    signed["signature"]["data"] = base64.b64encode(f"{protected}..{b64(mac)}".encode()).decode()
    return signed


def _changed_body(net: Network) -> bytes:
    signed = net.authority.signed(first_register(net.authority, net.key, serial=3))
    signed["entry"][0]["resource"]["name"] = "Someone Else"
    return orjson.dumps(signed)


def _alg(name: str) -> Callable[[Network], bytes]:
    def make(net: Network) -> bytes:
        document = net.authority.unsigned(first_register(net.authority, net.key, serial=3))
        kid = net.authority.private["kid"]
        secret = orjson.dumps(net.authority.trust["keys"][0]) if name.startswith("HS") else None
        return orjson.dumps(_resign(net.authority, {"alg": name, "kid": kid}, document, secret))

    return make


def _unknown_kid(net: Network) -> bytes:
    stranger = generate_private_jwk("ES384") | {"kid": "someone-else"}
    document = net.authority.unsigned(first_register(net.authority, net.key, serial=3))
    return orjson.dumps(net.authority.sign(document, stranger))


def _untrusted_key_with_trusted_kid(net: Network) -> bytes:
    forger = generate_private_jwk("ES384") | {"kid": net.authority.private["kid"]}
    document = net.authority.unsigned(first_register(net.authority, net.key, serial=3))
    return orjson.dumps(net.authority.sign(document, forger))


def _serial(serial: int) -> Callable[[Network], bytes]:
    def make(net: Network) -> bytes:
        content = first_register(net.authority, net.key, serial=serial)
        content.organisations["LA0001"] = replace(content.organisations["LA0001"], name="Renamed")
        return orjson.dumps(net.authority.signed(content))

    return make


def _expired(net: Network) -> bytes:
    issued = datetime.now(UTC) - timedelta(days=8)
    content = net.authority.content(3, [an_organisation()], [a_system("cms-1", "LA0001", net.key)], issued=issued)
    return orjson.dumps(net.authority.signed(content))


def _edited(edit: Callable[[Json], None]) -> Callable[[Network], bytes]:
    """A register, changed by ``edit`` before the authority signs it (well signed, not well formed)."""

    def make(net: Network) -> bytes:
        document = net.authority.unsigned(first_register(net.authority, net.key, serial=3))
        edit(document)
        return orjson.dumps(net.authority.sign(document))

    return make


def _resource(document: Json, kind: str) -> Json:
    return next(e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == kind)


def _two_of_one_ods(document: Json) -> None:
    document["entry"].append(json.loads(json.dumps(document["entry"][0])))


def _orphan_system(document: Json) -> None:
    _resource(document, "Device")["owner"] = {"reference": "Organization/POL999"}


def _private_jwks(document: Json) -> None:
    device = _resource(document, "Device")
    for ext in device["extension"]:
        if ext["url"].endswith("mais-system-jwks"):
            ext["valueString"] = orjson.dumps({"keys": [generate_private_jwk("ES384")]}).decode()


def _plain_http_jwks(document: Json) -> None:
    device = _resource(document, "Device")
    device["extension"] = [e for e in device["extension"] if not e["url"].endswith("mais-system-jwks")]
    device["extension"].append(
        {
            "url": "https://mais.example.org/fhir/StructureDefinition/mais-system-jwks-uri",
            "valueUrl": "http://cms.example/jwks",
        }
    )


def _endpoint_not_a_url(document: Json) -> None:
    _resource(document, "Endpoint")["address"] = "not a url"


BAD = {
    "a signature by an untrusted key": (_untrusted_key_with_trusted_kid, "does not verify"),
    "a valid signature over a changed body": (_changed_body, "does not verify"),
    "an unknown kid": (_unknown_kid, "is not a trusted key"),
    "alg none": (_alg("none"), "alg 'none' is not accepted"),
    "alg HMAC": (_alg("HS384"), "alg 'HS384' is not accepted"),
    "a lower serial (an old register replayed)": (_serial(1), "serial 1 is not above the applied serial 2"),
    "an equal serial with another body": (_serial(2), "serial 2 is not above the applied serial 2"),
    "an expired document": (_expired, "expired"),
    "a truncated body": (
        lambda net: orjson.dumps(net.authority.signed(first_register(net.authority, net.key, 3)))[:-40],
        "not JSON",
    ),
    "a non-JSON body": (lambda net: b"<html>gateway error</html>", "not JSON"),
    "two organisations of one ODS code": (_edited(_two_of_one_ods), "two organisations have the ODS code LA0001"),
    "a system whose organisation is absent": (_edited(_orphan_system), "its organisation is not in the register"),
    "a JWKS holding private key material": (_edited(_private_jwks), "private key material"),
    "a JWKS URL that is not https": (_edited(_plain_http_jwks), "JWKS URL is not an https URL"),
    "an Endpoint that is not a URL": (_edited(_endpoint_not_a_url), "the address is not an https URL"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_register_is_refused_audited_and_changes_nothing(network: Network, case: str) -> None:
    make, reason = BAD[case]
    network.importer.sync()
    network.publish(network.authority.signed(first_register(network.authority, network.key, serial=2)))
    network.importer.sync()
    network.publish(make(network))
    with pytest.raises(ImportRefused) as refused:
        network.importer.sync()
    assert reason in refused.value.reason
    assert network.serial() == 2  # the last good register stays in force
    assert network.node.services.auth.organisations.get("LA0001").name == "Organisation LA0001"  # type: ignore[union-attr]
    assert network.token().status_code == 200
    refusal = network.events("register-import")[-1]
    assert refusal["outcome"] == "8"
    assert reason in refusal["outcomeDesc"]
    assert len(network.events("national-register-change")) == 3  # serial 1's three additions, nothing since
    ready = network.node.http.get("/readyz").json()
    assert ready["register"]["serial"] == 2
    assert reason in ready["register"]["last_refusal"]


def test_a_local_suspension_wins_through_later_imports_until_lifted(network: Network) -> None:
    network.importer.sync()
    organisations = network.node.services.auth.organisations
    suspended = organisations.suspend("LA0001", actor=ADMIN_ACTOR)
    assert suspended.suspended_here
    requester = network.node.services.enquiries.gates.directory.requester("LA0001")
    assert requester is not None
    assert requester.operational_status == "suspended"  # what the decision rules see, too
    assert network.token().status_code == 401
    second = first_register(network.authority, network.key, serial=3)
    second.organisations["LA0001"] = replace(second.organisations["LA0001"], system_version="2.0")
    network.publish(network.authority.signed(second))
    assert network.importer.sync().applied
    network.node.services.network.national.invalidate()  # type: ignore[union-attr]
    assert organisations.get("LA0001").suspended_here  # type: ignore[union-attr]
    assert network.token().status_code == 401
    organisations.activate("LA0001", actor=ADMIN_ACTOR)
    assert network.token().status_code == 200


def test_a_nationally_listed_system_can_be_suspended_here(network: Network) -> None:
    network.importer.sync()
    clients = network.node.services.auth.clients
    assert clients.revoke("cms-1", actor=ADMIN_ACTOR).suspended_here
    assert network.token().status_code == 401
    assert not clients.reinstate("cms-1", actor=ADMIN_ACTOR).suspended_here
    assert network.token().status_code == 200


def test_readiness_and_a_metric_say_when_the_register_in_force_has_expired(tmp_path: Path) -> None:
    authority = Authority()
    path = tmp_path / "register.json"
    key = generate_private_jwk("ES384")
    for node in make_node(
        tmp_path, register_url=str(path), register_trust=authority.write_trust(tmp_path), register_sync_seconds=0
    ):
        content = authority.content(
            1, [an_organisation()], [a_system("cms-1", "LA0001", key)], valid_for=timedelta(seconds=2)
        )
        path.write_bytes(orjson.dumps(authority.signed(content)))
        assert node.services.network is not None
        assert node.services.network.importer is not None
        node.services.network.importer.sync()
        assert node.http.get("/readyz").json()["register"]["expired"] is False
        import time

        time.sleep(2.1)
        ready = node.http.get("/readyz")
        assert ready.status_code == 200  # the node keeps serving on its last good register
        assert ready.json()["register"]["expired"] is True
        assert "mais_register_expired 1.0" in node.http.get("/metrics").text


class _Racing:
    """The store as a second worker sees it: the first worker applies the same document just before it writes."""

    def __init__(self, store: Any, first: RegisterImport) -> None:
        self.store, self.first = store, first

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def put_national(self, applied: Any, *, expected_serial: int | None) -> None:
        self.first.sync()
        self.store.put_national(applied, expected_serial=expected_serial)


def test_two_workers_racing_apply_a_serial_once_and_the_loser_says_so(network: Network) -> None:
    from mais_node.network.national import NationalRegister

    first = network.importer
    racing = _Racing(first.store, first)
    second = RegisterImport(
        first.source,
        first.source_name,
        first.trust,
        racing,
        NationalRegister(first.store),
        first.audit,
        first.clock,
        first.node,
    )
    result = second.sync()
    assert not result.applied
    assert network.serial() == 1
    assert network.token().status_code == 200
    imports = network.events("register-import")
    assert [e["outcome"] for e in imports] == ["0", "0", "8"]  # the winner's, the loser's record, its "not applied"
    assert "another applied a register first" in imports[-1]["outcomeDesc"]


def test_the_serving_node_imports_in_the_background_every_interval(tmp_path: Path) -> None:
    import time

    authority = Authority()
    path = tmp_path / "register.json"
    key = generate_private_jwk("ES384")
    path.write_bytes(orjson.dumps(authority.signed(first_register(authority, key))))
    trust = authority.write_trust(tmp_path)

    def within(seconds: float, condition: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    nodes = make_node(tmp_path, register_url=str(path), register_trust=trust, register_sync_seconds=0.2)
    for net in (Network(node, authority, path, key) for node in nodes):
        assert within(5, lambda: net.serial() == 1)  # noqa: B023 (called before the loop moves on)
        revoked = authority.content(2, [an_organisation()], [a_system("cms-1", "LA0001", key, status="revoked")])
        net.publish(authority.signed(revoked))
        assert within(5, lambda: net.token().status_code == 401)  # noqa: B023
        assert net.serial() == 2


def test_a_national_organisation_is_changed_only_by_suspension_here(network: Network) -> None:
    network.importer.sync()
    organisations = network.node.services.auth.organisations
    with pytest.raises(InvalidRequest, match="comes from the national register"):
        organisations.add_endpoint("LA0001", "https://elsewhere.example/fhir", actor=ADMIN_ACTOR)
    with pytest.raises(InvalidRequest, match="comes from the national register"):
        organisations.change("LA0001", actor=ADMIN_ACTOR, verification_status="rejected")
    assert organisations.require("LA0001").endpoints == ("ep-LA0001",)


def test_the_nodes_own_organisation_listed_nationally_stays_out_of_the_apis_reach(network: Network) -> None:
    """Issue 13 item 7 on a node whose own entry comes from the national register: suspending it here, or revoking
    one of its nationally listed systems, over the API would lock the node out as a local entry's change would."""
    network.publish(
        network.authority.signed(
            network.authority.content(1, [an_organisation("NODE01")], [a_system("own-cms", "NODE01", network.key)])
        )
    )
    assert network.importer.sync().applied
    node = network.node
    organisations = node.services.auth.organisations
    local = organisations.require("NODE01")
    assert local.id is not None
    node.services.resources.delete("Organization", local.id)  # as the console may: the national entry answers now
    assert organisations.require("NODE01").national_serial == 1
    admin = node.as_("system/*.cruds mais/admin")
    suspend = node.http.post("/auth/register/organisations/NODE01/suspend", headers=admin)
    assert suspend.status_code == 409, suspend.text
    assert "mais org suspend NODE01" in suspend.json()["issue"][0]["diagnostics"]
    revoke = node.http.post("/auth/register/clients/own-cms/revoke", headers=admin)
    assert revoke.status_code == 409, revoke.text
    assert "mais client revoke own-cms" in revoke.json()["issue"][0]["diagnostics"]
    assert organisations.require("NODE01").may_connect
    assert not node.services.auth.clients.get("own-cms").suspended_here  # type: ignore[union-attr]
    assert node.http.get("/fhir/Organization", headers=admin).status_code == 200
    # The operator at the console still can, and can lift it again.
    assert organisations.suspend("NODE01", actor=ADMIN_ACTOR, console=True).suspended_here
    assert not organisations.activate("NODE01", actor=ADMIN_ACTOR).suspended_here
