"""The authority's side (issue 14 item 2): the register of its own node's store, as the next signed serial.

The authority runs a node of its own; every organisation, Endpoint and system registered there (not ones it
imported) goes into the document. Serials come from the store, so they only rise, whoever publishes.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import orjson

from mais_node.clock import Clock
from mais_node.errors import InvalidRequest, NotFound
from mais_node.fhir.service import ResourceService
from mais_node.network import bundle
from mais_node.network.model import NationalEndpoint, RegisterContent
from mais_node.network.ports import Published, PublishedRegisters
from mais_node.network.signature import sign
from mais_node.register.clients import Clients
from mais_node.register.organisations import Organisations


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m`` or ``90s``; InvalidRequest otherwise."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise InvalidRequest(f"'{text[:20]}' is not a duration such as 7d, 12h, 30m or 90s", expression=("valid_for",))
    return timedelta(**{units[unit]: int(number)})


def content_of(
    organisations: Organisations, clients: Clients, resources: ResourceService, serial: int, issued: str, expires: str
) -> RegisterContent:
    """The register held by the authority's own store (local entries only)."""
    content = RegisterContent(serial, issued, expires, authority=organisations.node.name)
    for org in organisations.list():
        if org.national_serial is not None:
            continue
        content.organisations[org.ods] = org
        for endpoint_id in org.endpoints:
            content.endpoints[endpoint_id] = _endpoint(resources, endpoint_id, org.ods)
    for client in clients.list():
        if client.national_serial is None and client.org_ods in content.organisations:
            content.systems[client.client_id] = client
    return content


def publish(
    organisations: Organisations,
    clients: Clients,
    resources: ResourceService,
    published: PublishedRegisters,
    clock: Clock,
    *,
    private_jwk: dict[str, Any],
    valid_for: timedelta,
    base: str,
) -> Published:
    """Sign the next serial of the authority's register, keep it for ``GET /register``, and return it."""
    now = clock.now()
    serial = (published.published_serial() or 0) + 1
    content = content_of(organisations, clients, resources, serial, now.isoformat(), (now + valid_for).isoformat())
    signed = sign(bundle.build(content, base), private_jwk, when=now.isoformat(), who=content.authority)
    document = orjson.dumps(signed)
    record = Published(serial, f'"{serial}-{hashlib.sha256(document).hexdigest()[:16]}"', document)
    published.put_published(record)
    return record


def _endpoint(resources: ResourceService, endpoint_id: str, ods: str) -> NationalEndpoint:
    try:
        body = resources.read("Endpoint", endpoint_id).body
    except NotFound as exc:
        raise InvalidRequest(f"organisation {ods} names Endpoint {endpoint_id}, which is not stored") from exc
    payload = tuple(str(p.get("text", "")) for p in body.get("payloadType", []) if isinstance(p, dict))
    return NationalEndpoint(endpoint_id, ods, str(body.get("address", "")), str(body.get("status", "active")), payload)
