"""The register's records (MAIS organisations register / API catalogue; DESIGN §2, §3).

An ``Organisation`` is what the node keeps on a FHIR Organization; a ``Client`` is one of its systems (an OAuth
client of SMART Backend Services). Only an organisation that is operationally and technically active and verified,
through an active client, may get a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
ACTIVE = "active"
VERIFIED = "verified"

ClientStatus = Literal["active", "suspended", "revoked"]


@dataclass(frozen=True, slots=True)
class IgReference:
    """An information-governance reference: a sharing policy, a legislation URI or a registration number."""

    system: str
    value: str


@dataclass(frozen=True, slots=True)
class Organisation:
    ods: str
    name: str
    type: str
    operational_status: str = ACTIVE
    technical_status: str = ACTIVE
    verification_status: str = "unverified"
    verification_date: str | None = None
    ig_references: tuple[IgReference, ...] = ()
    system_provider: str | None = None
    system_version: str | None = None
    endpoints: tuple[str, ...] = ()  # Endpoint resource ids
    areas: tuple[str, ...] = ()  # ONS LAD codes of the local authority areas it serves (register/areas.py)
    id: str | None = None
    version: int = 0
    national_serial: int | None = None  # the national register's serial it comes from; None = registered here
    suspended_here: bool = False  # this node's administrator suspended an entry the national register lists

    @property
    def source(self) -> str:
        return "local" if self.national_serial is None else f"national serial {self.national_serial}"

    @property
    def may_connect(self) -> bool:
        """DESIGN §3: operationally and technically ACTIVE, and verified."""
        return (
            not self.suspended_here
            and self.operational_status == ACTIVE
            and self.technical_status == ACTIVE
            and self.verification_status == VERIFIED
        )

    def why_not(self) -> str | None:
        """The first reason the organisation may not connect, or None."""
        if self.suspended_here:
            return f"organisation {self.ods} is suspended at this node"
        if self.operational_status != ACTIVE:
            return f"organisation {self.ods} is operationally {self.operational_status}"
        if self.technical_status != ACTIVE:
            return f"organisation {self.ods} is technically {self.technical_status}"
        if self.verification_status != VERIFIED:
            return f"organisation {self.ods} is {self.verification_status}"
        return None


@dataclass(frozen=True, slots=True)
class Client:
    """A registered system: its keys (a JWKS inline or a JWKS URL), the scopes it may ask for, its status."""

    client_id: str
    org_ods: str
    scopes: tuple[str, ...]
    created: str
    status: ClientStatus = "active"
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    name: str | None = None
    version: int = 1
    changed: str | None = field(default=None)
    national_serial: int | None = None  # the national register's serial it comes from; None = registered here
    suspended_here: bool = False  # this node's administrator suspended a system the national register lists

    @property
    def active(self) -> bool:
        return self.status == "active" and not self.suspended_here

    @property
    def source(self) -> str:
        return "local" if self.national_serial is None else f"national serial {self.national_serial}"

    def document(self) -> dict[str, Any]:
        """The client as a JSON document (what the storage adapters keep)."""
        return {
            "client_id": self.client_id,
            "org": self.org_ods,
            "scopes": list(self.scopes),
            "created": self.created,
            "status": self.status,
            "jwks": self.jwks,
            "jwks_uri": self.jwks_uri,
            "name": self.name,
            "version": self.version,
            "changed": self.changed,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Client:
        return cls(
            client_id=doc["client_id"],
            org_ods=doc["org"],
            scopes=tuple(doc["scopes"]),
            created=doc["created"],
            status=doc["status"],
            jwks=doc.get("jwks"),
            jwks_uri=doc.get("jwks_uri"),
            name=doc.get("name"),
            version=int(doc.get("version", 1)),
            changed=doc.get("changed"),
        )
