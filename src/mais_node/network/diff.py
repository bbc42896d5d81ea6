"""The changes from one serial of the register to the next: what an import applies, one audit record each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mais_node.network.model import RegisterContent, endpoint_state, organisation_state
from mais_node.register.model import Client

Kind = Literal["organisation", "endpoint", "system"]
Action = Literal["added", "changed", "suspended", "reinstated", "revoked", "removed"]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    key: str  # ODS code, Endpoint id or client id
    action: Action
    before: Json | None
    after: Json | None

    @property
    def target(self) -> str:
        """The FHIR reference the change is about, as the register Bundle names it."""
        kind = {"organisation": "Organization", "endpoint": "Endpoint", "system": "Device"}[self.kind]
        return f"{kind}/{self.key}"


def diff(old: RegisterContent | None, new: RegisterContent) -> list[Change]:
    """Every entry added, changed (with the kind of change) or removed from ``old`` to ``new``, in a stable order.

    An entry the import carried over from ``old`` (the same object: ``network/entries.py``) is unchanged without
    comparing its state; only the others are compared."""
    changes: list[Change] = []
    for kind, state, was, now in _kinds(old, new):
        for key in sorted(was.keys() | now.keys()):
            a, b = was.get(key), now.get(key)
            if a is b:
                continue
            before = None if a is None else state(a)
            after = None if b is None else state(b)
            if before == after:
                continue
            changes.append(Change(kind, key, _action(kind, before, after), before, after))
    return changes


def _kinds(old: RegisterContent | None, new: RegisterContent) -> list[tuple[Kind, Callable[[Any], Json], Any, Any]]:
    return [
        ("organisation", organisation_state, old.organisations if old else {}, new.organisations),
        ("endpoint", endpoint_state, old.endpoints if old else {}, new.endpoints),
        ("system", _system_state, old.systems if old else {}, new.systems),
    ]


def _system_state(system: Client) -> Json:
    doc = system.document()
    doc.pop("created", None)  # when the system was first listed, not a change
    return doc


def _action(kind: str, before: Json | None, after: Json | None) -> Action:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    field = {"organisation": "operational_status", "endpoint": "status", "system": "status"}[kind]
    was, now = before.get(field), after.get(field)
    if was != now:
        if now == "revoked":
            return "revoked"
        if now == "active":
            return "reinstated"
        return "suspended"
    return "changed"
