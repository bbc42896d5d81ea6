"""Builders for national registers: an authority with a key made at test time, and valid signed documents by default
(a test changes only what it is about)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.network import bundle
from mais_node.network.model import NationalEndpoint, RegisterContent
from mais_node.network.signature import sign
from mais_node.register.model import Client, Organisation

Json = dict[str, Any]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def an_organisation(ods: str = "LA0001", **changes: Any) -> Organisation:
    org = Organisation(
        ods,
        f"Organisation {ods}",
        "la-childrens-social-care",
        verification_status="verified",
        verification_date="2026-01-01",
        system_provider="Example Systems",
        system_version="1.0",
        endpoints=(f"ep-{ods}",),
    )
    return replace(org, **changes)


def a_system(client_id: str, org: str = "LA0001", private: Json | None = None, **changes: Any) -> Client:
    jwks = public_jwks(private or generate_private_jwk("ES384"))
    system = Client(client_id, org, ("mais/enquiry", "system/Task.crs"), EPOCH.isoformat(), jwks=jwks, name="CMS")
    return replace(system, **changes)


@dataclass
class Authority:
    """A register authority: its signing key, and the register it is about to publish."""

    private: Json = field(default_factory=lambda: generate_private_jwk("ES384"))
    base: str = "https://register.example"

    @property
    def trust(self) -> Json:
        return public_jwks(self.private)

    def write_trust(self, directory: Path) -> Path:
        path = directory / "authority-jwks.json"
        path.write_bytes(orjson.dumps(self.trust))
        return path

    def content(
        self,
        serial: int,
        organisations: list[Organisation],
        systems: list[Client] = (),  # type: ignore[assignment]
        *,
        issued: datetime | None = None,
        valid_for: timedelta = timedelta(days=7),
    ) -> RegisterContent:
        issued = issued or datetime.now(UTC)
        content = RegisterContent(serial, issued.isoformat(), (issued + valid_for).isoformat(), "Test Authority")
        for org in organisations:
            content.organisations[org.ods] = org
            for endpoint in org.endpoints:
                address = f"https://{org.ods.lower()}.example/fhir"
                content.endpoints[endpoint] = NationalEndpoint(endpoint, org.ods, address)
        for system in systems:
            content.systems[system.client_id] = system
        return content

    def unsigned(self, content: RegisterContent) -> Json:
        return bundle.build(content, self.base)

    def sign(self, document: Json, private: Json | None = None) -> Json:
        return sign(document, private or self.private, when=datetime.now(UTC).isoformat(), who="Test Authority")

    def signed(self, content: RegisterContent) -> Json:
        return self.sign(self.unsigned(content))
