"""View models of the single-view pages: the form checked into a subject, and a view (a ``mais-single-view`` Task)
read into plain strings for the templates, one row per partner asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from mais_node.console.review_view import Person, person
from mais_node.errors import MaisError
from mais_node.matching.nhs_number import nhs_number_valid
from mais_node.network.view import PURPOSE_SYSTEM, read_rows
from mais_node.register.areas import lad_code

# A GOV.UK tag colour per row state: what needs the practitioner's attention stands out, silence never looks green.
TAGS = {
    "KNOWN": "green",
    "NOT_KNOWN": "blue",
    "DECLINED": "orange",
    "PENDING_REVIEW": "yellow",
    "ERROR": "red",
    "TIMED_OUT": "pink",
    "NOT_ASKED": "grey",
}
MAX_TARGETS = 50
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Asked:
    """A valid form: whom about, why, what, and whom to ask (none named: the register decides)."""

    nhs_number: str | None
    family: str | None
    given: str | None
    birth_date: str | None
    postcode: str | None
    purpose: str
    items: tuple[str, ...]
    area: str | None
    targets: tuple[str, ...]


def checked(form: dict[str, str], items: list[str], purposes: set[str], today: date) -> Asked | dict[str, str]:
    """The form as a question, or the errors by field (in the page's order) when it cannot be asked."""
    errors: dict[str, str] = {}
    nhs = "".join(form.get("nhs_number", "").split())
    family, given = form.get("family", "").strip(), form.get("given", "").strip()
    postcode = form.get("postcode", "").strip().upper()
    parts = [form.get(f"birth_{p}", "").strip() for p in ("day", "month", "year")]
    born = _birth_date(parts, today, errors) if any(parts) else None
    if nhs and not nhs_number_valid(nhs):
        errors["nhs_number"] = (
            "Enter the NHS number as 10 digits"
            if not (nhs.isascii() and nhs.isdigit() and len(nhs) == 10)
            else "Enter a real NHS number: this one's check digit is wrong"
        )
    elif not nhs:
        if not (family or given or any(parts)):
            errors["nhs_number"] = "Enter an NHS number, or the family name, given name and date of birth"
        else:
            if not family:
                errors["family"] = "Enter the family name"
            if not given:
                errors["given"] = "Enter the given name"
            if not any(parts):
                errors["birth_day"] = "Enter the date of birth"
    for name, value in (("family", family), ("given", given)):
        if len(value) > MAX_NAME:
            errors[name] = f"The name must be {MAX_NAME} characters or fewer"
    if len(postcode) > 10:
        errors["postcode"] = "Enter a real postcode"
    purpose = form.get("purpose", "")
    if purpose not in purposes:
        errors["purpose"] = "Select the reason for asking"
    if not items:
        errors["items"] = "Select at least one thing to ask"
    area = None
    if form.get("area", "").strip():
        try:
            area = lad_code(form["area"])
        except MaisError:
            errors["area"] = "Enter the area as an ONS local authority district code, like E08000035"
    targets = tuple(dict.fromkeys(t.upper() for t in form.get("targets", "").replace(",", " ").split()))
    if any(not t.isalnum() or len(t) > 16 for t in targets) or len(targets) > MAX_TARGETS:
        errors["targets"] = f"Enter up to {MAX_TARGETS} ODS codes, separated by spaces or commas"
    order = ("nhs_number", "family", "given", "birth_day", "postcode", "purpose", "items", "area", "targets")
    if errors:
        return {name: errors[name] for name in order if name in errors}
    return Asked(
        nhs or None, family or None, given or None, born, postcode or None, purpose, tuple(items), area, targets
    )


def _birth_date(parts: list[str], today: date, errors: dict[str, str]) -> str | None:
    day, month, year = parts
    if not all(p.isascii() and p.isdigit() for p in parts) or len(year) != 4:
        errors["birth_day"] = "Enter the date of birth as a day, month and 4-digit year"
        return None
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        errors["birth_day"] = "Enter a real date of birth"
        return None
    if born > today:
        errors["birth_day"] = "The date of birth must be in the past"
        return None
    return born.isoformat()


@dataclass(frozen=True, slots=True)
class RowView:
    ods: str
    name: str
    state: str
    tag: str
    open: str
    contact: str
    phones: tuple[str, ...]
    answered_at: str
    latency: str
    reason: str


@dataclass(frozen=True, slots=True)
class ViewPage:
    id: str
    version: int
    as_of: str
    started: str
    complete: bool
    purpose: str
    items: tuple[str, ...]
    subject: Person
    rows: tuple[RowView, ...]
    waiting: int  # partners being asked whose rows are not in yet (the live fan-out under way)

    @property
    def pending(self) -> bool:
        return not self.complete


def page(task: dict[str, Any], version: int, asked: int) -> ViewPage:
    """``asked``: how many partners the view's own record says were asked."""
    contained = {r.get("id"): r for r in task.get("contained") or [] if isinstance(r, dict)}
    rows = tuple(_row(r.organisation, r.name, r.state, r.parts, r.contact) for r in read_rows(task))
    answered = sum(1 for r in rows if r.state != "NOT_ASKED")
    purpose = next(
        (
            str(c.get("code"))
            for c in (task.get("reasonCode") or {}).get("coding") or []
            if c.get("system") == PURPOSE_SYSTEM
        ),
        "",
    )
    return ViewPage(
        id=str(task.get("id") or ""),
        version=version,
        as_of=when(task.get("lastModified")),
        started=when(task.get("authoredOn")),
        complete=task.get("status") == "completed",
        purpose=purpose,
        items=tuple(str(i.get("valueCode")) for i in task.get("input") or [] if i.get("valueCode")),
        subject=person(contained.get("subject") or {}),
        rows=rows,
        waiting=max(0, asked - answered),
    )


def _row(ods: str, name: str, state: str, parts: dict[str, Any], contact: dict[str, Any] | None) -> RowView:
    is_open = parts.get("open")
    latency = parts.get("latencyMs")
    phones = tuple(str(t.get("value")) for t in (contact or {}).get("telecom") or [] if t.get("value"))
    return RowView(
        ods=ods,
        name=name or ods,
        state=state,
        tag=TAGS.get(state, "grey"),
        open="Open" if is_open is True else ("Not open" if is_open is False else ""),
        contact=str((contact or {}).get("name") or ""),
        phones=phones,
        answered_at=when(parts.get("answeredAt"), "%-d %b %H:%M:%S"),
        latency=f"{float(latency):.0f} ms" if isinstance(latency, int | float) else "",
        reason=str(parts.get("reason") or ""),
    )


def when(instant: object, form: str = "%-d %B %Y %H:%M:%S UTC") -> str:
    """A FHIR instant in words (``3 December 2026 11:45:02 UTC``), UTC; '' when there is none."""
    if not isinstance(instant, str) or not instant:
        return ""
    try:
        at = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant[:40]
    return at.astimezone(UTC).strftime(form)
