"""Builders of FHIR R4 AuditEvents after the IHE Basic Audit Log Patterns (BALP 1.1) (DESIGN §7).

Every builder takes the node (the audit source and responding party), the time, the actor (requesting
organisation, system and user, with purpose of use) and what the event is about, and returns the AuditEvent as
a dict. Patterns: token issued/refused = DICOM 110114 User Authentication; enquiry received and auditors'
searches = BALP Query/PatientQuery (raw request base64 in ``entity.query``); decisions and review decisions =
BALP AuthZ (DICOM 110113 Security Alert, outcome 0 permit / 8 deny, our ``review`` subtype, rule ids as
entities, the sharing policy in ``agent.policy``); disclosures = DICOM 110106 Export with ISO 21089
``disclose``, one per person; changes and what-if evaluations = ``rest``; rule-set loads = DICOM 110100
Application Activity.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from mais_node.audit.actors import (
    AUDIT_EVENT_TYPE,
    BALP_ENTITY,
    BALP_PROFILE,
    DCM,
    ENTITY_TYPE,
    LIFECYCLE,
    OBJECT_ROLE,
    ODS,
    OUTCOME,
    PARTICIPATION,
    RESTFUL,
    ROLE_CLASS,
    SOURCE_TYPE,
    Actor,
    Coding,
    Decision,
    Json,
    Node,
    Subject,
)
from mais_node.audit.chain import format_instant
from mais_node.audit.port import Event
from mais_node.audit.trace import TRACE_ID

# The agents and source of the records built inside ``shared_parts`` (one enquiry), by what they are built from.
_SHARED: contextvars.ContextVar[dict[object, Any] | None] = contextvars.ContextVar("balp_shared", default=None)


@contextlib.contextmanager
def shared_parts() -> Iterator[None]:
    """Within the block, records with the same node, actor and policies share one list of agents (built once), and
    records of the same node one source.

    One enquiry writes ~6 records for the same requester; their agents were built afresh for each. The records are
    the same JSON either way (a record is never changed once built: it is sealed as it is), only built once.
    """
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _agents(node: Node, actor: Actor, policies: Sequence[str]) -> list[Json]:
    agents: list[Json] = []
    if actor.user_id or actor.user_name:
        who = {"identifier": {"system": actor.user_system, "value": actor.user_id}} if actor.user_id else {}
        agents.append(
            {"type": {"coding": [Coding(PARTICIPATION, "IRCP", "information recipient").json()]}, "who": who}
            | ({"name": actor.user_name} if actor.user_name else {})
            | ({"role": [{"coding": [actor.user_role.json()]}]} if actor.user_role else {})
        )
    # The source agent carries the network address too when no client could be named (a refused token).
    if actor.client_id or actor.address:
        agents.append(
            {"type": {"coding": [Coding(DCM, "110153", "Source Role ID").json()]}}
            | ({"who": node.identifier("client-id", actor.client_id)} if actor.client_id else {})
            | ({"network": {"address": actor.address, "type": "2"}} if actor.address else {})
        )
    if actor.org_ods:
        agents.append(
            {"type": {"coding": [Coding(ROLE_CLASS, "PROV", "healthcare provider").json()]}}
            | {"who": {"identifier": {"system": ODS, "value": actor.org_ods}}}
        )
    for index, agent in enumerate(agents):
        agent["requestor"] = index == 0
    if agents:
        agents[0] |= {"policy": list(policies)} if policies else {}
        agents[0] |= {"purposeOfUse": [{"coding": [c.json() for c in actor.purpose]}]} if actor.purpose else {}
    node_who = {"identifier": {"system": ODS, "value": node.ods}, "display": node.name}
    destination = Coding(DCM, "110152", "Destination Role ID").json()
    agents.append({"type": {"coding": [destination]}, "who": node_who, "requestor": not agents})
    return agents


def _source(node: Node) -> Json:
    observer = {"identifier": {"system": ODS, "value": node.ods}, "display": node.name}
    return {"site": node.site, "observer": observer, "type": [Coding(SOURCE_TYPE, "4").json()]}


def _event(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    type_: Coding,
    subtype: Sequence[Coding],
    outcome: str = "0",
    outcome_desc: str | None = None,
    policies: Sequence[str] = (),
    entity: Sequence[Json] = (),
    action: str = "E",
    profile: str | None = None,
) -> Event:
    event: Event = {"resourceType": "AuditEvent"}
    if profile:
        event["meta"] = {"profile": [BALP_PROFILE + profile]}
    event |= {
        "type": type_.json(),
        "subtype": [c.json() for c in subtype],
        "action": action,
        "recorded": format_instant(at),
        "outcome": outcome,
    }
    event |= {"outcomeDesc": outcome_desc} if outcome_desc else {}
    shared = _SHARED.get()
    if shared is None:
        event["agent"], event["source"] = _agents(node, actor, policies), _source(node)
    else:
        key = (node, actor, tuple(policies))
        agents = shared.get(key)
        event["agent"] = agents if agents is not None else shared.setdefault(key, _agents(node, actor, policies))
        source = shared.get(node)
        event["source"] = source if source is not None else shared.setdefault(node, _source(node))
    traced = TRACE_ID.get()
    if traced is not None and not any(e.get("what") == node.identifier("trace-id", traced) for e in entity):
        entity = [*entity, _trace(node, traced)]  # the request's W3C trace: every record of it carries the id
    if entity:
        event["entity"] = list(entity)
    return event


def _patient(subject: Subject) -> Json:
    return {
        "what": subject.what(),
        "type": Coding(ENTITY_TYPE, "1").json(),
        "role": Coding(OBJECT_ROLE, "1").json(),
    }


def _query(raw: bytes) -> Json:
    role = Coding(OBJECT_ROLE, "24", "Query").json()
    return {"type": Coding(ENTITY_TYPE, "2").json(), "role": role, "query": base64.b64encode(raw).decode()}


def _enquiry(node: Node, enquiry_id: str) -> Json:
    return {"what": node.identifier("enquiry", enquiry_id), "type": Coding(BALP_ENTITY, "XrequestId").json()}


def _rules(node: Node, rule_ids: Sequence[str]) -> list[Json]:
    role = Coding(OBJECT_ROLE, "13", "Security Resource").json()
    return [{"what": node.identifier("rule", rule_id), "role": role} for rule_id in rule_ids]


def _detail(**values: str | None) -> list[Json]:
    return [{"type": k.replace("_", "-"), "valueString": v} for k, v in values.items() if v is not None]


def token_issued(node: Node, at: datetime, actor: Actor, *, scopes: Sequence[str]) -> Event:
    entity = {
        "what": node.identifier("client-id", actor.client_id or ""),
        "detail": _detail(scope=" ".join(scopes)),
    }
    login = Coding(DCM, "110122", "Login")
    return _event(node, at, actor, type_=Coding(DCM, "110114", "User Authentication"), subtype=[login], entity=[entity])


def token_refused(node: Node, at: datetime, actor: Actor, *, reason: str) -> Event:
    login = Coding(DCM, "110122", "Login")
    type_ = Coding(DCM, "110114", "User Authentication")
    return _event(node, at, actor, type_=type_, subtype=[login], outcome="8", outcome_desc=reason)


def enquiry_received(
    node: Node, at: datetime, actor: Actor, *, enquiry_id: str, raw_request: bytes, subject: Subject | None
) -> Event:
    """An enquiry as it arrived (BALP PatientQuery, or Query when no subject could be read from it)."""
    entity = [_enquiry(node, enquiry_id), _query(raw_request)] + ([_patient(subject)] if subject else [])
    subtype = [Coding(RESTFUL, "operation"), node.code("enquiry-received")]
    profile = "PatientQuery" if subject else "Query"
    return _event(
        node,
        at,
        actor,
        type_=Coding(AUDIT_EVENT_TYPE, "rest"),
        subtype=subtype,
        entity=entity,
        profile=profile,
    )


def enquiry_refused(node: Node, at: datetime, actor: Actor, *, enquiry_id: str, reason: str) -> Event:
    """An enquiry stopped by a hard gate (register, well-formedness) before the rules: nothing was disclosed."""
    subtype = [Coding(RESTFUL, "operation"), node.code("enquiry-refused")]
    type_ = Coding(AUDIT_EVENT_TYPE, "rest")
    entity = [_enquiry(node, enquiry_id)]
    return _event(node, at, actor, type_=type_, subtype=subtype, outcome="8", outcome_desc=reason, entity=entity)


def enquiry_failed(node: Node, at: datetime, actor: Actor, *, enquiry_id: str, reason: str) -> Event:
    """An enquiry (or a review of one) decided, whose answer could not be stored: nothing left the node (503)."""
    subtype = [Coding(RESTFUL, "operation"), node.code("enquiry-failed")]
    type_ = Coding(AUDIT_EVENT_TYPE, "rest")
    entity = [_enquiry(node, enquiry_id)]
    return _event(node, at, actor, type_=type_, subtype=subtype, outcome="8", outcome_desc=reason, entity=entity)


def decision(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    enquiry_id: str,
    item: str,
    outcome: Decision,
    rule_ids: Sequence[str],
    policies: Sequence[str] = (),
    subject: Subject | None = None,
    consent: str | None = None,
    reasons: Sequence[str] = (),
) -> Event:
    """The decision on one requested item (BALP AuthZ): PERMIT, DENY or REVIEW, with rules, agreements, the rules'
    reasons (in ``outcomeDesc``) and the consent element the rules decided on (a detail of the enquiry entity)."""
    enquiry = _enquiry(node, enquiry_id) | ({"detail": _detail(consent=consent)} if consent else {})
    entity = [enquiry, *_rules(node, rule_ids)] + ([_patient(subject)] if subject else [])
    return _event(
        node,
        at,
        actor,
        type_=Coding(DCM, "110113", "Security Alert"),
        subtype=[node.code("decision"), node.code(outcome), node.code(item)],
        outcome=OUTCOME[outcome],
        outcome_desc=f"{outcome.upper()} {item}" + (f": {'; '.join(reasons)}"[:500] if reasons else ""),
        policies=policies,
        entity=entity,
    )


def disclosure(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    enquiry_id: str,
    subject: Subject,
    items: Sequence[str],
    policies: Sequence[str] = (),
) -> Event:
    """What was released about one person to the requester (one event per person disclosed)."""
    patient = _patient(subject) | {"detail": _detail(released=" ".join(items))}
    subtype = [Coding(LIFECYCLE, "disclose"), *(node.code(item) for item in items)]
    type_ = Coding(DCM, "110106", "Export")
    entity = [_enquiry(node, enquiry_id), patient]
    return _event(node, at, actor, type_=type_, subtype=subtype, policies=policies, entity=entity)


def review_decision(
    node: Node,
    at: datetime,
    reviewer: Actor,
    *,
    enquiry_id: str,
    item: str,
    outcome: Decision,
    reason: str,
    subject: Subject | None = None,
) -> Event:
    """An IG officer's decision on an item the rules referred (BALP AuthZ, decided by a person)."""
    entity = [_enquiry(node, enquiry_id)] + ([_patient(subject)] if subject else [])
    subtype = [node.code("review-decision"), node.code(outcome), node.code(item)]
    type_ = Coding(DCM, "110113", "Security Alert")
    return _event(
        node,
        at,
        reviewer,
        type_=type_,
        subtype=subtype,
        outcome=OUTCOME[outcome],
        outcome_desc=reason,
        entity=entity,
    )


def changed(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    kind: Literal["register", "client", "vocabulary", "rules", "sharing-policy"],
    interaction: Literal["create", "update", "delete"],
    target: str,
    before: str | None,
    after: str | None,
) -> Event:
    """A change to the register, a client, a vocabulary, the rules or a sharing policy, with both versions."""
    what = {"reference": f"{target}/_history/{after}" if after else target}
    entity: Json = {"what": what, "detail": _detail(before_version=before, after_version=after)}
    entity |= {"type": Coding(ENTITY_TYPE, "2").json(), "role": Coding(OBJECT_ROLE, "4").json()}
    action = {"create": "C", "update": "U", "delete": "D"}[interaction]
    subtype = [Coding(RESTFUL, interaction), node.code(f"{kind}-change")]
    type_ = Coding(AUDIT_EVENT_TYPE, "rest")
    return _event(node, at, actor, type_=type_, subtype=subtype, action=action, entity=[entity])


def what_if(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    raw_request: bytes,
    decisions: dict[str, Decision],
    subject: Subject | None = None,
) -> Event:
    """A rules evaluation without matching or answering (the IG officer's "what if"), about the subject it names."""
    entity = [_query(raw_request) | {"detail": _detail(**dict(sorted(decisions.items())))}]
    entity += [_patient(subject)] if subject else []
    subtype = [Coding(RESTFUL, "operation"), node.code("what-if")]
    return _event(node, at, actor, type_=Coding(AUDIT_EVENT_TYPE, "rest"), subtype=subtype, entity=entity)


def audit_searched(node: Node, at: datetime, actor: Actor, *, query: str, returned: int) -> Event:
    """An auditor's own search or export of the trail (BALP Query)."""
    entity = [_query(query.encode()) | {"detail": _detail(returned=str(returned))}]
    subtype = [Coding(RESTFUL, "search-type"), node.code("audit-search")]
    type_ = Coding(AUDIT_EVENT_TYPE, "rest")
    return _event(node, at, actor, type_=type_, subtype=subtype, entity=entity, profile="Query")


def rules_loaded(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    ruleset: str,
    version: str,
    accepted: bool,
    reason: str | None = None,
) -> Event:
    """A rule set loaded at start or on reload: accepted, or refused whole (the last good one stays)."""
    entity = {
        "what": node.identifier("ruleset", f"{ruleset}|{version}"),
        "role": Coding(OBJECT_ROLE, "13").json(),
    }
    subtype = [node.code("rules-load"), node.code("accepted" if accepted else "refused")]
    type_ = Coding(DCM, "110100", "Application Activity")
    outcome = "0" if accepted else "8"
    return _event(node, at, actor, type_=type_, subtype=subtype, outcome=outcome, outcome_desc=reason, entity=[entity])


def national_change(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    serial: int,
    target: str,
    action: str,
    before: str | None,
    after: str | None,
) -> Event:
    """One entry of the national register added, changed or removed by the import of ``serial`` (both states)."""
    detail = _detail(serial=str(serial), change=action, before=before, after=after)
    entity = {"what": {"reference": target}, "detail": detail}
    entity |= {"type": Coding(ENTITY_TYPE, "2").json(), "role": Coding(OBJECT_ROLE, "4").json()}
    interaction: Literal["create", "update", "delete"] = (
        "create" if action == "added" else "delete" if action == "removed" else "update"
    )
    subtype = [Coding(RESTFUL, interaction), node.code("national-register-change")]
    code = {"create": "C", "update": "U", "delete": "D"}[interaction]
    return _event(
        node, at, actor, type_=Coding(AUDIT_EVENT_TYPE, "rest"), subtype=subtype, action=code, entity=[entity]
    )


def register_import(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    source: str,
    serial: int | None,
    accepted: bool,
    reason: str | None = None,
    changes: int = 0,
) -> Event:
    """An import of the national register: applied (with its serial and the number of changes) or refused (why)."""
    what = node.identifier("national-register", f"{serial}" if serial is not None else "unknown")
    detail = _detail(source=source[:300], changes=str(changes) if accepted else None)
    entity = {"what": what, "role": Coding(OBJECT_ROLE, "13").json(), "detail": detail}
    subtype = [node.code("register-import"), node.code("accepted" if accepted else "refused")]
    type_ = Coding(DCM, "110100", "Application Activity")
    return _event(
        node,
        at,
        actor,
        type_=type_,
        subtype=subtype,
        outcome="0" if accepted else "8",
        outcome_desc=reason,
        entity=[entity],
    )


def person_import(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    source: str,
    imported: Mapping[str, int],
    rejected: int,
    nhs_verified: bool,
    marked: int,
) -> Event:
    """A load of the node's own records (DICOM 110107 Import): what came in, and whether the operator stated that
    the file's NHS numbers were traced against the spine (``nhs-verified``), which lets matching grade them certain."""
    counts = {f"imported_{kind}": str(n) for kind, n in sorted(imported.items())}
    detail = _detail(**counts, rejected=str(rejected), nhs_verified=str(nhs_verified).lower(), marked=str(marked))
    entity = {"what": {"display": source[:200]}, "role": Coding(OBJECT_ROLE, "20").json(), "detail": detail}
    subtype = [node.code("person-import"), node.code("nhs-verified" if nhs_verified else "nhs-as-recorded")]
    return _event(node, at, actor, type_=Coding(DCM, "110107", "Import"), subtype=subtype, entity=[entity])


def console_sign_in(
    node: Node, at: datetime, person: Actor, *, kind: Literal["login", "logout"], outcome: str, reason: str
) -> Event:
    """A person signing in to the console or out of it (DICOM 110114 User Authentication; 110122 / 110123);
    ``outcome`` 0 success, 4 refused (a wrong detail, a locked account)."""
    subtype = [Coding(DCM, "110122", "Login") if kind == "login" else Coding(DCM, "110123", "Logout")]
    type_ = Coding(DCM, "110114", "User Authentication")
    return _event(node, at, person, type_=type_, subtype=subtype, outcome=outcome, outcome_desc=reason)


def console_action(
    node: Node, at: datetime, person: Actor, *, action: str, target: str, outcome: str = "0", detail: str = ""
) -> Event:
    """Something a signed-in person did in the console (a page of personal data read, a decision, an export)."""
    entity: Json = {"what": {"reference": target}} | ({"detail": _detail(text=detail)} if detail else {})
    subtype = [node.code("console"), node.code(action)]
    type_ = Coding(AUDIT_EVENT_TYPE, "rest")
    return _event(node, at, person, type_=type_, subtype=subtype, outcome=outcome, entity=[entity])


def _trace(node: Node, trace_id: str) -> Json:
    """The W3C trace id one single view carries to every node: the same identifier in every node's trail."""
    return {"what": node.identifier("trace-id", trace_id), "type": Coding(BALP_ENTITY, "XcorrelationId").json()}


def single_view(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    view_id: str,
    trace_id: str,
    raw_request: bytes,
    subject: Subject | None,
    asked: int,
    not_asked: int,
) -> Event:
    """A practitioner's single view as this node starts it (BALP PatientQuery): who, why, about whom, how many asked.

    The subject's details are recorded here once; the per-partner records name the view, not the person again."""
    view = {
        "what": node.identifier("single-view", view_id),
        "detail": _detail(asked=str(asked), not_asked=str(not_asked)),
    }
    entity = [view, _trace(node, trace_id), _query(raw_request)] + ([_patient(subject)] if subject else [])
    subtype = [Coding(RESTFUL, "operation"), node.code("single-view")]
    type_ = Coding(AUDIT_EVENT_TYPE, "rest")
    profile = "PatientQuery" if subject else "Query"
    return _event(node, at, actor, type_=type_, subtype=subtype, entity=entity, profile=profile)


def single_view_row(
    node: Node,
    at: datetime,
    actor: Actor,
    *,
    view_id: str,
    trace_id: str,
    partner_ods: str,
    endpoint: str | None,
    state: str,
    reason: str | None,
    partner_request: str | None,
    rule_ids: Sequence[str] = (),
) -> Event:
    """One partner's row of a single view as it stood when recorded: asked or not, and in which state (with the ids
    of this node's rules that forbade asking, as a decision records its rules)."""
    partner = {
        "what": {"identifier": {"system": ODS, "value": partner_ods}},
        "role": Coding(OBJECT_ROLE, "3", "Report").json(),
        "detail": _detail(state=state, endpoint=endpoint, reason=reason, partner_request=partner_request),
    }
    entity = [{"what": node.identifier("single-view", view_id)}, _trace(node, trace_id), partner]
    entity += _rules(node, rule_ids)
    subtype = [Coding(RESTFUL, "operation"), node.code("single-view-row"), node.code(state.lower())]
    failed = state in ("ERROR", "TIMED_OUT")
    return _event(
        node,
        at,
        actor,
        type_=Coding(AUDIT_EVENT_TYPE, "rest"),
        subtype=subtype,
        entity=entity,
        outcome="4" if failed else "0",
        outcome_desc=reason if failed else None,
    )
