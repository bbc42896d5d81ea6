"""Rules for terminology managers' edits (issue 4 §3): a code can be retired but never removed, so rules and
stored data that use it keep their meaning; status moves draft → active → retired, never back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mais_node.errors import Issue, NotConformant

_ORDER = {"draft": 0, "active": 1, "retired": 2}


def _codes(concepts: Any) -> Iterator[str]:
    for concept in concepts or []:
        if isinstance(concept, Mapping):
            if isinstance(concept.get("code"), str):
                yield concept["code"]
            yield from _codes(concept.get("concept"))


def check_edit(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
    """Refuse an edit of a CodeSystem that removes a code or moves its status backwards (422, every issue)."""
    if before is None:
        return
    issues: list[Issue] = []
    if after is None:
        issues.append(Issue("A CodeSystem is retired (status retired), not deleted", "business-rule"))
    else:
        removed = sorted(set(_codes(before.get("concept"))) - set(_codes(after.get("concept"))))
        issues.extend(
            Issue(
                f"Code '{code}' cannot be removed: retire it (concept status retired) instead",
                "business-rule",
                expression=("CodeSystem.concept",),
            )
            for code in removed
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
