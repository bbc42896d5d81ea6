"""Scopes (SMART App Launch v2 §3.0.2 system scopes, and the node's own role scopes), declared once as data.

A SMART v2 scope is ``system/<Type or *>.<cruds>``: letters in that order, each an interaction the token allows
(create, read, update, delete, search). Role scopes (``mais/...``) name what a person or service may do on the
node beyond FHIR interactions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mais_node.errors import InvalidRequest

INTERACTIONS = "cruds"
_SMART = re.compile(r"^system/(\*|[A-Z][A-Za-z]{1,63})\.([cruds]{1,5})$")


@dataclass(frozen=True, slots=True)
class ScopeInfo:
    scope: str
    description: str


SCOPES: tuple[ScopeInfo, ...] = (
    ScopeInfo("system/*.cruds", "Every FHIR interaction on every resource type (node operators)"),
    ScopeInfo("system/Patient.rs", "Read and search the person index"),
    ScopeInfo("system/EpisodeOfCare.rs", "Read and search involvements"),
    ScopeInfo("system/Organization.rs", "Read and search the organisations register"),
    ScopeInfo("system/Endpoint.rs", "Read and search partners' endpoints"),
    ScopeInfo("system/Task.crs", "Send enquiries as Task and read their answers"),
    ScopeInfo("system/CodeSystem.rs", "Read the agreed vocabularies"),
    ScopeInfo("system/ValueSet.rs", "Read the agreed value sets"),
    ScopeInfo("system/AuditEvent.rs", "Search and read the audit trail (auditors)"),
    ScopeInfo("mais/enquiry", "Send MAIS enquiries ($person-info-query)"),
    ScopeInfo("mais/admin", "Change the organisations register and its systems"),
    ScopeInfo("mais/terminology-manager", "Edit the agreed vocabularies"),
    ScopeInfo("mais/reviewer", "Decide enquiries referred for review (IG officers)"),
)
ROLE_SCOPES = frozenset(s.scope for s in SCOPES if s.scope.startswith("mais/"))
ADMIN = "mais/admin"
ENQUIRY = "mais/enquiry"
REVIEWER = "mais/reviewer"
TERMINOLOGY_MANAGER = "mais/terminology-manager"


@dataclass(frozen=True, slots=True)
class SystemScope:
    resource_type: str  # "*" for every type
    interactions: str

    def covers(self, other: SystemScope) -> bool:
        return self.resource_type in ("*", other.resource_type) and set(other.interactions) <= set(self.interactions)


def parse_system(scope: str) -> SystemScope | None:
    match = _SMART.match(scope)
    if match is None:
        return None
    letters = match.group(2)
    if "".join(sorted(set(letters), key=INTERACTIONS.index)) != letters:
        return None  # SMART v2: each letter once, in the order c r u d s
    return SystemScope(match.group(1), letters)


def is_valid(scope: str) -> bool:
    return scope in ROLE_SCOPES or parse_system(scope) is not None


def split(text: str | None) -> tuple[str, ...]:
    """The scopes of a space-separated scope string (RFC 6749 §3.3), in order, without repeats."""
    return tuple(dict.fromkeys((text or "").split()))


def check_registrable(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes a client may be registered with; InvalidRequest naming the first unknown one."""
    out = tuple(dict.fromkeys(scopes))
    if not out:
        raise InvalidRequest("A client needs at least one scope", expression=("scope",))
    for scope in out:
        if not is_valid(scope):
            raise InvalidRequest(f"'{scope[:80]}' is not a scope this node knows", expression=("scope",))
    return out


def covered(requested: str, allowed: Sequence[str]) -> bool:
    """True when ``requested`` is one of ``allowed`` or narrower than a SMART scope of it."""
    if requested in allowed:
        return True
    wanted = parse_system(requested)
    if wanted is None:
        return False
    return any(have.covers(wanted) for a in allowed if (have := parse_system(a)) is not None)


@lru_cache(maxsize=1024)
def permits(granted: tuple[str, ...], resource_type: str, interaction: str) -> bool:
    """True when the granted scopes allow ``interaction`` (one of c r u d s) on ``resource_type``.

    Asked on every FHIR request with the few scope sets the node issues, so the answer (a pure function of its
    arguments) is remembered instead of parsing the scopes again each time.
    """
    return covered(f"system/{resource_type}.{interaction}", granted)
