"""The what-if form (issue 16 §3): an IG officer asks how the rules in force would decide an enquiry from an
organisation, for a purpose, for some items, under a sharing policy, without matching anyone or answering.

It builds the ``$person-info-query`` Parameters the REST ``Patient/$what-if`` takes and calls the same service
(``EnquiryService.what_if``), so the console and the API cannot disagree; the evaluation is audited as a what-if,
and the console adds a record with the person as the agent.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mais_node.audit import balp
from mais_node.audit.actors import ODS
from mais_node.auth.scopes import REVIEWER
from mais_node.client import Subject, enquiry_parameters
from mais_node.console.web import Console, ConsoleDep, FormDep, Visit, needs, render
from mais_node.enquiry.model import Asker
from mais_node.enquiry.parse import from_parameters
from mais_node.errors import MaisError, NotFound
from mais_node.policy import Item
from mais_node.terminology import PURPOSE_VALUESET

router = APIRouter(prefix="/console/what-if", include_in_schema=False)
ReviewerDep = Annotated[Visit, needs(REVIEWER)]
ITEMS = tuple(i.value for i in Item)


def purposes(console: Console) -> list[tuple[str, str]]:
    """(code, display) of the asserted purposes in force: the stored vocabulary, with codes a terminology manager
    activated in the console, not the file it was first loaded from."""
    with console.services.vocabularies.pinned() as terminology:
        try:
            expanded = terminology.expand(PURPOSE_VALUESET, active_only=True)
        except NotFound:
            return []
    contains = expanded.get("expansion", {}).get("contains", [])
    return [(str(c["code"]), str(c.get("display") or c["code"])) for c in contains]


def _view(request: Request, console: Console, visit: Visit, **view: Any) -> Response:
    defaults: dict[str, Any] = {"form": {}, "items": [], "errors": {}, "decisions": [], "outcome": "", "ruleset": ""}
    return render(
        request, "what_if.html", visit=visit, purposes=purposes(console), all_items=ITEMS, **(defaults | view)
    )


@router.get("")
async def form(request: Request, console: ConsoleDep, visit: ReviewerDep) -> Response:
    return _view(request, console, visit, items=["is-known"])


@router.post("")
async def evaluate(request: Request, console: ConsoleDep, visit: ReviewerDep, form: FormDep) -> Response:
    items = [i for i in (await request.form()).getlist("items") if isinstance(i, str) and i in ITEMS]
    errors = {}
    org = form.get("org", "").strip().upper()
    if not org:
        errors["org"] = "Enter the ODS code of the requesting organisation"
    if not form.get("purpose"):
        errors["purpose"] = "Select the purpose"
    if not items:
        errors["items"] = "Select at least one item"
    if errors:
        return _view(request, console, visit, status=400, form=form, items=items, errors=errors)
    subject = Subject(family="What-if", given="Person", birth_date="2010-01-01")
    policies = [p for p in [form.get("policy", "").strip()] if p]
    parameters = enquiry_parameters(subject, form["purpose"], items, policies)
    parameters["parameter"].append({"name": "requester", "valueIdentifier": {"system": ODS, "value": org}})
    raw = orjson.dumps(parameters)
    services, person = console.services, visit.person
    asker = Asker(org, f"console:{person.name}")
    try:
        enquiry = services.enquiries.read(raw, lambda: from_parameters(parameters, raw), asker)
        decided = services.enquiries.what_if(enquiry, asker)
    except MaisError as exc:
        errors["org"] = exc.diagnostics
        return _view(request, console, visit, status=400, form=form, items=items, errors=errors)
    actor = console.person_actor(person, address=visit.address)
    console.record(
        balp.console_action(
            services.node,
            services.clock.now(),
            actor,
            action="what-if",
            target=f"Organization/{org}",
            detail=f"{form['purpose']}: {decided.decision.outcome.value}",
        )
    )
    decisions = [
        (str(d.item), d.outcome.value, ", ".join(d.rule_ids) or "(no rule: the default)", "; ".join(d.reasons))
        for d in decided.decision
    ]
    return _view(
        request,
        console,
        visit,
        form=form,
        items=items,
        decisions=decisions,
        outcome=decided.decision.outcome.value,
        ruleset=decided.decision.rule_set_hash,
    )
