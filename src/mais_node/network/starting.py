"""Starting a single view from a practitioner's ``$single-view`` Parameters (issue 15 item 1): the one way the REST
operation and the console's form both start one, so the two cannot disagree on what is read, refused or recorded.

    read the Parameters (every refusal audited by the enquiry reader) ─► the question and who asks
    ─► ``SingleViews.start`` (partners chosen, the view on record, none asked) ─► ``Begun.ask``: the live fan-out
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Protocol

from mais_node.audit.actors import Actor, Coding
from mais_node.enquiry.gates import Gates
from mais_node.enquiry.model import Asker, Enquiry
from mais_node.enquiry.parse import from_parameters
from mais_node.fhir import wire
from mais_node.network.peers import Partner
from mais_node.network.single_view import Question, SingleViews, Stored, question_from, split
from mais_node.network.view import View
from mais_node.terminology import PURPOSE_SYSTEM


class EnquiryReader(Protocol):
    """The enquiry service's reader: what refuses a question, and audits each refusal."""

    gates: Gates

    def read(self, raw: bytes, parse: Callable[[], Enquiry], asker: Asker) -> Enquiry: ...


@dataclass(frozen=True, slots=True)
class Begun:
    """A view on record with its partners chosen, none asked yet; ``ask`` asks them all (the live fan-out)."""

    views: SingleViews
    view: View
    partners: list[Partner]
    question: Question
    actor: Actor
    stored: Stored

    def ask(self) -> Coroutine[Any, Any, Stored]:
        return self.views.ask(self.view, self.partners, self.question, self.actor)


def begin(views: Callable[[], SingleViews], enquiries: EnquiryReader, raw: bytes, asker: Asker, actor: Actor) -> Begun:
    """Read ``raw`` and start its view. ``actor`` names who asks: the user the request asserts fills in what it
    leaves out, the purpose is the one read. ``views`` is called only once the question has been read, so a
    malformed question is refused as such even on a node that cannot ask anyone."""
    gates = enquiries.gates
    read: dict[str, Any] = {}

    def parse() -> Enquiry:
        """Everything that can refuse the question, inside the enquiry reader: each refusal is audited there."""
        read["forwarded"], read["targets"], read["area"] = split(wire.loads(raw))
        enquiry = from_parameters(read["forwarded"], raw, subject_issues=gates.subject_issues)
        read["purpose"] = gates.purpose(enquiry)
        return enquiry

    enquiry = enquiries.read(raw, parse, asker)
    purpose: str = read["purpose"]
    question = question_from(
        read["forwarded"], read["targets"], purpose=purpose, items=enquiry.items, raw=raw, area=read["area"]
    )
    actor = replace(
        actor,
        user_id=actor.user_id or enquiry.user.identifier,
        user_name=actor.user_name or enquiry.user.name,
        purpose=(Coding(PURPOSE_SYSTEM, purpose),),
    )
    chosen = views()
    view, partners, stored = chosen.start(question, actor)
    return Begun(chosen, view, partners, question, actor, stored)
