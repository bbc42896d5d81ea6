"""The single view's rows (issue 15 item 2; DESIGN §11): one row per partner, each in one explicit state, and the
one function that decides a row's state from an HTTP exchange with the partner.

``verdict`` is the only place a state is inferred. It never reads silence, an error or a malformed answer as
"not known": ``NOT_KNOWN`` comes only from a well-formed ``$person-info-query`` Parameters whose ``match`` is the
boolean ``false``, or from a completed enquiry Task whose ``is-known`` output is ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import orjson

from mais_node.enquiry.service import NOT_PERMITTED
from mais_node.terminology import REQUEST_TYPE_SYSTEM

REASON_CHARS = 200  # a partner's diagnostics are shown to a practitioner: bounded, never a page of HTML
FHIR_JSON = ("application/fhir+json", "application/json")
WAITING = {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}


class RowState(StrEnum):
    KNOWN = "KNOWN"
    NOT_KNOWN = "NOT_KNOWN"
    DECLINED = "DECLINED"  # the partner's rules denied: nothing more is known
    PENDING_REVIEW = "PENDING_REVIEW"  # referred to the partner's IG officer; its Task is followed
    ERROR = "ERROR"
    TIMED_OUT = "TIMED_OUT"
    NOT_ASKED = "NOT_ASKED"


class Stage(StrEnum):
    """Which call of the conversation with a partner the exchange was."""

    TOKEN = "token"  # noqa: S105 (a stage name) SMART Backend Services token request at the partner
    QUERY = "query"  # POST [base]/Patient/$person-info-query
    FOLLOW = "follow"  # GET the partner's enquiry Task


class Failure(StrEnum):
    """Why an exchange has no complete HTTP answer."""

    CONNECT = "connect"  # refused, unreachable, TLS failed
    TIMEOUT = "timeout"  # the deadline (or a read timeout) passed before the answer was whole
    PROTOCOL = "protocol"  # not HTTP, or the connection broke mid-answer
    TOO_LARGE = "too-large"  # the body passed the size limit and was cut off
    REFUSED_HERE = "refused-here"  # this node would not make the call (a Location off the endpoint's origin, …)


@dataclass(frozen=True, slots=True)
class Exchange:
    """What happened on one call: the HTTP answer (status, headers with lower-case names, body), or a failure."""

    stage: Stage
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    failure: Failure | None = None
    detail: str = ""  # the failure in words (no internals: a host, a limit)


@dataclass(frozen=True, slots=True)
class Contact:
    """Whom to call at the partner, as it released it (the MAIS ``contact`` Organization)."""

    name: str | None
    telecom: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """A row's state and what the partner released with it."""

    state: RowState
    reason: str | None = None
    open: bool | None = None
    contact: Contact | None = None
    request_id: str | None = None  # the partner's requestId, when it gave one
    task: str | None = None  # the partner's enquiry Task (a referral), absolute URL
    rules: tuple[str, ...] = ()  # NOT_ASKED by this node's own rules on asking: the ids of the rules that forbade it


def error(reason: str) -> Verdict:
    return Verdict(RowState.ERROR, reason)


def verdict(exchange: Exchange) -> Verdict:
    """The state of a row after ``exchange``: the one function that decides it."""
    if exchange.failure is not None:
        return _failed(exchange)
    status = exchange.status or 0
    if exchange.stage is Stage.TOKEN:
        return error(f"the partner's token endpoint refused us ({status}{_oauth_error(exchange)})")
    if 300 <= status < 400:
        where = urlsplit(exchange.headers.get("location", "")).netloc or "an unnamed place"
        return error(f"the partner answered {status}, a redirect to {where} (redirects are not followed)")
    if status == 401:
        return error(f"the partner refused our access token (401{_diagnostics(exchange)})")
    if status == 403:
        return _forbidden(exchange)
    if status == 429:
        return error("the partner is rate limiting us (429)")
    if 400 <= status < 500:
        return error(f"the partner refused the request ({status}{_diagnostics(exchange)})")
    if status >= 500:
        return error(f"the partner failed ({status})")
    body = _resource(exchange)
    if isinstance(body, Verdict):
        return body
    if body.get("resourceType") == "OperationOutcome":
        return error(f"the partner answered {status} with an OperationOutcome{_diagnostics(exchange)}")
    if exchange.stage is Stage.QUERY and status == 200:
        return _parameters(body)
    if exchange.stage is Stage.QUERY and status == 202:
        return _referred(body, exchange.headers)
    if exchange.stage is Stage.FOLLOW and status == 200:
        return _task(body, None)
    return error(f"the partner answered {status}, which a {exchange.stage} call never gets")


def _failed(exchange: Exchange) -> Verdict:
    detail = f": {exchange.detail}" if exchange.detail else ""
    if exchange.failure is Failure.TIMEOUT:
        return Verdict(RowState.TIMED_OUT, f"no complete answer before the deadline{detail}")
    if exchange.failure is Failure.CONNECT:
        return error(f"could not connect to the partner{detail}")
    if exchange.failure is Failure.TOO_LARGE:
        return error(f"the answer was cut off at the size limit{detail}")
    if exchange.failure is Failure.REFUSED_HERE:
        return error(f"not followed{detail}")
    return error(f"the partner's answer is not valid HTTP{detail}")


def _forbidden(exchange: Exchange) -> Verdict:
    """403 from the rules (the MAIS DENY: "not permitted", nothing revealed) is DECLINED; any other 403 (a scope, this
    node's organisation unknown or suspended there) is a refusal of the requester, so ERROR with the reason."""
    outcome = _json(exchange.body)
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    said = [i.get("diagnostics") for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []
    if exchange.stage is Stage.QUERY and NOT_PERMITTED in said:
        return Verdict(RowState.DECLINED, "the partner's rules did not permit the enquiry")
    return error(f"the partner refused us (403{_diagnostics(exchange)})")


def _resource(exchange: Exchange) -> dict[str, Any] | Verdict:
    media = exchange.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FHIR_JSON:
        return error(f"the partner answered {exchange.status} with {media or 'no media type'}, not FHIR JSON")
    body = _json(exchange.body)
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        return error(f"the partner answered {exchange.status} with JSON that is not a FHIR resource")
    return body


def _parameters(body: dict[str, Any]) -> Verdict:
    if body.get("resourceType") != "Parameters":
        return error(f"the partner answered with a {_name(body)}, not Parameters")
    values = _by_name(body.get("parameter"))
    match = values.get("match")
    if match is None:
        return error("the partner's Parameters has no match")
    known = match.get("valueBoolean")
    if not isinstance(known, bool):
        return error("the partner's match is not a boolean")
    request_id = values.get("requestId", {}).get("valueString")
    request_id = request_id[:128] if isinstance(request_id, str) else None
    if not known:
        return Verdict(RowState.NOT_KNOWN, request_id=request_id)
    is_open = values.get("open", {}).get("valueBoolean")
    contact = values.get("contact", {}).get("resource")
    return Verdict(
        RowState.KNOWN,
        open=is_open if isinstance(is_open, bool) else None,
        contact=_contact(contact) if isinstance(contact, dict) else None,
        request_id=request_id,
    )


def _referred(body: dict[str, Any], headers: Mapping[str, str]) -> Verdict:
    if body.get("resourceType") != "Task":
        return error(f"the partner referred the enquiry with a {_name(body)}, not a Task")
    where = headers.get("content-location") or headers.get("location")
    if not where:
        return error("the partner referred the enquiry but named no Task to follow")
    return _task(body, where.split("/_history/")[0])


def _task(task: dict[str, Any], where: str | None) -> Verdict:
    """An enquiry Task (MAIS Task form): waiting, decided (its outputs), rejected, or ended without an answer."""
    if task.get("resourceType") != "Task":
        return error(f"the partner's Task is a {_name(task)}")
    status = task.get("status")
    request_id = next(
        (
            i.get("value")
            for i in task.get("identifier") or []
            if isinstance(i, dict) and isinstance(i.get("value"), str)
        ),
        None,
    )
    if status in WAITING:
        return Verdict(
            RowState.PENDING_REVIEW, "referred to the partner's IG officer", request_id=request_id, task=where
        )
    if status == "rejected":
        return Verdict(RowState.DECLINED, "the partner's IG officer did not permit the enquiry", request_id=request_id)
    if status != "completed":
        return error(f"the partner's Task ended {status}")
    outputs = {_item(o): o for o in task.get("output") or [] if isinstance(o, dict)}
    known = outputs.get("is-known", {}).get("valueBoolean")
    if not isinstance(known, bool):
        return error("the partner's completed Task has no is-known answer")
    if not known:
        return Verdict(RowState.NOT_KNOWN, request_id=request_id)
    is_open = outputs.get("is-open", {}).get("valueBoolean")
    reference = (outputs.get("contact", {}).get("valueReference") or {}).get("reference")
    contained = {r.get("id"): r for r in task.get("contained") or [] if isinstance(r, dict)}
    contact = contained.get(reference[1:]) if isinstance(reference, str) and reference.startswith("#") else None
    return Verdict(
        RowState.KNOWN,
        open=is_open if isinstance(is_open, bool) else None,
        contact=_contact(contact) if isinstance(contact, dict) else None,
        request_id=request_id,
    )


def _item(output: dict[str, Any]) -> str | None:
    codings = (output.get("type") or {}).get("coding") or []
    return next(
        (c.get("code") for c in codings if isinstance(c, dict) and c.get("system") == REQUEST_TYPE_SYSTEM), None
    )


def _contact(organization: dict[str, Any]) -> Contact:
    name = organization.get("name")
    telecom = tuple(
        str(t["value"])[:REASON_CHARS]
        for t in organization.get("telecom") or []
        if isinstance(t, dict) and isinstance(t.get("value"), str)
    )
    return Contact(name[:REASON_CHARS] if isinstance(name, str) else None, telecom)


def _by_name(parameters: object) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for p in parameters if isinstance(parameters, list) else []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            found.setdefault(p["name"], p)
    return found


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _name(body: dict[str, Any]) -> str:
    return str(body.get("resourceType"))[:40]


def _diagnostics(exchange: Exchange) -> str:
    """``: <the partner's diagnostics>`` from an OperationOutcome body, bounded; nothing from any other body."""
    outcome = _json(exchange.body)
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    said = [str(i["diagnostics"]) for i in issues or [] if isinstance(i, dict) and i.get("diagnostics")]
    return f": {'; '.join(said)[:REASON_CHARS]}" if said and isinstance(issues, list) else ""


def _oauth_error(exchange: Exchange) -> str:
    """``: <error> <error_description>`` from an RFC 6749 §5.2 error body, bounded."""
    body = _json(exchange.body)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ""
    described = body.get("error_description")
    text = f"{body['error']} {described}" if isinstance(described, str) else body["error"]
    return f": {text[:REASON_CHARS]}"


@dataclass(frozen=True, slots=True)
class Row:
    """One partner's row of a single view: never merged with another partner's."""

    organisation: str  # ODS code
    name: str
    endpoint: str | None  # the FHIR base asked (None: NOT_ASKED for want of one)
    verdict: Verdict
    answered_at: str | None = None  # ISO 8601 instant of the answer that set the state
    latency_ms: float | None = None

    @property
    def state(self) -> RowState:
        return self.verdict.state
