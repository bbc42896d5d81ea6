"""The one function that decides a single-view row's state (issue 15 item 2 and "bad answers from a partner").

Every bad answer of the issue is an ERROR (or TIMED_OUT) with its reason, never a crash and never KNOWN or
NOT_KNOWN; the good answers are read from the wire forms the responding side writes (``enquiry/respond.py``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mais_node.enquiry.service import NOT_PERMITTED
from mais_node.network.rows import Exchange, Failure, RowState, Stage, verdict
from mais_node.terminology import REQUEST_TYPE_SYSTEM

FHIR = {"content-type": "application/fhir+json"}
CONTACT = {"resourceType": "Organization", "name": "Police Safeguarding Hub", "telecom": [{"value": "0113 000 0000"}]}


def answer(status: int, body: Any, stage: Stage = Stage.QUERY, **headers: str) -> Exchange:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Exchange(stage, status, FHIR | {k.replace("_", "-"): v for k, v in headers.items()}, raw)


def parameters(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parts)}


def outcome(diagnostics: str, code: str = "forbidden") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def output(item: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": REQUEST_TYPE_SYSTEM, "code": item}]}, **value}


def task(status: str, *outputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Task", "status": status, "intent": "order", "output": list(outputs), **extra}


# -- the answers a partner's node gives ---------------------------------------------------------------------------
def test_match_true_with_open_and_contact_is_known_with_what_was_released() -> None:
    found = verdict(
        answer(
            200,
            parameters(
                {"name": "match", "valueBoolean": True},
                {"name": "requestId", "valueString": "r-1"},
                {"name": "open", "valueBoolean": True},
                {"name": "contact", "resource": CONTACT},
            ),
        )
    )
    assert found.state is RowState.KNOWN
    assert found.open is True
    assert found.contact is not None
    assert (found.contact.name, found.contact.telecom) == ("Police Safeguarding Hub", ("0113 000 0000",))
    assert found.request_id == "r-1"


def test_match_true_alone_is_known_with_nothing_else_claimed() -> None:
    found = verdict(answer(200, parameters({"name": "match", "valueBoolean": True})))
    assert (found.state, found.open, found.contact) == (RowState.KNOWN, None, None)


def test_match_false_is_not_known() -> None:
    found = verdict(answer(200, parameters({"name": "match", "valueBoolean": False})))
    assert found.state is RowState.NOT_KNOWN


def test_the_rules_deny_is_declined() -> None:
    found = verdict(answer(403, outcome(NOT_PERMITTED)))
    assert found.state is RowState.DECLINED


def test_a_referral_is_pending_review_with_the_task_to_follow() -> None:
    referred = task("on-hold", identifier=[{"value": "r-9"}])
    base = "http://127.0.0.1:9/fhir/Task/abc"
    found = verdict(answer(202, referred, content_location=base, location=f"{base}/_history/1"))
    assert (found.state, found.task, found.request_id) == (RowState.PENDING_REVIEW, base, "r-9")


def test_a_referral_named_only_by_location_follows_the_task_not_its_version() -> None:
    base = "http://127.0.0.1:9/fhir/Task/abc"
    found = verdict(answer(202, task("on-hold"), location=f"{base}/_history/1"))
    assert found.task == base


@pytest.mark.parametrize("status", ["requested", "received", "accepted", "in-progress", "on-hold"])
def test_a_followed_task_still_waiting_stays_pending(status: str) -> None:
    assert verdict(answer(200, task(status), Stage.FOLLOW)).state is RowState.PENDING_REVIEW


def test_a_followed_task_permitted_after_review_is_known_with_its_contact() -> None:
    decided = task(
        "completed",
        output("is-known", valueBoolean=True),
        output("is-open", valueBoolean=False),
        output("contact", valueReference={"reference": "#contact"}),
        contained=[CONTACT | {"id": "contact"}],
    )
    found = verdict(answer(200, decided, Stage.FOLLOW))
    assert (found.state, found.open) == (RowState.KNOWN, False)
    assert found.contact is not None
    assert found.contact.name == "Police Safeguarding Hub"


def test_a_followed_task_not_known_after_review() -> None:
    found = verdict(answer(200, task("completed", output("is-known", valueBoolean=False)), Stage.FOLLOW))
    assert found.state is RowState.NOT_KNOWN


def test_a_followed_task_rejected_after_review_is_declined() -> None:
    assert verdict(answer(200, task("rejected"), Stage.FOLLOW)).state is RowState.DECLINED


# -- bad answers: each an ERROR with its reason ----------------------------------------------------------------
BAD = [
    pytest.param(answer(500, outcome("boom", "exception")), "failed (500)", id="500"),
    pytest.param(answer(503, b"", content_type="text/plain"), "failed (503)", id="503-empty"),
    pytest.param(
        Exchange(Stage.QUERY, 200, {"content-type": "text/html"}, b"<html>Sign in</html>"), "text/html", id="html"
    ),
    pytest.param(Exchange(Stage.QUERY, 200, {}, b"{}"), "no media type", id="no-content-type"),
    pytest.param(answer(200, b"{not json"), "not a FHIR resource", id="not-json"),
    pytest.param(answer(200, [1, 2]), "not a FHIR resource", id="json-array"),
    pytest.param(answer(200, parameters({"name": "open", "valueBoolean": True})), "no match", id="no-match"),
    pytest.param(answer(200, {"resourceType": "Parameters"}), "no match", id="no-parameter"),
    pytest.param(
        answer(200, parameters({"name": "match", "valueString": "true"})), "not a boolean", id="match-as-string"
    ),
    pytest.param(
        answer(200, parameters({"name": "match", "valueBoolean": "false"})), "not a boolean", id="match-bool-string"
    ),
    pytest.param(answer(200, outcome("all fine", "informational")), "OperationOutcome", id="200-outcome"),
    pytest.param(answer(200, {"resourceType": "Bundle"}), "Bundle, not Parameters", id="200-bundle"),
    pytest.param(answer(201, parameters({"name": "match", "valueBoolean": False})), "never gets", id="201"),
    pytest.param(
        Exchange(Stage.QUERY, failure=Failure.TOO_LARGE, detail="more than 1048576 bytes"),
        "cut off at the size limit: more than 1048576 bytes",
        id="oversized",
    ),
    pytest.param(
        answer(302, b"", location="https://elsewhere.example/login"), "redirect to elsewhere.example", id="redirect"
    ),
    pytest.param(answer(307, b""), "redirect to an unnamed place", id="redirect-no-location"),
    pytest.param(
        Exchange(Stage.TOKEN, 401, FHIR, orjson.dumps({"error": "invalid_client", "error_description": "unknown"})),
        "token endpoint refused us (401: invalid_client unknown)",
        id="token-refused",
    ),
    pytest.param(Exchange(Stage.TOKEN, 200, FHIR, b"{}"), "token endpoint refused us (200)", id="token-unusable"),
    pytest.param(answer(401, outcome("Token expired", "login")), "refused our access token", id="401"),
    pytest.param(
        answer(403, outcome("The requesting organisation is not active and verified in the register")),
        "refused us (403: The requesting organisation is not active",
        id="403-gate",
    ),
    pytest.param(answer(403, outcome(NOT_PERMITTED), Stage.FOLLOW), "refused us (403", id="403-on-follow"),
    pytest.param(answer(429, outcome("slow down", "throttled")), "rate limiting", id="429"),
    pytest.param(answer(422, outcome("birthDate is required", "invalid")), "422: birthDate", id="422"),
    pytest.param(Exchange(Stage.QUERY, failure=Failure.CONNECT, detail="refused"), "could not connect", id="connect"),
    pytest.param(Exchange(Stage.QUERY, failure=Failure.PROTOCOL), "not valid HTTP", id="protocol"),
    pytest.param(
        Exchange(Stage.QUERY, failure=Failure.REFUSED_HERE, detail="a Task off the endpoint's origin"),
        "not followed: a Task off",
        id="refused-here",
    ),
    pytest.param(answer(202, parameters()), "not a Task", id="202-not-task"),
    pytest.param(answer(202, task("on-hold")), "named no Task", id="202-no-location"),
    pytest.param(answer(200, parameters(), Stage.FOLLOW), "Task is a Parameters", id="follow-not-task"),
    pytest.param(answer(200, task("cancelled"), Stage.FOLLOW), "ended cancelled", id="follow-cancelled"),
    pytest.param(answer(200, task("completed"), Stage.FOLLOW), "no is-known answer", id="follow-no-output"),
    pytest.param(
        answer(200, task("completed", output("is-known", valueCodeableConcept={"text": "DENY"})), Stage.FOLLOW),
        "no is-known answer",
        id="follow-is-known-denied",
    ),
]


@pytest.mark.parametrize(("exchange", "reason"), BAD)
def test_a_bad_answer_is_an_error_with_its_reason(exchange: Exchange, reason: str) -> None:
    found = verdict(exchange)
    assert found.state is RowState.ERROR
    assert found.reason is not None
    assert reason in found.reason
    assert (found.open, found.contact) == (None, None)


@pytest.mark.parametrize(
    "exchange",
    [
        Exchange(Stage.QUERY, failure=Failure.TIMEOUT, detail="20 s"),
        Exchange(Stage.FOLLOW, failure=Failure.TIMEOUT),
        Exchange(Stage.TOKEN, failure=Failure.TIMEOUT),
    ],
)
def test_no_answer_in_time_is_timed_out_never_not_known(exchange: Exchange) -> None:
    found = verdict(exchange)
    assert found.state is RowState.TIMED_OUT
    assert found.reason is not None
    assert "deadline" in found.reason


def test_a_partners_diagnostics_are_bounded() -> None:
    found = verdict(answer(400, outcome("x" * 10_000, "invalid")))
    assert found.reason is not None
    assert len(found.reason) < 300


def test_a_partners_html_error_page_is_never_copied_into_the_reason() -> None:
    page = b"<html><body>Internal details: /srv/app/secret.py line 3</body></html>"
    found = verdict(Exchange(Stage.QUERY, 500, {"content-type": "text/html"}, page))
    assert found.reason == "the partner failed (500)"


def test_every_state_but_not_asked_is_reachable_from_an_exchange() -> None:
    """NOT_ASKED is decided before any call (target selection); every other state comes from the wire."""
    reached = {
        verdict(answer(200, parameters({"name": "match", "valueBoolean": True}))).state,
        verdict(answer(200, parameters({"name": "match", "valueBoolean": False}))).state,
        verdict(answer(403, outcome(NOT_PERMITTED))).state,
        verdict(answer(202, task("on-hold"), content_location="http://x/fhir/Task/1")).state,
        verdict(answer(500, b"")).state,
        verdict(Exchange(Stage.QUERY, failure=Failure.TIMEOUT)).state,
    }
    assert reached == set(RowState) - {RowState.NOT_ASKED}
