"""The vocabularies pages (issue 16 §5): the CodeSystems and their versions, one CodeSystem's concepts, the
difference between two versions, and a terminology manager's edits (add a draft, activate, retire).

An edit is written as a ``PUT CodeSystem/{id}`` with ``If-Match`` is: the REST API's write guard (role scope and
``terminology.editing`` rules), the resource service's precondition on the version the form was read at, and the
REST API's vocabulary-change audit record; the console adds its own record with the person as the agent. A stale
form is refused and shown again with the person's entry, on the version now in force.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from mais_node.api.governance import audit_write, guard_write
from mais_node.audit import balp
from mais_node.auth.bearer import Caller
from mais_node.auth.scopes import TERMINOLOGY_MANAGER
from mais_node.console import vocabularies_view as view
from mais_node.console.web import Console, ConsoleDep, FormDep, PageRefused, Visit, needs, render
from mais_node.errors import (
    InvalidRequest,
    MaisError,
    NotConformant,
    PreconditionFailed,
    Protected,
    VersionConflict,
)
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import Stored

router = APIRouter(prefix="/console/vocabularies", include_in_schema=False)
ManagerDep = Annotated[Visit, needs(TERMINOLOGY_MANAGER)]
RTYPE = "CodeSystem"
LISTED = 200
VERSIONS = 100
Edit = Callable[[Mapping[str, Any], Mapping[str, str], date], dict[str, Any]]
# Each form: its edit, the field its errors link to first, and what the page says once it is saved.
FORMS: dict[str, tuple[Edit, str, str]] = {
    "add": (view.add_concept, "code", "added as a draft"),
    "activate": (view.activate, "activate", "activated"),
    "retire": (view.retire, "retire-code", "retired"),
}


def _updated(stored: Stored) -> str:
    return fhir_instant(stored.last_updated)[:16].replace("T", " ") + " UTC"


def _read(console: Console, cs_id: str, visit: Visit | None = None) -> Stored:
    try:
        return console.services.resources.read(RTYPE, cs_id)
    except MaisError as exc:
        raise PageRefused(404, "No such vocabulary", "This CodeSystem is not held by the node.", visit) from exc


def _versions(console: Console, cs_id: str) -> tuple[view.VersionRow, ...]:
    page = console.services.resources.history(RTYPE, cs_id, VERSIONS, None)
    return tuple(view.version_row(s.body, s.version, _updated(s)) for s in page.items if not s.deleted)


@router.get("")
async def systems(request: Request, console: ConsoleDep, visit: ManagerDep) -> Response:
    result = console.services.resources.search(RTYPE, [("_count", str(LISTED))])
    rows = sorted(
        (view.system_row(s.body, s.version, _updated(s)) for s in result.page.items), key=lambda r: r.title.lower()
    )
    return render(request, "vocabularies.html", visit=visit, systems=rows, more=result.page.next_after is not None)


def _page(
    request: Request,
    console: Console,
    visit: Visit,
    stored: Stored,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    done: str = "",
) -> Response:
    body = stored.body
    return render(
        request,
        "vocabulary.html",
        status=status,
        visit=visit,
        system=view.system_row(body, stored.version, _updated(stored)),
        concepts=view.concept_rows(body),
        versions=_versions(console, stored.id),
        legal=view.declares(body, view.LEGISLATION),
        errors=errors or {},
        form=dict(form or {}),
        done=done,
    )


@router.get("/{cs_id}")
async def system(
    cs_id: str, request: Request, console: ConsoleDep, visit: ManagerDep, changed: str = "", how: str = ""
) -> Response:
    stored = _read(console, cs_id, visit)
    saved = {said for _, _, said in FORMS.values()}
    done = f"{changed[:64]} {how}" if changed and how in saved else ""
    return _page(request, console, visit, stored, done=done)


def _audit(console: Console, visit: Visit, target: str, detail: str, outcome: str = "0") -> None:
    actor = console.person_actor(visit.person, address=visit.address)
    now = console.services.clock.now()
    console.record(
        balp.console_action(
            console.services.node, now, actor, action="vocabulary-edit", target=target, outcome=outcome, detail=detail
        )
    )


def _caller(console: Console, visit: Visit) -> Caller:
    """The person as the REST API's writer: the node's own organisation, a client id that names them."""
    session, person = visit.session, visit.person
    return Caller(
        f"console:{person.name}",
        console.services.settings.node_org,
        person.scopes,
        session.key[:16],
        int(session.expires),
    )


@router.post("/{cs_id}/{action}")
async def edit(
    cs_id: str, action: str, request: Request, console: ConsoleDep, visit: ManagerDep, form: FormDep
) -> Response:
    if action not in FORMS:
        raise PageRefused(404, "Page not found", "There is no such vocabulary action.", visit)
    change, first_field, said = FORMS[action]
    services = console.services
    current = _read(console, cs_id, visit)
    read_at = form.get("at", "")
    if not read_at.isdigit():
        raise PageRefused(
            400, "This form cannot be accepted", "The form did not say which version it was read at.", visit
        )
    try:
        body = change(current.body, form, services.clock.now().date())
    except view.FormErrors as exc:
        return _page(request, console, visit, current, status=400, errors=exc.errors, form=form)
    caller = _caller(console, visit)
    try:
        before = guard_write(services, caller, RTYPE, cs_id, body)
        stored = services.resources.update(RTYPE, cs_id, body, if_match=int(read_at)).stored
    except (InvalidRequest, NotConformant, Protected) as exc:  # the REST API's rules refused it: 400, 422, 409
        return _page(request, console, visit, current, status=400, errors={first_field: exc.diagnostics}, form=form)
    except (PreconditionFailed, VersionConflict):
        now = _read(console, cs_id, visit)
        _audit(console, visit, f"{RTYPE}/{cs_id}", f"{action} refused: read at version {read_at}", outcome="4")
        stale = (
            f"Someone changed this vocabulary after you opened it (you read version {read_at}; it is now version "
            f"{now.version}). Nothing was saved. Your entry is shown again below: check the concepts and send it again."
        )
        return _page(request, console, visit, now, status=409, errors={first_field: stale}, form=form)
    audit_write(services, caller, RTYPE, cs_id, before, stored.version)
    code = form.get("retire-code" if action == "retire" else "code", "").strip()
    _audit(console, visit, f"{RTYPE}/{cs_id}/_history/{stored.version}", f"{code} {said} in version {body['version']}")
    return RedirectResponse(f"/console/vocabularies/{cs_id}?{urlencode({'changed': code, 'how': said})}", 303)


@router.get("/{cs_id}/diff")
async def difference(
    cs_id: str, request: Request, console: ConsoleDep, visit: ManagerDep, before: str = "", after: str = ""
) -> Response:
    current = _read(console, cs_id, visit)
    versions = _versions(console, cs_id)
    held = {v.stored_version for v in versions}
    newer = int(after) if after.isdigit() and int(after) in held else current.version
    older = (
        int(before) if before.isdigit() and int(before) in held else max((v for v in held if v < newer), default=newer)
    )
    old = console.services.resources.vread(RTYPE, cs_id, str(older))
    new = console.services.resources.vread(RTYPE, cs_id, str(newer))
    return render(
        request,
        "vocabulary_diff.html",
        visit=visit,
        system=view.system_row(current.body, current.version, _updated(current)),
        versions=versions,
        older=view.version_row(old.body, old.version, _updated(old)),
        newer=view.version_row(new.body, new.version, _updated(new)),
        changes=view.diff(old.body, new.body),
    )
