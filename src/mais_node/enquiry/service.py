"""The enquiry, as it goes through the node (DESIGN §3):

    who is asking ─► is it well formed ─► decision rules ─► match the person ─► release ─► answer
    └────────────── every step writes to the audit trail; no answer leaves without its record ──────┘

``EnquiryService.handle`` reads as that flow. Hard gates raise before the rules are asked; the rules decide each
requested item; the match grade goes back to the rules for the release stage; only permitted items are released.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Coding, Node, Subject
from mais_node.audit.group import GroupCommit
from mais_node.audit.port import AuditSink
from mais_node.clock import Clock
from mais_node.enquiry.gates import Gates
from mais_node.enquiry.model import Answer, Asker, Enquiry, Match
from mais_node.enquiry.ports import Involvements, PersonMatcher, Terminologies
from mais_node.errors import Forbidden, MaisError
from mais_node.policy import (
    CONSENT_NOT_STATED,
    Decision,
    DecisionRequest,
    Item,
    ItemDecision,
    MatchGrade,
    Outcome,
    PolicyEngine,
)
from mais_node.terminology import PURPOSE_OF_USE_MAP, PURPOSE_SYSTEM

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
_BATCH: contextvars.ContextVar[list[dict[str, object]] | None] = contextvars.ContextVar("audit_batch", default=None)
NOT_PERMITTED = "The enquiry is not permitted"

_AUDIT_OUTCOME = {Outcome.PERMIT: "permit", Outcome.DENY: "deny", Outcome.REVIEW: "review"}

# Stores what carries the answer (the enquiry Task): given the decision, and the answer unless refused. It runs before
# the enquiry's records are written, so a failure to store it is recorded as the enquiry's outcome (issue 13 item 9).
Keep = Callable[[Decision, "Answer | None"], None]


class NotPermitted(Forbidden):
    """The rules denied every item: 403 for the operation, a rejected Task for the Task form; nothing revealed."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(NOT_PERMITTED)
        self.decision = decision


@dataclass(frozen=True, slots=True)
class Decided:
    """The rules' first answer, before matching: what the what-if evaluation returns."""

    request: DecisionRequest
    decision: Decision


class EnquiryService:
    def __init__(
        self,
        *,
        gates: Gates,
        rules: Callable[[], PolicyEngine],
        terminology: Terminologies,
        matcher: PersonMatcher,
        involvements: Involvements,
        audit: AuditSink,
        node: Node,
        clock: Clock,
        grouped: GroupCommit | None = None,
    ) -> None:
        self.gates = gates
        self.rules = rules
        self.terminology = terminology
        self.matcher = matcher
        self.involvements = involvements
        self.audit = audit
        self.grouped = grouped
        self.node = node
        self.clock = clock

    def read(self, raw: bytes, parse: Callable[[], Enquiry], asker: Asker) -> Enquiry:
        """Read an enquiry from its body; one that cannot be read is refused, and that refusal is audited."""
        try:
            return parse()
        except MaisError as exc:
            now, actor = self.clock.now(), Actor(org_ods=asker.ods, client_id=asker.client_id, address=asker.address)
            self._record(
                balp.enquiry_received(self.node, now, actor, enquiry_id="unread", raw_request=raw, subject=None)
            )
            self._record(balp.enquiry_refused(self.node, now, actor, enquiry_id="unread", reason=exc.diagnostics[:500]))
            raise

    def handle(self, enquiry: Enquiry, asker: Asker, *, keep: Keep | None = None) -> Answer:
        """Answer one enquiry: every step audited; DENY raises Forbidden revealing nothing about the person."""
        with self._batch(), self.terminology.pinned(), balp.shared_parts():
            return self._handle(enquiry, asker, keep)

    async def answer(self, enquiry: Enquiry, asker: Asker, *, keep: Keep | None = None) -> Answer:
        """``handle`` for the event loop: the same steps, then the records awaited in a group commit.

        The steps run inline (they are CPU work); the one durable write is awaited, so the event loop serves other
        enquiries during the commit and their records share it. Nothing leaves before the records are durable: the
        answer, or the refusal, is returned or raised only once the write is done, and AuditUnavailable replaces
        it if the write fails.
        """
        if self.grouped is None:
            return self.handle(enquiry, asker, keep=keep)
        events: list[dict[str, object]] = []
        token = _BATCH.set(events)
        try:
            with self.terminology.pinned(), balp.shared_parts():
                return self._handle(enquiry, asker, keep)
        finally:
            _BATCH.reset(token)
            if events:
                await self.grouped.write(events)

    def _handle(self, enquiry: Enquiry, asker: Asker, keep: Keep | None) -> Answer:
        now = self.clock.now()
        actor = self._actor(enquiry, asker)
        subject = _subject(enquiry)
        self._record(
            balp.enquiry_received(
                self.node, now, actor, enquiry_id=enquiry.request_id, raw_request=enquiry.raw, subject=subject
            )
        )
        decided = self._decide_first(enquiry, asker, actor, now)
        if decided.decision.outcome is Outcome.DENY:
            self._record_decision(decided.decision, enquiry, actor, now, subject)
            self._keep(keep, decided.decision, None, enquiry, actor, now)
            raise NotPermitted(decided.decision)
        match = self.matcher.match(enquiry.subject)
        grade = MatchGrade.PROBABLE if match.ambiguous and match.grade is MatchGrade.CERTAIN else match.grade
        final = self.rules().decide(decided.request.at_release(grade))
        self._record_decision(final, enquiry, actor, now, _about(subject, match))
        if final.outcome is Outcome.DENY:
            self._keep(keep, final, None, enquiry, actor, now)
            raise NotPermitted(final)
        answer = Answer(enquiry.request_id, final, grade)
        if final.outcome is Outcome.PERMIT:
            self._release(answer, match)
        self._keep(keep, final, answer, enquiry, actor, now)
        if final.outcome is Outcome.PERMIT:
            self._record_disclosure(answer, match, enquiry, actor, now, self._policy_uris(decided.request))
        return answer

    def _keep(
        self,
        keep: Keep | None,
        decision: Decision,
        answer: Answer | None,
        enquiry: Enquiry,
        actor: Actor,
        now: datetime,
        *,
        what: str = "The enquiry",
    ) -> None:
        """Store what carries the answer; if it cannot be stored, that is the outcome the trail records (then 503)."""
        if keep is None:
            return
        try:
            keep(decision, answer)
        except Exception as exc:
            why = exc.diagnostics if isinstance(exc, MaisError) else "an unexpected error"
            reason = f"{what} was decided ({decision.outcome.value}) but its answer could not be stored ({why[:200]})"
            self._record(
                balp.enquiry_failed(
                    self.node, now, actor, enquiry_id=enquiry.request_id, reason=f"{reason}: nothing was sent"
                )
            )
            raise

    def review(
        self,
        enquiry: Enquiry,
        pending: Decision,
        *,
        permit: bool,
        reason: str,
        reviewer: Asker,
        requester: Asker,
        keep: Keep | None = None,
    ) -> Answer:
        """An IG officer's decision on the referred items; on permit, the answer is released as the rules allow.

        The decision's records are written together, after ``keep`` stored the answered Task (or recorded why not)."""
        with self._batch():
            return self._review(enquiry, pending, permit, reason, reviewer, requester, keep)

    def _review(
        self,
        enquiry: Enquiry,
        pending: Decision,
        permit: bool,
        reason: str,
        reviewer: Asker,
        requester: Asker,
        keep: Keep | None,
    ) -> Answer:
        now = self.clock.now()
        reviewer_actor = Actor(org_ods=reviewer.ods, client_id=reviewer.client_id)
        # Matched first, so that the review's records name the person the referral was about (by the NHS number of
        # the node's own record when the enquiry gave none), whatever the reviewer decides.
        match = self.matcher.match(enquiry.subject)
        subject = _about(_subject(enquiry), match)
        items = []
        for decided in pending:
            if decided.outcome is Outcome.REVIEW:
                outcome = Outcome.PERMIT if permit else Outcome.DENY
                self._record(
                    balp.review_decision(
                        self.node,
                        now,
                        reviewer_actor,
                        enquiry_id=enquiry.request_id,
                        item=str(decided.item),
                        outcome=_AUDIT_OUTCOME[outcome],  # type: ignore[arg-type]
                        reason=reason,
                        subject=subject,
                    )
                )
                decided = ItemDecision(decided.item, outcome, (f"review:{reviewer.client_id}",), (reason,))
            items.append(decided)
        decision = Decision(tuple(items), pending.rule_set_hash)
        if decision.outcome is not Outcome.PERMIT:
            refused = Answer(enquiry.request_id, decision, None)
            self._keep(keep, decision, refused, enquiry, reviewer_actor, now, what="The review")
            return refused
        answer = Answer(enquiry.request_id, decision, match.grade)
        # A reviewer's permit stands in for the rules' referral of a probable match: the person is the best candidate.
        reviewed = replace(match, grade=MatchGrade.CERTAIN) if match.grade is MatchGrade.PROBABLE else match
        self._release(answer, reviewed)
        self._keep(keep, decision, answer, enquiry, reviewer_actor, now, what="The review")
        self._record_disclosure(answer, reviewed, enquiry, self._actor(enquiry, requester), now, ())
        return answer

    def _record_disclosure(
        self, answer: Answer, match: Match, enquiry: Enquiry, actor: Actor, now: datetime, policies: tuple[str, ...]
    ) -> None:
        if not answer.released or match.person_id is None:
            return
        subject = _subject(enquiry)
        # The person disclosed is the node's own record: named by its NHS number, else by the one the enquiry gave.
        nhs_number = match.nhs_number or (subject.nhs_number if subject else None)
        self._record(
            balp.disclosure(
                self.node,
                now,
                actor,
                enquiry_id=enquiry.request_id,
                subject=Subject(reference=f"Patient/{match.person_id}", nhs_number=nhs_number),
                items=[str(i) for i in answer.released],
                policies=policies,
            )
        )

    def what_if(self, enquiry: Enquiry, asker: Asker) -> Decided:
        """Decide without matching or answering (the IG officer's question); audited as a what-if."""
        with self._batch():
            now = self.clock.now()
            actor = self._actor(enquiry, asker)
            decided = self._decide_first(enquiry, asker, actor, now)
            outcomes = {str(d.item): _AUDIT_OUTCOME[d.outcome] for d in decided.decision}
            event = balp.what_if(
                self.node,
                now,
                actor,
                raw_request=enquiry.raw,
                decisions=outcomes,  # type: ignore[arg-type]
                subject=_subject(enquiry),
            )
            self._record(event)
            return decided

    # -- the steps ----------------------------------------------------------------------------------------
    def _decide_first(self, enquiry: Enquiry, asker: Asker, actor: Actor, now: datetime) -> Decided:
        """The hard gates, then the rules before matching. A refusal by a gate is audited and raised."""
        try:
            request = self.gates.check(enquiry, asker, now)
        except MaisError as exc:
            self._record(
                balp.enquiry_refused(self.node, now, actor, enquiry_id=enquiry.request_id, reason=exc.diagnostics)
            )
            raise
        return Decided(request, self.rules().decide(request))

    def _release(self, answer: Answer, match: Match) -> None:
        """Only what was asked and permitted; "not known" unless the match is certain.

        Whether the person is known is itself an item: without is-known permitted it is not told (another item's
        answer, such as "no plan", must read the same for a person the node knows and one it does not).
        """
        known = match.grade is MatchGrade.CERTAIN and match.person_id is not None
        decision = answer.decision
        asked = {d.item for d in decision}
        permitted = {d.item for d in decision if d.outcome is Outcome.PERMIT}
        if Item.IS_KNOWN in permitted:
            answer.known = known
            if known:
                answer.released.append(Item.IS_KNOWN)
        if Item.IS_OPEN in permitted or Item.CONTACT in permitted:
            is_open, contact = (
                self.involvements.open_episode_contact(match.person_id) if known and match.person_id else (False, None)
            )
            if Item.IS_OPEN in permitted:
                answer.open = is_open
                if is_open:
                    answer.released.append(Item.IS_OPEN)
            if Item.CONTACT in permitted and contact is not None:
                answer.contact = contact
                answer.released.append(Item.CONTACT)
        elif Item.IS_OPEN in asked:
            answer.open = None
        if Item.IS_SUBJECT_OF_PLAN in permitted:
            answer.subject_of_plan = bool(
                known and match.person_id and self.involvements.subject_of_plan(match.person_id)
            )
            if answer.subject_of_plan:
                answer.released.append(Item.IS_SUBJECT_OF_PLAN)

    # -- audit ---------------------------------------------------------------------------------------------
    def _record(self, event: dict[str, object]) -> None:
        """Into the open batch, else straight to the trail (durably, or AuditUnavailable: the node answers 503)."""
        batch = _BATCH.get()
        if batch is None:
            self.audit.append(event)
        else:
            batch.append(event)

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """One enquiry's records are appended together, in one durable write, before any answer leaves.

        They are written on the way out whether the enquiry was answered or refused; if they cannot be written,
        AuditUnavailable replaces the answer (fail closed). One fsync per enquiry instead of one per record.
        """
        if _BATCH.get() is not None:
            yield
            return
        events: list[dict[str, object]] = []
        token = _BATCH.set(events)
        try:
            yield
        finally:
            _BATCH.reset(token)
            if events:
                self.audit.append_many(events)

    def _record_decision(
        self, decision: Decision, enquiry: Enquiry, actor: Actor, now: datetime, subject: Subject | None
    ) -> None:
        for decided in decision:
            self._record(
                balp.decision(
                    self.node,
                    now,
                    actor,
                    enquiry_id=enquiry.request_id,
                    item=str(decided.item),
                    outcome=_AUDIT_OUTCOME[decided.outcome],  # type: ignore[arg-type]
                    rule_ids=decided.rule_ids,
                    reasons=decided.reasons,
                    policies=tuple(f"urn:mais:sharing-policy:{p}" for p in enquiry.sharing_policies),
                    subject=subject,
                    consent=enquiry.consent or CONSENT_NOT_STATED,
                )
            )

    def _policy_uris(self, request: DecisionRequest) -> tuple[str, ...]:
        return tuple(f"urn:mais:sharing-policy:{p.identifier}|{p.version}" for p in request.sharing_policies)

    def _actor(self, enquiry: Enquiry, asker: Asker) -> Actor:
        purposes: list[Coding] = []
        purpose = enquiry.purpose
        terminology = self.terminology()
        if purpose is None and enquiry.reason_uri:
            ref = terminology.purpose_for_legislation(enquiry.reason_uri)
            purpose = ref.code if ref else None
        if purpose:
            purposes.append(Coding(PURPOSE_SYSTEM, purpose))
            with contextlib.suppress(MaisError):  # a purpose with no HL7 equivalent keeps only its own code
                purposes.extend(Coding(t.system, t.code) for t in terminology.translate(PURPOSE_OF_USE_MAP, purpose))
        return Actor(
            org_ods=asker.ods,
            client_id=asker.client_id,
            address=asker.address,
            user_id=enquiry.user.identifier,
            user_name=enquiry.user.name,
            user_role=Coding("urn:mais:user-role", enquiry.user.role) if enquiry.user.role else None,
            purpose=tuple(purposes),
        )


def _subject(enquiry: Enquiry) -> Subject | None:
    """The subject as the enquiry named them: by NHS number, else by name and date of birth (for the auditor)."""
    for identifier in enquiry.subject.get("identifier") or []:
        if (
            isinstance(identifier, dict)
            and identifier.get("system") == NHS_NUMBER
            and isinstance(identifier.get("value"), str)
        ):
            return Subject(nhs_number=identifier["value"])
    names = enquiry.subject.get("name") or []
    if names and isinstance(names[0], dict):
        given = names[0].get("given") or []
        parts = [*(str(g) for g in given[:1] if isinstance(given, list)), str(names[0].get("family") or "")]
        born = enquiry.subject.get("birthDate")
        asked = " ".join(p for p in parts if p)[:200] + (f", born {str(born)[:10]}" if born else "")
        return Subject(display=f"{asked} (no NHS number given)")
    return None


def _about(subject: Subject | None, match: Match) -> Subject | None:
    """The subject of the records written once the person is matched: when the enquiry gave no NHS number, the one
    of the node's certain or probable candidate, so that an auditor's search by NHS number finds them."""
    if subject is not None and subject.nhs_number:
        return subject
    if match.ambiguous or match.nhs_number is None or match.grade not in (MatchGrade.CERTAIN, MatchGrade.PROBABLE):
        return subject
    asked = subject.display if subject is not None and subject.display else "subject"
    display = f"{asked}; NHS number of the node's {match.grade.value} candidate"
    return Subject(nhs_number=match.nhs_number, display=display)
