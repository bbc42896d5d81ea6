"""The enquiry's ports served from the node's own FHIR resources: the register (Organization), involvements
(EpisodeOfCare) and the sharing policies held (kept as Contract resources carrying the MAIS document)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson

from mais_node.enquiry.model import Contact
from mais_node.errors import MaisError, NotConformant
from mais_node.fhir.kept import ChangeToken, KeptUntilChanged
from mais_node.fhir.search.query import Criterion, Query, ReferenceValue, SortKey, TokenValue
from mais_node.fhir.service import ResourceService
from mais_node.policy import Requester, SharingPolicy, parse_sharing_policy
from mais_node.policy.claims import CONTRACT_SYSTEM, check_interpretable, purpose_codes
from mais_node.register.model import Organisation
from mais_node.register.organisations import Organisations
from mais_node.terminology import CANONICAL_BASE, TerminologyService

SHARING_POLICY_SYSTEM = CONTRACT_SYSTEM
SUBJECT_OF_PLAN_TYPE = f"{CANONICAL_BASE}/CodeSystem/subject-of-plan-type"
_KEPT_ENTRIES = 1024  # register entries kept between writes (requesters are the registered organisations)


class RegisterDirectory:
    """The requesting organisation's register entry, as the decision rules see it.

    The entries registered here are kept until an Organization is written (the store's change token over
    Organization, looked at on every enquiry), so a suspension or a new entry is in force for the very next enquiry
    in every worker; one not registered here is asked of the national register each time (it keeps its own serial).
    """

    def __init__(self, organisations: Organisations, token: ChangeToken | None = None) -> None:
        """``token``: the change token the entries are kept by, over Organization (and perhaps more: wiring shares
        the vocabularies' one, pinned for an enquiry, so the two cost one look at the store)."""
        self.organisations = organisations
        token = token if token is not None else ChangeToken(organisations.resources.store, ("Organization",))
        if "Organization" not in token.types:
            raise ValueError("the register entries' change token must cover Organization")
        self._entries: KeptUntilChanged[dict[str, Organisation | None]] = KeptUntilChanged(token, dict)

    def _registered(self, ods: str) -> Organisation | None:
        entries = self._entries()
        if ods in entries:
            return entries[ods]
        found = self.organisations.registered(ods)
        if len(entries) >= _KEPT_ENTRIES:
            entries.clear()
        entries[ods] = found
        return found

    def requester(self, ods: str) -> Requester | None:
        org = self._registered(ods)
        if org is None:
            org = self.organisations.from_national(ods)
        if org is None:
            return None
        return Requester(
            org.ods, org.type, org.operational_status, org.technical_status, org.verification_status == "verified"
        )


def _open_episodes(person_id: str) -> Query:
    """``EpisodeOfCare?patient=Patient/{id}&status=active&_sort=-_lastUpdated&_count=1``."""
    return Query(
        "EpisodeOfCare",
        (
            Criterion("patient", (ReferenceValue(f"Patient/{person_id}"),)),
            Criterion("status", (TokenValue(None, "active"),)),
        ),
        sort=(SortKey("_lastUpdated", descending=True),),
        count=1,
        selective=0,
    )


def _plan_episodes(person_id: str) -> Query:
    """``EpisodeOfCare?patient=Patient/{id}&status=active&type={subject-of-plan-type}|&_count=1``: any code of the
    system, so a new kind of plan is a new code, not new code."""
    return Query(
        "EpisodeOfCare",
        (
            Criterion("patient", (ReferenceValue(f"Patient/{person_id}"),)),
            Criterion("status", (TokenValue(None, "active"),)),
            Criterion("type", (TokenValue(SUBJECT_OF_PLAN_TYPE, None),)),
        ),
        count=1,
        selective=0,
    )


class EpisodeInvolvements:
    """'Open to you' is an active EpisodeOfCare; the contact is the organisation managing it. 'The subject of a
    plan' is an active EpisodeOfCare whose type is a ``subject-of-plan-type`` code."""

    def __init__(self, resources: ResourceService) -> None:
        self.resources = resources

    def open_episode_contact(self, person_id: str) -> tuple[bool, Contact | None]:
        # The store's query directly: one person's episodes are few, so they drive it without the planner's counts.
        page = self.resources.store.search(_open_episodes(person_id))
        if not page.items:
            return False, None
        episode = page.items[0].body
        reference = (episode.get("managingOrganization") or {}).get("reference", "")
        if not reference.startswith("Organization/"):
            return True, None
        try:
            organization = self.resources.read("Organization", reference.removeprefix("Organization/")).body
        except MaisError:
            return True, None
        keep = ("resourceType", "id", "identifier", "name", "telecom", "address")
        return True, Contact({k: v for k, v in organization.items() if k in keep})

    def subject_of_plan(self, person_id: str) -> bool:
        return bool(self.resources.store.search(_plan_episodes(person_id)).items)


def to_contract(policy_json: dict[str, Any], policy: SharingPolicy) -> dict[str, Any]:
    """A sharing policy as a FHIR Contract: the MAIS document kept whole, the searchable fields beside it."""
    return {
        "resourceType": "Contract",
        "id": policy.identifier,
        "identifier": [{"system": SHARING_POLICY_SYSTEM, "value": policy.identifier}],
        "version": str(policy.version),
        "status": "terminated" if policy.status == "retired" else "executed",
        "title": str(policy_json.get("Title") or policy.identifier)[:200],
        "legallyBindingAttachment": {
            "contentType": "application/json",
            "data": base64.b64encode(orjson.dumps(policy_json)).decode(),
        },
    }


def check_sharing_policy(document: Any, *, node_ods: str, terminology: TerminologyService) -> SharingPolicy:
    """The agreement in a MAIS SharingPolicy document, refused (``NotConformant``) unless the node can act on every
    clause: what ``mais sharing-policy add`` and a write of a Contract holding one both check."""
    policy = parse_sharing_policy(document)
    check_interpretable(policy, node_ods=node_ods, purposes=purpose_codes(terminology))
    return policy


def check_contract(contract: dict[str, Any], *, node_ods: str, terminology: TerminologyService) -> None:
    """A Contract written over REST that carries a sharing policy: the same checks as ``sharing-policy add``."""
    attachment = contract.get("legallyBindingAttachment")
    if not isinstance(attachment, dict) or "data" not in attachment:
        return  # not a sharing policy: a Contract of another kind
    try:
        document = orjson.loads(base64.b64decode(str(attachment["data"]), validate=True))
    except ValueError as exc:
        raise NotConformant(
            "legallyBindingAttachment.data is not a base64 JSON SharingPolicy",
            expression=("Contract.legallyBindingAttachment.data",),
        ) from exc
    check_sharing_policy(document, node_ods=node_ods, terminology=terminology)


def from_contract(contract: dict[str, Any]) -> SharingPolicy | None:
    data = (contract.get("legallyBindingAttachment") or {}).get("data")
    if not isinstance(data, str):
        return None
    try:
        return parse_sharing_policy(orjson.loads(base64.b64decode(data)))
    except (MaisError, ValueError):
        return None


class ContractAgreements:
    """Every version of every sharing policy the node holds, from the Contract resources' history."""

    def __init__(self, resources: ResourceService) -> None:
        self.resources = resources

    def held(self) -> Sequence[SharingPolicy]:
        policies: list[SharingPolicy] = []
        after = None
        while True:
            page = self.resources.store.history("Contract", None, 200, after)
            for stored in page.items:
                if not stored.deleted:
                    policy = from_contract(stored.body)
                    if policy is not None:
                        policies.append(policy)
            if page.next_after is None:
                return policies
            after = page.next_after

    def fingerprint(self) -> str:
        """Changes whenever a sharing policy is added, versioned or retired."""
        return self.resources.store.latest_change("Contract")
