"""View models of the register page (issue 16 §6): each organisation and system as plain strings, with where it
comes from (``local`` or ``national serial N``) and what the page may offer for it (suspend or reactivate)."""

from __future__ import annotations

from dataclasses import dataclass

from mais_node.register.model import ACTIVE, Client, Organisation
from mais_node.sharing_policies import HeldPolicy


@dataclass(frozen=True, slots=True)
class OrgRow:
    ods: str
    name: str
    type: str
    status: str  # active, suspended, suspended here, inactive
    connects: str  # "yes" or why not
    source: str
    suspendable: bool


@dataclass(frozen=True, slots=True)
class ClientRow:
    client_id: str
    org_ods: str
    status: str
    scopes: str
    source: str
    suspendable: bool


def source_of(source: str, suspended_here: bool) -> str:
    """Where an entry comes from, as ``mais org list`` says it (issue 14 item 4)."""
    return f"{source}, suspended here" if suspended_here else source


def org_row(org: Organisation) -> OrgRow:
    if org.suspended_here:
        status = "suspended here"
    elif org.operational_status != ACTIVE:
        status = org.operational_status
    elif org.technical_status != ACTIVE:
        status = f"technically {org.technical_status}"
    else:
        status = ACTIVE
    return OrgRow(
        ods=org.ods,
        name=org.name,
        type=org.type,
        status=status,
        connects="yes" if org.may_connect else (org.why_not() or "no"),
        source=source_of(org.source, org.suspended_here),
        suspendable=status == ACTIVE,
    )


def client_row(client: Client) -> ClientRow:
    status = "suspended here" if client.suspended_here else client.status
    return ClientRow(
        client_id=client.client_id,
        org_ods=client.org_ods,
        status=status,
        scopes=" ".join(client.scopes),
        source=source_of(client.source, client.suspended_here),
        suspendable=client.active,
    )


@dataclass(frozen=True, slots=True)
class PolicyRow:
    identifier: str
    name: str
    version: str
    state: str
    dates: str
    parties: str
    retirable: bool


def policy_row(entry: HeldPolicy) -> PolicyRow:
    policy = entry.policy
    return PolicyRow(
        identifier=policy.identifier,
        name=policy.name,
        version=str(policy.version),
        state=entry.state if entry.state in ("in force", "retired") else "not in force",
        dates=f"{policy.start.isoformat()} to {policy.end.isoformat()}",
        parties=", ".join(party.name for party in policy.parties),
        retirable=entry.state == "in force",
    )
