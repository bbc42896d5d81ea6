"""One serial of the national register in the register's own terms: organisations, their endpoints, their systems.

This is what a node keeps once a signed document has been verified (``bundle.parse`` makes it from the FHIR
Bundle); ``state``/``from_state`` are its JSON form as one document, ``header_state``/``entry_states``/
``from_entries`` its form in the store: a header and one state per entry, so a serial writes only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from mais_node.register.model import Client, IgReference, Organisation

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NationalEndpoint:
    """Where an organisation's node answers enquiries (FHIR Endpoint, hl7-fhir-rest)."""

    id: str
    org_ods: str
    address: str
    status: str = "active"
    payload_types: tuple[str, ...] = ("MAIS enquiry",)


@dataclass(frozen=True, slots=True)
class RegisterContent:
    serial: int
    issued: str  # ISO 8601 instants
    expires: str
    authority: str  # who signed (the Bundle.signature.who display or reference)
    organisations: dict[str, Organisation] = field(default_factory=dict)  # by ODS code
    endpoints: dict[str, NationalEndpoint] = field(default_factory=dict)  # by Endpoint id
    systems: dict[str, Client] = field(default_factory=dict)  # by client id

    def endpoints_of(self, ods: str) -> list[NationalEndpoint]:
        return [e for e in self.endpoints.values() if e.org_ods == ods]

    def state(self) -> Json:
        return {
            "serial": self.serial,
            "issued": self.issued,
            "expires": self.expires,
            "authority": self.authority,
            "organisations": [organisation_state(o) for o in self.organisations.values()],
            "endpoints": [endpoint_state(e) for e in self.endpoints.values()],
            "systems": [c.document() for c in self.systems.values()],
        }

    @classmethod
    def from_state(cls, doc: Json) -> RegisterContent:
        orgs = [organisation_from_state(o) for o in doc["organisations"]]
        endpoints = [NationalEndpoint(**{**e, "payload_types": tuple(e["payload_types"])}) for e in doc["endpoints"]]
        systems = [Client.from_document(c) for c in doc["systems"]]
        return cls(
            serial=int(doc["serial"]),
            issued=doc["issued"],
            expires=doc["expires"],
            authority=doc["authority"],
            organisations={o.ods: o for o in orgs},
            endpoints={e.id: e for e in endpoints},
            systems={c.client_id: c for c in systems},
        )


def organisation_state(org: Organisation) -> Json:
    return {
        "ods": org.ods,
        "name": org.name,
        "type": org.type,
        "operational_status": org.operational_status,
        "technical_status": org.technical_status,
        "verification_status": org.verification_status,
        "verification_date": org.verification_date,
        "ig_references": [[r.system, r.value] for r in org.ig_references],
        "system_provider": org.system_provider,
        "system_version": org.system_version,
        "endpoints": list(org.endpoints),
        "areas": list(org.areas),
    }


def organisation_from_state(doc: Json) -> Organisation:
    return Organisation(
        ods=doc["ods"],
        name=doc["name"],
        type=doc["type"],
        operational_status=doc["operational_status"],
        technical_status=doc["technical_status"],
        verification_status=doc["verification_status"],
        verification_date=doc.get("verification_date"),
        ig_references=tuple(IgReference(s, v) for s, v in doc.get("ig_references", [])),
        system_provider=doc.get("system_provider"),
        system_version=doc.get("system_version"),
        endpoints=tuple(doc.get("endpoints", [])),
        areas=tuple(doc.get("areas", [])),  # a serial kept before areas were recorded has none
    )


def endpoint_state(endpoint: NationalEndpoint) -> Json:
    return {
        "id": endpoint.id,
        "org_ods": endpoint.org_ods,
        "address": endpoint.address,
        "status": endpoint.status,
        "payload_types": list(endpoint.payload_types),
    }


def header_state(content: RegisterContent) -> bytes:
    return orjson.dumps(
        {"serial": content.serial, "issued": content.issued, "expires": content.expires, "authority": content.authority}
    )


def entry_state(entry: Organisation | NationalEndpoint | Client) -> bytes:
    """One entry as the store keeps it (a system with the time of the first serial that listed it)."""
    if isinstance(entry, Organisation):
        return orjson.dumps(organisation_state(entry))
    if isinstance(entry, NationalEndpoint):
        return orjson.dumps(endpoint_state(entry))
    return orjson.dumps(entry.document())


def reference(entry: Organisation | NationalEndpoint | Client) -> str:
    """The FHIR reference the register Bundle names the entry by (what the store keys it by)."""
    if isinstance(entry, Organisation):
        return f"Organization/{entry.ods}"
    if isinstance(entry, NationalEndpoint):
        return f"Endpoint/{entry.id}"
    return f"Device/{entry.client_id}"


def entry_states(content: RegisterContent) -> dict[str, bytes]:
    """Every entry of ``content`` by reference."""
    every: list[Organisation | NationalEndpoint | Client] = [
        *content.organisations.values(),
        *content.endpoints.values(),
        *content.systems.values(),
    ]
    return {reference(e): entry_state(e) for e in every}


def from_entries(header: bytes, entries: dict[str, bytes]) -> RegisterContent:
    """The register the store's header and entries hold."""
    doc = orjson.loads(header)
    kinds: dict[str, list[Json]] = {"Organization": [], "Endpoint": [], "Device": []}
    for ref, state in entries.items():
        kinds[ref.partition("/")[0]].append(orjson.loads(state))
    return RegisterContent.from_state(
        doc | {"organisations": kinds["Organization"], "endpoints": kinds["Endpoint"], "systems": kinds["Device"]}
    )


def split_state(state: bytes) -> tuple[bytes, dict[str, bytes]]:
    """A register kept whole (``state``, as before entries were kept one by one) as a header and entries."""
    doc = orjson.loads(state)
    header = orjson.dumps({k: doc[k] for k in ("serial", "issued", "expires", "authority")})
    entries = {f"Organization/{o['ods']}": orjson.dumps(o) for o in doc["organisations"]}
    entries |= {f"Endpoint/{e['id']}": orjson.dumps(e) for e in doc["endpoints"]}
    entries |= {f"Device/{c['client_id']}": orjson.dumps(c) for c in doc["systems"]}
    return header, entries
