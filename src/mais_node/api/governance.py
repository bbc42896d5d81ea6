"""Writes to the governed resources over plain REST: who may make them, and the audit record of each.

The register (Organization, Endpoint), the sharing policies (Contract) and the vocabularies (CodeSystem,
ValueSet) change only with the role scope that owns them, and every change is audited with both versions
(DESIGN §7). An enquirer sees only its own organisation's enquiry Tasks.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request

from mais_node.audit import balp
from mais_node.audit.actors import Actor
from mais_node.auth.bearer import Caller
from mais_node.auth.scopes import ADMIN, OPERATOR, REVIEWER, TERMINOLOGY_MANAGER
from mais_node.enquiry.records import check_contract
from mais_node.enquiry.respond import REQUESTER_TAG
from mais_node.errors import NotFound
from mais_node.register.own import check_write
from mais_node.terminology.editing import check_edit
from mais_node.wiring import Services

OWNERS: dict[str, tuple[str, Literal["register", "vocabulary", "sharing-policy"]]] = {
    "Organization": (ADMIN, "register"),
    "Endpoint": (ADMIN, "register"),
    "Contract": (ADMIN, "sharing-policy"),
    "CodeSystem": (TERMINOLOGY_MANAGER, "vocabulary"),
    "ValueSet": (TERMINOLOGY_MANAGER, "vocabulary"),
}


def caller_of(request: Request) -> Caller:
    caller: Caller = request.state.caller
    return caller


def guard_write(
    services: Services, caller: Caller, rtype: str, id: str | None, body: dict[str, Any] | None
) -> int | None:
    """Refuse a write to a governed type without its role scope; check a vocabulary edit; the version before."""
    owner = OWNERS.get(rtype)
    if owner is None:
        return None
    caller.require(owner[0])
    current = services.resources.store.read(rtype, id) if id else None
    before = None if current is None or current.deleted else current
    if rtype == "CodeSystem":
        check_edit(before.body if before else None, body)
    if rtype == "Organization":
        node_ods = services.settings.node_org
        check_write(node_ods, services.auth.organisations.get(node_ods), id, body)
    if rtype == "Contract" and body is not None:
        check_contract(body, node_ods=services.settings.node_org, terminology=services.vocabularies())
    return before.version if before else None


def audit_write(services: Services, caller: Caller, rtype: str, id: str, before: int | None, after: int | None) -> None:
    owner = OWNERS.get(rtype)
    if owner is None:
        return
    interaction: Literal["create", "update", "delete"] = "delete" if after is None else "update" if before else "create"
    services.checkpointer.append(
        balp.changed(
            services.node,
            services.clock.now(),
            Actor(org_ods=caller.org_ods, client_id=caller.client_id),
            kind=owner[1],
            interaction=interaction,
            target=f"{rtype}/{id}",
            before=None if before is None else str(before),
            after=None if after is None else str(after),
        )
    )


def sees_every_task(caller: Caller) -> bool:
    return caller.has(REVIEWER) or caller.has(OPERATOR)


def task_filter(caller: Caller) -> list[tuple[str, str]]:
    """Search pairs that keep an enquirer to its own organisation's Tasks."""
    return [] if sees_every_task(caller) else [("requester-org", f"{REQUESTER_TAG}|{caller.org_ods}")]


def check_task_owner(caller: Caller, task: dict[str, Any], task_id: str) -> None:
    """A Task of another organisation is 'not found' to an enquirer: its existence is not disclosed."""
    if sees_every_task(caller):
        return
    tags = {(t.get("system"), t.get("code")) for t in (task.get("meta") or {}).get("tag", [])}
    if (REQUESTER_TAG, caller.org_ods) not in tags:
        raise NotFound(f"Task/{task_id[:64]} is not known")
