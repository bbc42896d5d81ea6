"""The national register as a FHIR R4 Bundle (type ``collection``): profile ``mais-national-register``.

Organizations (the MAIS register fields, profile ``mais-organisation``), their Endpoints (hl7-fhir-rest) and their
systems as Devices (profile ``mais-system``: the national OAuth client id, the owning Organization, the JWKS inline
or by URL, the scopes, a status). The serial is ``Bundle.identifier``, valid until the end of its period (the
expiry: an R4 Bundle has no extensions); the issue time is ``Bundle.timestamp``. ``parse`` refuses, naming the
entry, anything not well formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from mais_node.auth.scopes import check_registrable
from mais_node.errors import InvalidRequest
from mais_node.network.entries import Reading
from mais_node.network.model import NationalEndpoint, RegisterContent
from mais_node.register.areas import lad_codes
from mais_node.register.fhir_organisation import AREA_SERVED, PROFILE_BASE, from_resource, to_resource
from mais_node.register.jwks import check_public_jwks
from mais_node.register.model import Client
from mais_node.register.organisations import ods_code
from mais_node.register.urls import is_https_or_loopback

Json = dict[str, Any]

REGISTER_PROFILE = f"{PROFILE_BASE}/mais-national-register"
SYSTEM_PROFILE = f"{PROFILE_BASE}/mais-system"
SYSTEM_STATUS = f"{PROFILE_BASE}/mais-system-status"
SYSTEM_SCOPE = f"{PROFILE_BASE}/mais-system-scope"
SYSTEM_JWKS = f"{PROFILE_BASE}/mais-system-jwks"
SYSTEM_JWKS_URI = f"{PROFILE_BASE}/mais-system-jwks-uri"
SERIAL_SYSTEM = "https://mais.example.org/fhir/Id/register-serial"
CLIENT_ID_SYSTEM = "https://mais.example.org/fhir/Id/client-id"
CONNECTION = {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"}
ENDPOINT_STATUSES = frozenset({"active", "suspended", "error", "off"})
SYSTEM_STATUSES = frozenset({"active", "suspended", "revoked"})
ORG_STATUSES = {
    "operational_status": frozenset({"active", "suspended", "inactive"}),
    "technical_status": frozenset({"active", "onboarding", "inactive"}),
    "verification_status": frozenset({"verified", "unverified", "rejected"}),
}


class Malformed(InvalidRequest):
    """The document is not a well-formed national register: what and where."""


# -- writing ------------------------------------------------------------------------------------------------------
def build(content: RegisterContent, base: str) -> Json:
    """The unsigned Bundle for ``content``; ``base`` (the authority's public URL) roots the entries' fullUrls."""
    entries: list[Json] = []
    for org in sorted(content.organisations.values(), key=lambda o: o.ods):
        resource = to_resource(replace(org, id=org.ods))
        entries.append({"fullUrl": f"{base}/fhir/Organization/{org.ods}", "resource": resource})
    for endpoint in sorted(content.endpoints.values(), key=lambda e: e.id):
        entries.append({"fullUrl": f"{base}/fhir/Endpoint/{endpoint.id}", "resource": endpoint_resource(endpoint)})
    for system in sorted(content.systems.values(), key=lambda c: c.client_id):
        entries.append({"fullUrl": f"{base}/fhir/Device/{system.client_id}", "resource": device(system)})
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [REGISTER_PROFILE]},
        "identifier": {
            "system": SERIAL_SYSTEM,
            "value": str(content.serial),
            "period": {"start": content.issued, "end": content.expires},
        },
        "type": "collection",
        "timestamp": content.issued,
        "entry": entries,
    }


def endpoint_resource(endpoint: NationalEndpoint) -> Json:
    return {
        "resourceType": "Endpoint",
        "id": endpoint.id,
        "status": endpoint.status,
        "connectionType": CONNECTION,
        "name": f"MAIS node of {endpoint.org_ods}",
        "managingOrganization": {"reference": f"Organization/{endpoint.org_ods}"},
        "payloadType": [{"text": t} for t in endpoint.payload_types],
        "payloadMimeType": ["application/fhir+json"],
        "address": endpoint.address,
    }


def device(system: Client) -> Json:
    keys: Json = (
        {"url": SYSTEM_JWKS_URI, "valueUrl": system.jwks_uri}
        if system.jwks_uri
        else {"url": SYSTEM_JWKS, "valueString": orjson.dumps(system.jwks).decode()}
    )
    extensions = [{"url": SYSTEM_STATUS, "valueCode": system.status}, keys]
    extensions += [{"url": SYSTEM_SCOPE, "valueString": scope} for scope in system.scopes]
    body: Json = {
        "resourceType": "Device",
        "id": system.client_id,
        "meta": {"profile": [SYSTEM_PROFILE]},
        "extension": extensions,
        "identifier": [{"system": CLIENT_ID_SYSTEM, "value": system.client_id}],
        "status": "active" if system.status == "active" else "inactive",
        "owner": {"reference": f"Organization/{system.org_ods}"},
    }
    if system.name:
        body["deviceName"] = [{"name": system.name, "type": "user-friendly-name"}]
    return body


# -- reading ------------------------------------------------------------------------------------------------------
def parse(bundle: Any, reading: Reading | None = None, previous: RegisterContent | None = None) -> RegisterContent:
    """The register a Bundle holds, or Malformed naming the first entry that is not well formed.

    With ``reading`` (its entries, ``network/entries.py``) an entry whose bytes the last applied serial held is taken
    as read then, and what each entry reads is recorded there; the checks across entries run on all of them. A
    system keeps the ``created`` time ``previous`` gives it (the issue time of the first serial that listed it)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "collection":
        raise Malformed("the document is not a FHIR Bundle of type collection", expression=("Bundle",))
    serial = _serial(bundle.get("identifier"))
    issued = _instant(bundle.get("timestamp"), "Bundle.timestamp")
    identifier = bundle.get("identifier")
    period = identifier.get("period") if isinstance(identifier, dict) else None
    expires = _instant(period.get("end") if isinstance(period, dict) else None, "Bundle.identifier.period.end")
    signature = bundle.get("signature")
    who = signature.get("who") if isinstance(signature, dict) else None
    authority = str(who.get("display") or who.get("reference") or "")[:200] if isinstance(who, dict) else ""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        raise Malformed("the Bundle has no entries", expression=("Bundle.entry",))
    if reading is not None and len(reading.pieces) != len(entries):
        reading = None  # not this document's entries
    created = {c.client_id: c.created for c in previous.systems.values()} if previous else {}
    by_type: dict[str, list[tuple[int, Any]]] = {"Organization": [], "Endpoint": [], "Device": []}
    for index, entry in enumerate(entries):
        piece = reading.pieces[index] if reading is not None else None
        known = reading.known.get(piece) if reading is not None and piece is not None else None
        if known is None:
            known = _read_entry(index, entry, created.get, issued)
        if reading is not None and piece is not None:
            reading.read[piece] = known
        by_type[known[0]].append((index, known[1]))
    content = RegisterContent(serial, issued, expires, authority)
    for index, org in by_type["Organization"]:
        if org.ods in content.organisations:
            raise Malformed(f"two organisations have the ODS code {org.ods}", expression=(f"Bundle.entry[{index}]",))
        content.organisations[org.ods] = org
    for index, endpoint in by_type["Endpoint"]:
        where = (f"Bundle.entry[{index}].resource",)
        if endpoint.id in content.endpoints:
            raise Malformed("each Endpoint needs its own id", expression=where)
        if endpoint.org_ods not in content.organisations:
            raise Malformed(f"Endpoint {endpoint.id}: its organisation is not in the register", expression=where)
        content.endpoints[endpoint.id] = endpoint
    for ods, org in content.organisations.items():
        missing = [e for e in org.endpoints if e not in content.endpoints]
        if missing:
            raise Malformed(f"organisation {ods} names an absent Endpoint {missing[0][:64]}", expression=(ods,))
    for index, system in by_type["Device"]:
        where = (f"Bundle.entry[{index}].resource",)
        if system.client_id in content.systems:
            raise Malformed("each Device needs its own national client id", expression=where)
        if system.org_ods not in content.organisations:
            raise Malformed(f"system {system.client_id}: its organisation is not in the register", expression=where)
        content.systems[system.client_id] = system
    return content


def _read_entry(index: int, entry: Any, created: Callable[[str], str | None], issued: str) -> tuple[str, Any]:
    """What one entry holds, checked on its own (the checks across entries are parse's)."""
    resource = entry.get("resource") if isinstance(entry, dict) else None
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource, dict) or kind not in ("Organization", "Endpoint", "Device"):
        raise Malformed("each entry is an Organization, Endpoint or Device", expression=(f"Bundle.entry[{index}]",))
    if kind == "Organization":
        return "Organization", _organisation(index, resource)
    if kind == "Endpoint":
        return "Endpoint", _endpoint(index, resource)
    return "Device", _system(index, resource, created, issued)


def _serial(identifier: Any) -> int:
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if (
        not isinstance(identifier, dict)
        or identifier.get("system") != SERIAL_SYSTEM
        or not isinstance(value, str)
        or not value.isdigit()
        or len(value) > 18
        or int(value) < 1
    ):
        raise Malformed(
            "the Bundle's serial (identifier) is not a positive whole number", expression=("Bundle.identifier",)
        )
    return int(value)


def _instant(value: Any, where: str) -> str:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Malformed(f"{where} is not an instant with a time zone", expression=(where,))
    return value  # type: ignore[no-any-return]


def _organisation(index: int, resource: Json) -> Any:
    where = (f"Bundle.entry[{index}].resource",)
    org = from_resource(resource, 0)
    if org is None:
        raise Malformed("an Organization has no ODS code", expression=where)
    try:
        code = ods_code(org.ods)
    except InvalidRequest as exc:
        raise Malformed(exc.diagnostics, expression=where) from exc
    if code != org.ods or resource.get("id") not in (None, org.ods):
        raise Malformed(f"Organization {org.ods[:20]}: its id must be its upper-case ODS code", expression=where)
    if not org.name.strip() or not org.type:
        raise Malformed(f"Organization {org.ods} needs a name and a type", expression=where)
    for name, allowed in ORG_STATUSES.items():
        if getattr(org, name) not in allowed:
            raise Malformed(
                f"Organization {org.ods}: {name} '{getattr(org, name)[:20]}' is not known", expression=where
            )
    served = [e for e in resource.get("extension") or [] if isinstance(e, dict) and e.get("url") == AREA_SERVED]
    if len(served) != len(org.areas):
        raise Malformed(f"Organization {org.ods}: each area served is an ONS LAD Coding", expression=where)
    try:
        areas = lad_codes(org.areas)
    except InvalidRequest as exc:
        raise Malformed(f"Organization {org.ods}: {exc.diagnostics}", expression=where) from exc
    if areas != org.areas:
        raise Malformed(f"Organization {org.ods}: its areas must be upper-case LAD codes, once each", expression=where)
    return replace(org, id=None, version=0)


def _endpoint(index: int, resource: Json) -> NationalEndpoint:
    where = (f"Bundle.entry[{index}].resource",)
    id_ = resource.get("id")
    if not isinstance(id_, str) or not id_ or len(id_) > 64:
        raise Malformed("each Endpoint needs its own id", expression=where)
    if not is_https_or_loopback(resource.get("address")):
        raise Malformed(f"Endpoint {id_}: the address is not an https URL", expression=(f"{where[0]}.address",))
    if resource.get("status") not in ENDPOINT_STATUSES:
        raise Malformed(f"Endpoint {id_}: status is not one of {sorted(ENDPOINT_STATUSES)}", expression=where)
    connection = resource.get("connectionType") or {}
    if not isinstance(connection, dict) or connection.get("code") != CONNECTION["code"]:
        raise Malformed(f"Endpoint {id_}: connectionType must be hl7-fhir-rest", expression=where)
    ods = _reference(resource.get("managingOrganization"), "Organization")
    payload = tuple(str(p.get("text", "")) for p in resource.get("payloadType") or [] if isinstance(p, dict))
    return NationalEndpoint(id_, ods, str(resource["address"]), str(resource["status"]), payload)


def _system(index: int, resource: Json, created: Callable[[str], str | None], issued: str) -> Client:
    where = (f"Bundle.entry[{index}].resource",)
    ids = [
        i.get("value")
        for i in resource.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == CLIENT_ID_SYSTEM
    ]
    client_id = ids[0] if len(ids) == 1 else None
    if not isinstance(client_id, str) or not client_id or len(client_id) > 128:
        raise Malformed("each Device needs its own national client id", expression=where)
    ods = _reference(resource.get("owner"), "Organization")
    ext: dict[str, list[Json]] = {}
    for e in resource.get("extension") or []:
        if isinstance(e, dict):
            ext.setdefault(str(e.get("url")), []).append(e)
    status = [e.get("valueCode") for e in ext.get(SYSTEM_STATUS, [])]
    if len(status) != 1 or status[0] not in SYSTEM_STATUSES:
        raise Malformed(f"system {client_id}: status is not one of {sorted(SYSTEM_STATUSES)}", expression=where)
    try:
        scopes = check_registrable(str(e.get("valueString")) for e in ext.get(SYSTEM_SCOPE, []))
    except InvalidRequest as exc:
        raise Malformed(f"system {client_id}: {exc.diagnostics}", expression=where) from exc
    jwks, jwks_uri = _keys(client_id, ext, where)
    names = [n.get("name") for n in resource.get("deviceName") or [] if isinstance(n, dict)]
    return Client(
        client_id=client_id,
        org_ods=ods,
        scopes=scopes,
        created=created(client_id) or issued,  # the issue time of the first serial that listed it
        status=status[0],
        jwks=jwks,
        jwks_uri=jwks_uri,
        name=str(names[0])[:200] if names else None,
    )


def _keys(client_id: str, ext: dict[str, list[Json]], where: tuple[str]) -> tuple[Json | None, str | None]:
    inline, by_url = ext.get(SYSTEM_JWKS, []), ext.get(SYSTEM_JWKS_URI, [])
    if len(inline) + len(by_url) != 1:
        raise Malformed(f"system {client_id}: give its JWKS inline or by URL (one of them)", expression=where)
    if by_url:
        uri = by_url[0].get("valueUrl")
        if not is_https_or_loopback(uri):
            raise Malformed(f"system {client_id}: its JWKS URL is not an https URL", expression=where)
        return None, str(uri)
    try:
        jwks = _checked_jwks(str(inline[0].get("valueString")))
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"system {client_id}: its inline JWKS is not JSON", expression=where) from exc
    except InvalidRequest as exc:
        raise Malformed(f"system {client_id}: {exc.diagnostics}", expression=where) from exc
    return jwks, None


@lru_cache(maxsize=8192)
def _checked_jwks(text: str) -> Json:
    """A JWKS checked once per text: each serial repeats nearly every system's keys, and importing a key is the
    costliest step of reading a register (about 0.2 ms each). Only accepted sets are kept; a refusal raises anew."""
    return check_public_jwks(orjson.loads(text))


def _reference(value: Any, kind: str) -> str:
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or not reference.startswith(f"{kind}/"):
        return ""
    return reference.removeprefix(f"{kind}/")
