"""The sharing policies a node holds (DESIGN §6), as a service for ``mais sharing-policy`` and the console's register
page alike: list them with their state, hold a new one (or a new version), retire one.

Held as FHIR Contracts through the resource service; a document the node cannot act on is refused whole
(:class:`~mais_node.errors.NotConformant`, one issue per problem) and nothing is written. Every change is audited
here (a ``sharing-policy-change`` record with both versions, as a REST write of a Contract is), with the actor the
caller names: the person in the console, the operator on the command line.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mais_node.audit import balp
from mais_node.errors import MaisError, NotFound
from mais_node.policy import SharingPolicy, current_versions, parse_sharing_policy

if TYPE_CHECKING:
    from mais_node.audit.actors import Actor
    from mais_node.storage.port import Stored
    from mais_node.terminology import TerminologyService
    from mais_node.wiring import Services


@dataclass(frozen=True, slots=True)
class HeldPolicy:
    policy: SharingPolicy
    state: str  # "in force", or the document's status (superseded versions keep theirs)


def held(services: Services) -> list[HeldPolicy]:
    """Every sharing policy held, by identifier and version."""
    policies = services.rules.agreements.held()
    current = {p.key for p in current_versions(policies)}
    ordered = sorted(policies, key=lambda p: (p.identifier, p.version))
    return [HeldPolicy(p, "in force" if p.key in current else p.status) for p in ordered]


def hold(services: Services, document: Any, *, actor: Actor) -> tuple[SharingPolicy, Stored]:
    """Hold a sharing policy (a new version of an agreement supersedes the old); it compiles into the rules."""
    from mais_node.enquiry.records import check_sharing_policy, to_contract

    policy = check_sharing_policy(document, node_ods=services.settings.node_org, terminology=terminology(services))
    written = services.resources.update("Contract", policy.identifier, to_contract(document, policy))
    _audit(services, actor, written.stored, None if written.created else written.stored.version - 1)
    return policy, written.stored


def retire(services: Services, identifier: str, *, actor: Actor) -> SharingPolicy:
    """Retire an agreement: its rules stop at once, and an older version does not come back into force."""
    from mais_node.enquiry.records import from_contract, to_contract

    stored = services.resources.read("Contract", identifier)
    policy = from_contract(stored.body)
    if policy is None:
        raise NotFound(f"Contract/{identifier} holds no sharing policy")
    document = orjson.loads(base64.b64decode(stored.body["legallyBindingAttachment"]["data"]))
    document["Status"] = "retired"
    document["Version"] = policy.version + 1
    retired = parse_sharing_policy(document)
    written = services.resources.update("Contract", identifier, to_contract(document, retired), if_match=stored.version)
    _audit(services, actor, written.stored, stored.version)
    return retired


def _audit(services: Services, actor: Actor, written: Stored, before: int | None) -> None:
    services.checkpointer.append(
        balp.changed(
            services.node,
            services.clock.now(),
            actor,
            kind="sharing-policy",
            interaction="update" if before else "create",
            target=f"Contract/{written.id}",
            before=None if before is None else str(before),
            after=str(written.version),
        )
    )


def terminology(services: Services) -> TerminologyService:
    """The vocabularies in force, or the files' when the store holds none yet (a node not yet started)."""
    from mais_node.terminology import PURPOSE_VALUESET, TerminologyService, load_directory

    try:
        vocabularies = services.vocabularies()
        vocabularies.expand(PURPOSE_VALUESET)
    except MaisError:
        return TerminologyService(load_directory(services.settings.terminology_dir))
    return vocabularies
