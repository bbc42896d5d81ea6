"""The single view (issue 15; DESIGN §11): one question from a practitioner, every relevant partner asked at once.

    select partners ─► record the view (who, why, about whom) ─► ask all, bounded, by the live deadline
    ─► store the view and record each row ─► follow referred rows until the collection deadline, storing each change

Nothing is asked before the view's own record is durable (fail closed, DESIGN §7). The view is a Task in the store
(``view.py``), so any replica can answer a poll of it; its referred rows are followed from the store by whichever
worker claims them (``follow_up.py``), so a restart loses none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node, Subject
from mais_node.audit.port import AuditSink, Event
from mais_node.audit.trace import TRACE_ID
from mais_node.clock import Clock
from mais_node.errors import InvalidRequest
from mais_node.network.breakers import is_failure
from mais_node.network.fan_out import FanOut
from mais_node.network.follow_up import encode
from mais_node.network.peers import Deadline, Partner, Trace
from mais_node.network.ports import FollowUp, FollowUps
from mais_node.network.rows import Row, RowState
from mais_node.network.targets import RELEVANCE_MAP, Listing, screen, select
from mais_node.network.view import View, to_task
from mais_node.policy.asking import AskEveryone, Asking, AskRules
from mais_node.register.areas import LAD_SYSTEM, lad_code
from mais_node.terminology import CANONICAL_BASE

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
FOLLOW_FIRST = 2.0  # seconds before the first poll of a partner's referred Task; doubled each time up to FOLLOW_MOST
FOLLOW_MOST = 60.0
POLL_SECONDS = 10.0  # one poll of a partner's Task may take this long


class Terminology(Protocol):
    def translate(self, url: str, code: str) -> Sequence[Any]: ...


class ViewStore(Protocol):
    """Where views are kept: the node's resource store (``ResourceService``: an update creates one under its id)."""

    def update(self, resource_type: str, id: str, body: dict[str, Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Question:
    """What the practitioner asked: the subject, the purpose (an asserted-purpose code), the parameters each partner
    gets (the request without ``target`` and ``area``), the targets named, the area (a LAD code) and the raw body
    for the record."""

    subject: dict[str, Any]
    purpose: str
    items: tuple[str, ...]
    forwarded: list[dict[str, Any]]
    targets: tuple[str, ...]
    user: dict[str, Any] | None
    raw: bytes
    area: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    version: int
    body: bytes


class SingleViews:
    def __init__(
        self,
        *,
        fan_out: FanOut,
        listing: Listing,
        terminology: Callable[[], Terminology],
        store: ViewStore,
        follow_ups: FollowUps,
        audit: AuditSink,
        clock: Clock,
        node: Node,
        live_seconds: float,
        collection_seconds: float,
        follow_first: float = FOLLOW_FIRST,
        ask_rules: AskRules | None = None,
    ) -> None:
        self.fan_out = fan_out
        self.listing = listing
        self.terminology = terminology
        self.store = store
        self.follow_ups = follow_ups
        self.audit = audit
        self.clock = clock
        self.node = node
        self.live_seconds = live_seconds
        self.collection_seconds = collection_seconds
        self.follow_first = follow_first
        self.ask_rules: AskRules = ask_rules or AskEveryone()
        self._background: set[asyncio.Task[None]] = set()

    def start(self, question: Question, actor: Actor) -> tuple[View, list[Partner], Stored]:
        """Select the partners, record the view and its NOT_ASKED rows, store it: nothing is asked yet."""
        types = {t.code for t in self.terminology().translate(f"{CANONICAL_BASE}/{RELEVANCE_MAP}", question.purpose)}
        chosen = select(
            self.listing,
            purpose=question.purpose,
            relevant={question.purpose: frozenset(types)},
            own_ods=self.node.ods,
            targets=question.targets,
            area=question.area,
        )
        chosen = screen(chosen, self.ask_rules, self._asking(question, actor))
        now = self.clock.now()
        view = View(
            id=uuid.uuid4().hex,
            trace=Trace(incoming) if (incoming := TRACE_ID.get()) else Trace.new(),  # continue the caller's trace
            purpose=question.purpose,
            subject=question.subject,
            items=list(question.items),
            requester_ods=actor.org_ods or self.node.ods,
            user=question.user,
            started=now,
            collect_until=now + timedelta(seconds=self.collection_seconds),
            rows=list(chosen.not_asked),
        )
        view.complete = not chosen.partners
        written = self.store.update("Task", view.id, to_task(view, now))  # created under the view's own id
        events: list[Event] = [
            balp.single_view(
                self.node,
                now,
                actor,
                view_id=view.id,
                trace_id=view.trace.trace_id,
                raw_request=question.raw,
                subject=_subject(question.subject),
                asked=len(chosen.partners),
                not_asked=len(chosen.not_asked),
            ),
            *(self._row_event(view, row, actor) for row in chosen.not_asked),
        ]
        self.audit.append_many(events)  # fail closed: no partner is asked unless the view is on record
        return view, chosen.partners, _stored(written)

    async def ask(self, view: View, partners: list[Partner], question: Question, actor: Actor) -> Stored:
        """The live fan-out: every partner's row by the live deadline; the view stored and each row recorded."""
        parameters = {"resourceType": "Parameters", "parameter": [*question.forwarded, _request_id(view.id)]}
        deadline = Deadline.after(self.live_seconds)
        rows = await self.fan_out.ask_all(partners, parameters, deadline=deadline, trace=view.trace)
        view.rows = [*rows, *view.rows]
        view.complete = not view.pending() or self.clock.now() >= view.collect_until
        stored = self._save(view)
        self.audit.append_many([self._row_event(view, row, actor) for row in rows])
        if not view.complete:  # followed from the store by whichever worker claims it (network/follow_up.py)
            due = self.clock.now().timestamp() + self.follow_first
            state = encode(view, actor, self.follow_first)
            self.follow_ups.add_follow_up(FollowUp(view.id, state, due=due, until=view.collect_until.timestamp()))
        return stored

    async def round(self, view: View, actor: Actor, wait: float) -> float | None:
        """One poll of each referred row's partner Task, the view stored and each change recorded: the wait before
        the next round (back-off), or None once no row waits or the collection deadline has passed (the view is then
        completed; rows still referred stay PENDING_REVIEW with the partner's Task to follow there)."""
        if view.pending() and self.clock.now() < view.collect_until:
            changed = await self._poll(view)
            if changed:  # a store or trail that is down raises: the round is tried again from the state before
                self._save(view)
                self.audit.append_many([self._row_event(view, row, actor) for row in changed])
        if view.pending() and self.clock.now() < view.collect_until:
            return min(wait * 2, FOLLOW_MOST)
        view.complete = True
        self._save(view)
        return None

    async def _poll(self, view: View) -> list[Row]:
        pending = view.pending()
        polls = [self._poll_one(view, row) for row in pending]
        results = await asyncio.gather(*polls)
        changed = []
        for old, new in zip(pending, results, strict=True):
            if new is not None:
                view.rows[view.rows.index(old)] = new
                changed.append(new)
        return changed

    async def _poll_one(self, view: View, row: Row) -> Row | None:
        assert row.verdict.task is not None
        assert row.endpoint is not None
        partner = Partner(row.organisation, row.name, row.endpoint)
        left = (view.collect_until - self.clock.now()).total_seconds()
        deadline = Deadline.after(max(0.0, min(POLL_SECONDS, left)))
        started = self.fan_out.monotonic()
        exchange = await self.fan_out.peers.follow(partner, row.verdict.task, deadline=deadline, trace=view.trace)
        if is_failure(exchange):
            return None  # the partner is unwell, not decided: the row stays referred and is polled again
        new = self.fan_out.row(partner, exchange, started)
        if new.state is RowState.PENDING_REVIEW:
            return None
        return replace(new, verdict=replace(new.verdict, task=new.verdict.task or row.verdict.task))

    def spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """The node is stopping: live fan-outs end (their views stay in-progress, rows as last stored), peers close."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.fan_out.peers.aclose()

    async def settle(self) -> None:
        """Wait for every background fan-out (tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _asking(self, question: Question, actor: Actor) -> Asking:
        own = next((o for o in self.listing.organisations() if o.ods == self.node.ods), None)
        return Asking(
            node_ods=self.node.ods,
            node_type=own.type if own else "",
            client=actor.client_id or "",
            purpose=question.purpose,
            items=question.items,
            area=question.area,
            named=bool(question.targets),
        )

    def _save(self, view: View) -> Stored:
        return _stored(self.store.update("Task", view.id, to_task(view, self.clock.now())))

    def _row_event(self, view: View, row: Row, actor: Actor) -> Event:
        return balp.single_view_row(
            self.node,
            self.clock.now(),
            actor,
            view_id=view.id,
            trace_id=view.trace.trace_id,
            partner_ods=row.organisation,
            endpoint=row.endpoint,
            state=row.state.value,
            reason=row.verdict.reason,
            partner_request=row.verdict.task or row.verdict.request_id,
            rule_ids=row.verdict.rules,
        )


FORWARDED = {"resource", "reason", "requestedItem", "sharingPolicy", "authorisedUser", "consent"}


def split(document: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
    """The request as a ``$person-info-query`` Parameters (what every partner gets), the targets named and the area
    (one ONS LAD code: ``valueCode``, ``valueString`` or a ``valueCoding`` in the ONS system)."""
    kept, targets, areas = [], [], []
    for index, param in enumerate(document.get("parameter") or []):
        name = param.get("name") if isinstance(param, dict) else None
        if name == "target":
            value = param.get("valueIdentifier", {}).get("value") if "valueIdentifier" in param else None
            value = value or param.get("valueString") or param.get("valueCode")
            if not isinstance(value, str) or not value.strip() or len(value) > 16:
                raise InvalidRequest(
                    "'target' must name an organisation by its ODS code", expression=(f"Parameters.parameter[{index}]",)
                )
            targets.append(value.strip().upper())
        elif name == "area":
            areas.append(_area(param, f"Parameters.parameter[{index}]"))
        elif name == "requestId":
            continue  # each partner gets the view's id as the request id
        else:
            kept.append(param)
    if len(areas) > 1:
        raise InvalidRequest("give one 'area': a single view asks about one area", expression=("Parameters.parameter",))
    return {**document, "parameter": kept}, tuple(targets), areas[0] if areas else None


def _area(param: dict[str, Any], where: str) -> str:
    coding = param.get("valueCoding")
    value = param.get("valueCode") or param.get("valueString")
    if isinstance(coding, dict) and coding.get("system") in (None, LAD_SYSTEM):
        value = coding.get("code")
    if not isinstance(value, str):
        raise InvalidRequest(
            f"'area' must be an ONS local authority district code (valueCode, or a valueCoding in {LAD_SYSTEM})",
            expression=(where,),
        )
    return lad_code(value, expression=where)


def question_from(
    document: dict[str, Any],
    targets: tuple[str, ...],
    *,
    purpose: str,
    items: tuple[str, ...],
    raw: bytes,
    area: str | None = None,
) -> Question:
    parameters = [p for p in document.get("parameter") or [] if isinstance(p, dict)]
    subject = next(p["resource"] for p in parameters if p.get("name") == "resource")
    user = next((p for p in parameters if p.get("name") == "authorisedUser"), None)
    user_parts: dict[str, Any] = {
        str(part.get("name")): part.get("valueString") or (part.get("valueIdentifier") or {}).get("value")
        for part in (user or {}).get("part") or []
        if isinstance(part, dict)
    }
    forwarded = [p for p in parameters if p.get("name") in FORWARDED]
    return Question(subject, purpose, items, forwarded, targets, user_parts or None, raw, area)


def _request_id(view_id: str) -> dict[str, Any]:
    return {"name": "requestId", "valueString": f"single-view-{view_id}"}


def _stored(written: Any) -> Stored:
    return Stored(written.stored.id, written.stored.version, written.stored.json)


def _subject(patient: dict[str, Any]) -> Subject | None:
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER and identifier.get("value"):
            return Subject(nhs_number=str(identifier["value"]))
    names = patient.get("name") or []
    if names and isinstance(names[0], dict):
        given = names[0].get("given") or []
        parts = [*(str(g) for g in given[:1] if isinstance(given, list)), str(names[0].get("family") or "")]
        born = patient.get("birthDate")
        asked = " ".join(p for p in parts if p)[:200] + (f", born {str(born)[:10]}" if born else "")
        return Subject(display=f"{asked} (no NHS number given)")
    return None
