"""The people who use the console: their accounts, their sessions, and the store port both live behind.

A role names what a person does; it maps onto the node's role scopes (``auth/scopes.py``), so every check of what
a person may do is the same scope algebra a system's token is checked with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mais_node.auth import scopes

ROLES: dict[str, tuple[str, ...]] = {
    "ig-officer": (scopes.REVIEWER, "system/Task.rs"),
    "auditor": ("system/AuditEvent.rs",),
    "terminology-manager": (scopes.TERMINOLOGY_MANAGER, "system/CodeSystem.rus", "system/ValueSet.rs"),
    "practitioner": (scopes.ENQUIRY, scopes.SINGLE_VIEW),
    "admin": (scopes.ADMIN, "system/Organization.rs", "system/Endpoint.rs"),
}
ROLE_NAMES = {
    "ig-officer": "IG officer",
    "auditor": "Auditor",
    "terminology-manager": "Terminology manager",
    "practitioner": "Practitioner",
    "admin": "Administrator",
}


@dataclass(frozen=True, slots=True)
class Person:
    """A local account. ``failures`` counts sign-in failures since the last success; ``locked_until`` is epoch s."""

    name: str
    role: str
    password_hash: str
    created: str
    display_name: str = ""
    totp_secret: str | None = None
    failures: int = 0
    locked_until: float = 0.0
    version: int = 1
    issuer: str = ""  # set for a person signed in by the identity provider (console/oidc.py): never stored

    @property
    def scopes(self) -> tuple[str, ...]:
        return ROLES[self.role]

    def may(self, need: str) -> bool:
        """Whether the person's role scopes cover ``need`` (a role scope or a system scope)."""
        return scopes.covers(self.scopes, need)

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "password_hash": self.password_hash,
            "created": self.created,
            "display_name": self.display_name,
            "totp_secret": self.totp_secret,
            "failures": self.failures,
            "locked_until": self.locked_until,
            "version": self.version,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Person:
        return cls(
            name=str(doc["name"]),
            role=str(doc["role"]),
            password_hash=str(doc["password_hash"]),
            created=str(doc["created"]),
            display_name=str(doc.get("display_name") or ""),
            totp_secret=doc.get("totp_secret"),
            failures=int(doc.get("failures", 0)),
            locked_until=float(doc.get("locked_until", 0.0)),
            version=int(doc.get("version", 1)),
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in session. ``key`` is the SHA-256 of the cookie's token: the store never holds the token itself."""

    key: str
    person: str
    csrf: str
    created: float
    last_seen: float
    expires: float  # the absolute end; the idle end is last_seen + the idle timeout
    extra: dict[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "person": self.person,
            "csrf": self.csrf,
            "created": self.created,
            "last_seen": self.last_seen,
            "expires": self.expires,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Session:
        return cls(
            key=str(doc["key"]),
            person=str(doc["person"]),
            csrf=str(doc["csrf"]),
            created=float(doc["created"]),
            last_seen=float(doc["last_seen"]),
            expires=float(doc["expires"]),
            extra={str(k): str(v) for k, v in (doc.get("extra") or {}).items()},
        )


def session_extra(person: Person) -> dict[str, str]:
    """What a session started by the identity provider keeps of the person (no local account stands behind it)."""
    return {
        "kind": "oidc",
        "sub": person.name,
        "issuer": person.issuer,
        "name": person.display_name,
        "role": person.role,
    }


def person_of_session(session: Session) -> Person | None:
    """The person of a session the identity provider started; None for any other session."""
    extra = session.extra
    if extra.get("kind") != "oidc" or extra.get("role") not in ROLES or not extra.get("sub"):
        return None
    name, issuer, role = extra["sub"], extra.get("issuer", ""), extra["role"]
    return Person(name, role, "", "", display_name=extra.get("name", ""), issuer=issuer)


class AccountStore(Protocol):
    """Local accounts on the node's store."""

    def put_person(self, person: Person, *, expected_version: int) -> None:
        """Insert (``expected_version`` 0) or replace version ``expected_version``; VersionConflict otherwise."""
        ...

    def get_person(self, name: str) -> Person | None: ...

    def list_people(self) -> list[Person]:
        """Every account, by name."""
        ...


class SessionStore(Protocol):
    """Sessions on the node's store, so that every replica sees a sign-in (DESIGN §13)."""

    def put_session(self, session: Session) -> None:
        """Insert or replace the session with this key."""
        ...

    def get_session(self, key: str) -> Session | None: ...

    def delete_session(self, key: str) -> None:
        """Forget a session (signing out, rotation); expired sessions are purged on each insert."""
        ...


class PeopleStore(AccountStore, SessionStore, Protocol):
    """What a storage adapter provides for the console: both ports on the node's store."""
