"""Scopes (SMART App Launch v2 §3.0.2 system scopes, and the node's own role scopes): one algebra for every check.

A SMART v2 scope is ``system/<Type or *>.<cruds>``: letters in that order, each an interaction the token allows
(create, read, update, delete, search). A SMART v1 scope (``.read``, ``.write``, ``.*``) is read as the v2 scope it
means (``.rs``, ``.cud``, ``.cruds``, App Launch v2 §3.0.2.3). Role scopes (``mais/...``) name what a person or
service may do on the node beyond FHIR interactions; no SMART scope implies one.

Every question about scopes is asked here: what a client may be registered with (``check_registrable``), what a
token request is granted (``grant``), and whether granted scopes cover a need (``covers``, ``permits``). A need is
met when the granted scopes together allow each of its interactions, so a wider scope, or several narrower ones,
cover a narrower need: nothing compares scope strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mais_node.errors import InvalidRequest
from mais_node.fhir.capability import READ_ONLY_TYPES
from mais_node.fhir.search.params import DECLARED

INTERACTIONS = "cruds"
V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
SERVED_TYPES = frozenset((*DECLARED, *READ_ONLY_TYPES))
_SYSTEM = re.compile(r"^system/(\*|[A-Z][A-Za-z]{1,63})\.(read|write|\*|[cruds]{1,5})$")


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
    ScopeInfo("mais/single-view", "Ask every relevant partner at once ($single-view) for a practitioner"),
)
ROLE_SCOPES = frozenset(s.scope for s in SCOPES if s.scope.startswith("mais/"))
ADMIN = "mais/admin"
ENQUIRY = "mais/enquiry"
REVIEWER = "mais/reviewer"
SINGLE_VIEW = "mais/single-view"
TERMINOLOGY_MANAGER = "mais/terminology-manager"
OPERATOR = "system/*.cruds"


@dataclass(frozen=True, slots=True)
class SystemScope:
    resource_type: str  # "*" for every type
    interactions: str  # a subset of c r u d s, in that order

    def __str__(self) -> str:
        return f"system/{self.resource_type}.{self.interactions}"

    def allows(self, resource_type: str, interaction: str) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.interactions

    def meet(self, other: SystemScope) -> SystemScope | None:
        """What both allow (the narrower type, the common interactions); None when nothing."""
        if "*" not in (self.resource_type, other.resource_type) and self.resource_type != other.resource_type:
            return None
        letters = _ordered(set(self.interactions) & set(other.interactions))
        resource_type = other.resource_type if self.resource_type == "*" else self.resource_type
        return SystemScope(resource_type, letters) if letters else None


def _ordered(letters: Iterable[str]) -> str:
    return "".join(sorted(set(letters), key=INTERACTIONS.index))


def parse_system(scope: str, *, v1: bool = False) -> SystemScope | None:
    """The system scope ``scope`` names, for a type the node serves (or ``*``); None when it names none.

    SMART v2 letters are each once, in the order c r u d s; with ``v1`` a v1 action is read as the v2 letters it
    means. Scopes with parameters (``?``), and patient/user scopes, are not understood: a backend has neither.
    """
    parsed = _parse(scope, v1=v1)
    if parsed is None or parsed.resource_type not in ("*", *SERVED_TYPES):
        return None
    return parsed


def _parse(scope: str, *, v1: bool = False) -> SystemScope | None:
    match = _SYSTEM.match(scope)
    if match is None:
        return None
    resource_type, action = match.groups()
    if action in V1_ACTIONS:
        return SystemScope(resource_type, V1_ACTIONS[action]) if v1 else None
    if _ordered(action) != action:
        return None
    return SystemScope(resource_type, action)


def is_valid(scope: str) -> bool:
    """A scope the node knows in its canonical form: a role scope, or a SMART v2 system scope on a served type."""
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


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token request is granted (canonical v2 and role scopes), and why each other scope asked for is not."""

    granted: tuple[str, ...]
    not_granted: tuple[tuple[str, str], ...]


def grant(requested: Iterable[str], registered: Sequence[str]) -> Grant:
    """RFC 6749 §3.3: each scope asked for, as far as the client's registered scopes allow it; v1 read as v2.

    A system scope is granted as its meet with each registered one (``system/*.read`` for a client registered with
    ``system/Patient.rs`` is ``system/Patient.rs``), so a token never allows what the registration does not.
    """
    roles = {s for s in registered if s in ROLE_SCOPES}
    allowed = [s for s in (parse_system(r) for r in registered) if s is not None]
    granted: dict[str, None] = {}
    refused: list[tuple[str, str]] = []
    for scope in requested:
        if scope in ROLE_SCOPES:
            if scope in roles:
                granted[scope] = None
            else:
                refused.append((scope, "the client is not registered for it"))
            continue
        wanted = parse_system(scope, v1=True)
        if wanted is None:
            refused.append((scope, _not_understood(scope)))
            continue
        meets = [str(m) for have in allowed if (m := have.meet(wanted)) is not None]
        if not meets:
            refused.append((scope, "the client is not registered for it"))
        granted.update(dict.fromkeys(meets))
    return Grant(tuple(granted), tuple(refused))


def _not_understood(scope: str) -> str:
    match = re.match(r"^system/([A-Za-z]+)\.", scope)
    if match and match.group(1) != "*" and match.group(1) not in SERVED_TYPES:
        return f"this node serves no {match.group(1)[:40]}"
    return "not a SMART system scope or role scope this node knows"


def covered(needed: str, granted: Sequence[str]) -> bool:
    """True when ``granted`` together allow ``needed``: a role scope held, or each interaction of a system scope."""
    if needed in ROLE_SCOPES:
        return needed in granted
    wanted = _parse(needed)  # a need may name a type the node does not serve: the route answers 404 for it
    if wanted is None:
        return False
    have = [s for s in (_parse(g) for g in granted) if s is not None]
    return all(any(s.allows(wanted.resource_type, letter) for s in have) for letter in wanted.interactions)


# Both are asked on every request with the few scope sets the node issues, so the answer (a pure function of the
# arguments) is remembered instead of parsing the scopes again each time.


@lru_cache(maxsize=1024)
def covers(granted: tuple[str, ...], needed: str) -> bool:
    """``covered``, remembered: does a token's scopes meet a route's need (a role or system scope)."""
    return covered(needed, granted)


@lru_cache(maxsize=1024)
def permits(granted: tuple[str, ...], resource_type: str, interaction: str) -> bool:
    """True when the granted scopes allow ``interaction`` (one of c r u d s) on ``resource_type``."""
    return covered(f"system/{resource_type}.{interaction}", granted)
