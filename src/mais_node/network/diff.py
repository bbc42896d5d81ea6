"""The changes from one serial of the register to the next: what an import applies, one audit record each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mais_node.network.model import RegisterContent, endpoint_state, organisation_state

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
    """Every entry added, changed (with the kind of change) or removed from ``old`` to ``new``, in a stable order."""
    changes: list[Change] = []
    before = _states(old) if old else {"organisation": {}, "endpoint": {}, "system": {}}
    after = _states(new)
    for kind in ("organisation", "endpoint", "system"):
        was, now = before[kind], after[kind]
        for key in sorted(was.keys() | now.keys()):
            a, b = was.get(key), now.get(key)
            if a == b:
                continue
            changes.append(Change(kind, key, _action(kind, a, b), a, b))
    return changes


def _states(content: RegisterContent) -> dict[str, dict[str, Json]]:
    systems = {}
    for c in content.systems.values():
        doc = c.document()
        doc.pop("created", None)  # the issue time of each serial, not a change
        systems[c.client_id] = doc
    return {
        "organisation": {o.ods: organisation_state(o) for o in content.organisations.values()},
        "endpoint": {e.id: endpoint_state(e) for e in content.endpoints.values()},
        "system": systems,
    }


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
