"""Rules for terminology managers' edits (issue 4 §3): a code can be retired but never removed, so rules and
stored data that use it keep their meaning; status moves draft → active → retired, never back, for the
CodeSystem within one version and for each of its concepts across versions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mais_node.errors import Issue, NotConformant

_ORDER = {"draft": 0, "active": 1, "retired": 2}


def _concepts(concepts: Any) -> Iterator[Mapping[str, Any]]:
    for concept in concepts or []:
        if isinstance(concept, Mapping):
            if isinstance(concept.get("code"), str):
                yield concept
            yield from _concepts(concept.get("concept"))


def _statuses(resource: Mapping[str, Any]) -> dict[str, str]:
    """code → concept status (the ``status`` property; active when absent, as the terminology service reads it)."""
    found = {}
    for concept in _concepts(resource.get("concept")):
        properties = concept.get("property") or []
        status = next(
            (p.get("valueCode") for p in properties if isinstance(p, Mapping) and p.get("code") == "status"), None
        )
        found[str(concept["code"])] = str(status or "active")
    return found


def check_edit(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
    """Refuse an edit of a CodeSystem that removes a code or moves a status backwards (422, every issue)."""
    if before is None:
        return
    issues: list[Issue] = []
    if after is None:
        issues.append(Issue("A CodeSystem is retired (status retired), not deleted", "business-rule"))
    else:
        old_codes, new_codes = _statuses(before), _statuses(after)
        for code in sorted(old_codes):
            if code not in new_codes:
                issues.append(
                    Issue(
                        f"Code '{code}' cannot be removed: retire it (concept status retired) instead",
                        "business-rule",
                        expression=("CodeSystem.concept",),
                    )
                )
            elif _ORDER.get(new_codes[code], 1) < _ORDER.get(old_codes[code], 1):
                issues.append(
                    Issue(
                        f"Code '{code}' cannot move from {old_codes[code]} back to {new_codes[code]}",
                        "business-rule",
                        expression=("CodeSystem.concept",),
                    )
                )
        old, new = _ORDER.get(str(before.get("status")), 0), _ORDER.get(str(after.get("status")), 0)
        if before.get("version") == after.get("version") and new < old:
            issues.append(
                Issue(
                    "Status moves draft → active → retired, never back",
                    "business-rule",
                    expression=("CodeSystem.status",),
                )
            )
    if issues:
        raise NotConformant(issues[0].diagnostics, issues=issues)
