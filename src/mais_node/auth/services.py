"""Wiring of the register and the auth services on the node's store: ``build_auth`` is all the composition root calls.

URLs: discovery ``{fhir_base}/.well-known/smart-configuration``, token ``{public_base}/auth/token``, node keys
``{public_base}/auth/jwks``. Access tokens: issuer ``public_base``, audience ``fhir_base``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mais_node.audit.actors import Actor, Node
from mais_node.audit.port import AuditSink
from mais_node.auth.assertion import AssertionVerifier
from mais_node.auth.bearer import BearerValidator, Caller
from mais_node.auth.client_keys import ClientKeys
from mais_node.auth.discovery import smart_configuration
from mais_node.auth.keyring import NodeKeyRing
from mais_node.auth.ports import JwksFetcher, NodeKeyStore, RateCounter, ReplayCache
from mais_node.auth.ratelimit import RateLimiter, RateLimitPolicy
from mais_node.auth.refusals import UNCOUNTED, Refusal, RefusalThrottle
from mais_node.auth.token_endpoint import TokenEndpoint
from mais_node.clock import Clock
from mais_node.config import Settings
from mais_node.errors import VersionConflict
from mais_node.fhir.service import ResourceService
from mais_node.register.clients import Clients
from mais_node.register.organisations import Organisations
from mais_node.register.ports import ClientStore, NationalDirectory
from mais_node.storage.port import ResourceStore
from mais_node.terminology import CANONICAL_BASE

# A selectable code: "local-authority" groups the local authority types and its required binding refuses it in data,
# so the entry written at the first start would fail its own profile on the next REST update of it.
NODE_ORG_TYPE = "la-childrens-social-care"


class RegisterStore(ClientStore, ReplayCache, RateCounter, NodeKeyStore, Protocol):
    """What a storage adapter of this package provides: all four ports on the node's store."""


@dataclass
class AuthServices:
    node: Node
    organisations: Organisations
    clients: Clients
    keyring: NodeKeyRing
    token_endpoint: TokenEndpoint
    bearer: BearerValidator
    rate_limiter: RateLimiter
    discovery: dict[str, Any]
    token_url: str
    jwks_url: str
    closers: list[Callable[[], None]] = field(default_factory=list)
    refusals: RefusalThrottle | None = None  # refused token requests and bearer tokens per source address

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller of a request (401 when the token is not good, 429 when over the client's rate)."""
        caller = self.bearer.authenticate(authorization)
        self.rate_limiter.check(caller.client_id)
        return caller

    def refused(self, address: str | None) -> Refusal:
        """Count a refused bearer token from ``address``: whether to record it, and whether to answer 429."""
        return self.refusals.refused(address) if self.refusals else UNCOUNTED

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def organisation_types(terminology_dir: Path) -> frozenset[str]:
    """Every code of the organisation-type CodeSystem (empty when the file is absent: no check)."""
    path = terminology_dir / "CodeSystem-organisation-type.json"
    if not path.exists():
        return frozenset()
    codes: set[str] = set()

    def walk(concepts: list[dict[str, Any]]) -> None:
        for concept in concepts:
            codes.add(str(concept["code"]))
            walk(concept.get("concept", []))

    walk(json.loads(path.read_text(encoding="utf-8")).get("concept", []))
    return frozenset(codes)


def rate_limit_policy(settings: Settings) -> RateLimitPolicy:
    # Read with defaults until Settings carries the two fields (see the report of issue 3).
    return RateLimitPolicy(settings.rate_limit_requests, settings.rate_limit_window_seconds)


def build_auth(
    settings: Settings,
    store: ResourceStore,
    resources: ResourceService,
    audit: AuditSink,
    clock: Clock,
    *,
    jwks_fetcher: JwksFetcher,
    rate_limit: RateLimitPolicy | None = None,
    register_store: RegisterStore,
    closers: list[Callable[[], None]] | None = None,
    read_only: bool = False,
    national: NationalDirectory | None = None,
) -> AuthServices:
    """The register and the auth services on the node's store; the node's own organisation is put in the register
    unless ``read_only`` (for a command that only reads: it writes nothing, issue 13 item 8)."""
    backing = register_store
    closers = list(closers or [])
    node = Node(settings.node_org, settings.node_org_name, settings.public_base, CANONICAL_BASE)
    types = organisation_types(settings.terminology_dir)
    organisations = Organisations(resources, clock, audit, node, types=types, national=national)
    clients = Clients(backing, organisations, clock, audit, node, national)
    keyring = NodeKeyRing(backing, clock, read_only=read_only)
    token_url = f"{settings.public_base}/auth/token"
    jwks_url = f"{settings.public_base}/auth/jwks"
    verifier = AssertionVerifier(
        clients, organisations, ClientKeys(jwks_fetcher, clock), backing, clock, token_url=token_url
    )
    issuer, audience = settings.public_base, settings.fhir_base
    refusals = RefusalThrottle(clock, RateLimitPolicy(settings.refused_limit, settings.refused_window_seconds))
    endpoint = TokenEndpoint(verifier, keyring, clock, audit, node, issuer=issuer, audience=audience, refusals=refusals)
    bearer = BearerValidator(keyring, clients, organisations, clock, issuer=issuer, audience=audience)
    limiter = RateLimiter(backing, clock, rate_limit or rate_limit_policy(settings))
    discovery = smart_configuration(issuer=issuer, token_endpoint=token_url, jwks_uri=jwks_url)
    services = AuthServices(
        node,
        organisations,
        clients,
        keyring,
        endpoint,
        bearer,
        limiter,
        discovery,
        token_url,
        jwks_url,
        closers,
        refusals=refusals,
    )
    if not read_only:
        ensure_node_organisation(services, settings)
    return services


def ensure_node_organisation(services: AuthServices, settings: Settings) -> None:
    """DESIGN §9: the node's own organisation is in its register from the first start."""
    if services.organisations.get(settings.node_org) is not None:
        return
    actor = Actor(org_ods=settings.node_org, client_id="mais-node")
    try:
        services.organisations.add(settings.node_org, settings.node_org_name, NODE_ORG_TYPE, actor=actor, verified=True)
    except VersionConflict:
        return  # another worker put it there first
