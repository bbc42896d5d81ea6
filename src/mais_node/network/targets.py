"""Who a single view asks (issue 15 item 3): the partners the national register lists, as this node sees them.

Asked: an organisation operationally and technically active and verified here, with an active Endpoint, whose type
the purpose-to-organisation-type ConceptMap (data the terminology manager keeps) lists for the purpose, or exactly
the organisations the practitioner named; with an ``area`` (an ONS LAD code), only those recording that they serve
it. Every other organisation of the register gets a ``NOT_ASKED`` row saying why, so the practitioner sees who was
left out as plainly as who answered. ``screen`` then puts this node's own rules on asking (``policy/asking.py``)
over the partners chosen: a forbid turns a partner into a ``NOT_ASKED`` row naming the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mais_node.network.model import NationalEndpoint
from mais_node.network.peers import Partner
from mais_node.network.rows import Row, RowState, Verdict
from mais_node.policy.asking import FORBIDDEN_HERE, Asking, AskRules, Target
from mais_node.register.model import Organisation

RELEVANCE_MAP = "ConceptMap/purpose-to-organisation-type"
Relevance = Mapping[str, frozenset[str]]  # asserted purpose code → organisation type codes


class Listing(Protocol):
    """What selection reads of the register (``NationalRegister`` gives both, with this node's suspensions)."""

    def organisations(self) -> list[Organisation]: ...

    def endpoints(self, ods: str) -> list[NationalEndpoint]: ...


@dataclass(frozen=True, slots=True)
class Selection:
    partners: list[Partner]
    not_asked: list[Row]


def relevance(concept_map: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """The purpose → organisation types table of a ConceptMap (every group's elements and their targets)."""
    table: dict[str, set[str]] = {}
    for group in concept_map.get("group") or []:
        for element in group.get("element") or []:
            targets = {t["code"] for t in element.get("target") or [] if isinstance(t.get("code"), str)}
            table.setdefault(str(element.get("code")), set()).update(targets)
    return {purpose: frozenset(types) for purpose, types in table.items()}


def select(
    listing: Listing,
    *,
    purpose: str,
    relevant: Relevance,
    own_ods: str,
    targets: Sequence[str] = (),
    area: str | None = None,
) -> Selection:
    """The partners to ask and the NOT_ASKED rows of the rest, in the register's order (ODS code); ``area`` narrows
    the register's choice and the organisations named alike (an organisation recording no area serves none)."""
    organisations = {o.ods: o for o in listing.organisations() if o.ods != own_ods.upper()}
    named = [t.strip().upper() for t in targets if t.strip()]
    partners: list[Partner] = []
    not_asked: list[Row] = []
    types = relevant.get(purpose, frozenset())
    for ods in sorted(set(named) if named else organisations):
        org = organisations.get(ods)
        if org is None:
            reason = "this node's own organisation" if ods == own_ods.upper() else "not in the national register"
            not_asked.append(_not_asked(ods, ods, None, reason))
            continue
        if not named and org.type not in types:
            not_asked.append(_not_asked(ods, org.name, None, f"not relevant to {purpose} ({org.type})"))
            continue
        if area is not None and area not in org.areas:
            served = f"serves {', '.join(org.areas)}" if org.areas else "records no area served"
            not_asked.append(_not_asked(ods, org.name, None, f"does not serve area {area} ({served})"))
            continue
        why = org.why_not()
        endpoint = _active_endpoint(listing.endpoints(ods))
        if why is not None:
            not_asked.append(_not_asked(ods, org.name, endpoint, why))
        elif endpoint is None:
            not_asked.append(_not_asked(ods, org.name, None, "no active Endpoint in the register"))
        else:
            partners.append(Partner(ods, org.name, endpoint, org.type, org.areas))
    return Selection(partners, not_asked)


def screen(selection: Selection, rules: AskRules, asking: Asking) -> Selection:
    """The partners this node's own rules let it ask; the others become NOT_ASKED rows naming the forbidding rules."""
    if not selection.partners:
        return selection
    decisions = rules.decide(asking, [Target(p.ods, p.type, p.areas) for p in selection.partners])
    partners: list[Partner] = []
    refused: list[Row] = []
    for partner, decision in zip(selection.partners, decisions, strict=True):
        if decision.allowed:
            partners.append(partner)
        else:
            verdict = Verdict(RowState.NOT_ASKED, FORBIDDEN_HERE, rules=decision.rule_ids)
            refused.append(Row(partner.ods, partner.name, partner.base, verdict))
    return Selection(partners, sorted([*selection.not_asked, *refused], key=lambda r: r.organisation))


def still_askable(listing: Listing, partner: Partner) -> str | None:
    """Why ``partner`` may no longer be asked (suspended or its Endpoint gone since selection), or None."""
    org = next((o for o in listing.organisations() if o.ods == partner.ods), None)
    if org is None:
        return "no longer in the national register"
    why = org.why_not()
    if why is not None:
        return f"{why} (since the partners were selected)"
    if _active_endpoint(listing.endpoints(partner.ods)) != partner.base:
        return "its Endpoint is no longer active in the register"
    return None


def _active_endpoint(endpoints: Iterable[NationalEndpoint]) -> str | None:
    return next((e.address for e in sorted(endpoints, key=lambda e: e.id) if e.status == "active"), None)


def _not_asked(ods: str, name: str, endpoint: str | None, reason: str) -> Row:
    return Row(ods, name, endpoint, Verdict(RowState.NOT_ASKED, reason))
