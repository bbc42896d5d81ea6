"""Read an enquiry from either form: the MAIS operation's Parameters (data exchange standard v0.3 with the
information-governance v0.1 Request elements) or an enquiry Task (profile ``mais-enquiry``).

Parameters of ``POST [base]/Patient/$person-info-query``:

    resource        Patient                       1..1  the subject
    reason          valueUri | valueCoding        1..1  a legislation URI (v0.3) or an asserted-purpose code
    requestId       valueString | valueIdentifier 0..1  the requester's own identifier of the request
    requestedItem   valueCode | valueCoding       0..*  is-known (default), is-open, contact
    sharingPolicy   valueUri | valueIdentifier    0..*  the agreements relied on: URI, system|value or value
    requester       valueIdentifier               0..1  the requesting organisation (ODS); must be the token's
    authorisedUser  part: identifier, name, role  0..1  the person at the requesting system
    consent         valueCode | valueCoding       0..1  the subject's consent: given, refused, not-sought-risk

The Task carries the consent as an input of type ``consent`` (a ``consent-status`` CodeableConcept).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from mais_node.enquiry.model import AuthorisedUser, Enquiry
from mais_node.errors import InvalidRequest, Issue, NotConformant

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
# The free text a requester sends that the node copies into its answer, its Task and every audit record of the
# enquiry (issue 13 §5), in characters. A longer value is refused rather than cut: a cut request id would no longer
# be the requester's, and the trail must hold what was asked.
FREE_TEXT_LIMITS = {"requestId": 128, "identifier": 128, "name": 200, "role": 200}


def _text(param: Mapping[str, Any], *kinds: str) -> str | None:
    for kind in kinds:
        value = param.get(f"value{kind}")
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            inner = value.get("value") if kind == "Identifier" else value.get("code")
            if isinstance(inner, str):
                return inner
    return None


def _free(value: str | None) -> str | None:
    """A free-text value the requester sent (request id, the authorised user), or None when it has nothing to read.

    Neither the gates nor the rules look at these, and the node copies them into the Task it stores for review; a
    FHIR string must hold a character other than whitespace, so a blank value ("", " ", "\\x85") is taken as absent.
    """
    return value if value is not None and value.strip() else None


def _claim(param: Mapping[str, Any]) -> str | None:
    """How a claimed agreement is named: its URI, ``system|value`` of its identifier, or the value alone."""
    for kind in ("Uri", "Canonical", "Url", "String"):
        value = param.get(f"value{kind}")
        if isinstance(value, str) and value.strip():
            return value.strip()
    identifier = param.get("valueIdentifier")
    if isinstance(identifier, Mapping):
        return _identifier_claim(identifier)
    reference = param.get("valueReference")
    if isinstance(reference, Mapping):
        return _reference_claim(reference)
    return None


def _identifier_claim(identifier: Mapping[str, Any]) -> str | None:
    value, system = identifier.get("value"), identifier.get("system")
    if not isinstance(value, str) or not value.strip():
        return None
    return f"{system}|{value.strip()}" if isinstance(system, str) and system else value.strip()


def _reference_claim(reference: Mapping[str, Any]) -> str | None:
    """``Contract/{id}`` names the agreement held under that id; any other reference is its URI."""
    target = reference.get("reference")
    if isinstance(target, str) and target.strip():
        return target.strip().removeprefix("Contract/")
    identifier = reference.get("identifier")
    return _identifier_claim(identifier) if isinstance(identifier, Mapping) else None


def _over_long(key: str, value: object, where: tuple[str, ...]) -> list[Issue]:
    """An issue when a free-text value is longer than its bound in ``FREE_TEXT_LIMITS``."""
    limit = FREE_TEXT_LIMITS[key]
    if not isinstance(value, str) or len(value) <= limit:
        return []
    return [
        Issue(f"'{where[-1]}' may be at most {limit} characters ({len(value):,} given)", "too-long", expression=where)
    ]


def _where(index: int, name: str) -> tuple[str, ...]:
    return (f"Parameters.parameter[{index}]", name)


# The parameters of cardinality 0..1 or 1..1 (the table above; ``resource`` has its own "one person" issue). A
# repeat is refused rather than read as "the last wins": the node would answer, and audit, another request than
# the one the requester's system may log.
_ONCE = ("reason", "requestId", "requester", "authorisedUser", "consent")


def _repeated(parameters: Sequence[Any]) -> list[Issue]:
    """One issue per parameter given more than once, naming the first repeat and how many were given."""
    seen: dict[str, list[int]] = {}
    for index, param in enumerate(parameters):
        name = param.get("name") if isinstance(param, Mapping) else None
        if name in _ONCE:
            seen.setdefault(name, []).append(index)
    return [
        Issue(
            f"'{name}' may be given once ({len(indexes):,} given)",
            "structure",
            expression=(f"Parameters.parameter[{indexes[1]}]", name),
        )
        for name, indexes in seen.items()
        if len(indexes) > 1
    ]


Conformance = Callable[[Mapping[str, Any]], list[Issue]]
"""The profile check the gates make on a subject or a Task, run here too when the body is refused before them."""


def _refuse(issues: list[Issue], resource: Mapping[str, Any] | None, conformance: Conformance | None) -> NoReturn:
    """Refuse with every issue at once: the body's own, and those the gates would have listed had it been read."""
    if resource is not None and conformance is not None:
        issues = [*issues, *(i for i in conformance(resource) if i.severity in ("error", "fatal"))]
    raise NotConformant(issues[0].diagnostics, issues=issues)


def from_parameters(document: Mapping[str, Any], raw: bytes, *, subject_issues: Conformance | None = None) -> Enquiry:
    """The enquiry in a ``$person-info-query`` Parameters resource; every problem is listed at once, the subject's
    with the rest (``subject_issues``)."""
    if document.get("resourceType") != "Parameters":
        raise InvalidRequest(
            "The body of $person-info-query must be a Parameters resource", expression=("resourceType",)
        )
    given = document.get("parameter") or []
    issues: list[Issue] = _repeated(given) if isinstance(given, list) else []
    subjects: list[dict[str, Any]] = []
    reason_uri = purpose = request_id = requester = consent = None
    items: list[str] = []
    policies: list[str] = []
    user = AuthorisedUser()
    for index, param in enumerate(given):
        name = param.get("name") if isinstance(param, Mapping) else None
        where = f"Parameters.parameter[{index}]"
        if name == "resource":
            resource = param.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
                issues.append(Issue("The 'resource' parameter must hold a Patient", "invalid", expression=(where,)))
            else:
                subjects.append(resource)
        elif name == "reason":
            reason_uri = param.get("valueUri") if isinstance(param.get("valueUri"), str) else None
            coding = param.get("valueCoding")
            purpose = coding.get("code") if isinstance(coding, Mapping) else None
            if reason_uri is None and purpose is None:
                issues.append(Issue("'reason' must be a valueUri or a valueCoding", "invalid", expression=(where,)))
        elif name == "requestId":
            request_id = _free(_text(param, "String", "Identifier"))
            issues += _over_long("requestId", request_id, _where(index, "requestId"))
        elif name == "requestedItem":
            item = _text(param, "Code", "Coding")
            if item is None:
                issues.append(Issue("'requestedItem' must be a valueCode", "invalid", expression=(where,)))
            else:
                items.append(item)
        elif name == "sharingPolicy":
            policy = _claim(param)
            if policy is None:
                issues.append(
                    Issue(
                        "'sharingPolicy' must be a valueIdentifier, valueUri or valueString naming an agreement",
                        "invalid",
                        expression=(where,),
                    )
                )
            else:
                policies.append(policy)
        elif name == "requester":
            requester = _text(param, "Identifier", "String")
        elif name == "authorisedUser":
            user = _user(param.get("part") or [])
            for key in ("identifier", "name", "role"):
                issues += _over_long(key, getattr(user, key), (where, f"authorisedUser.{key}"))
        elif name == "consent":
            consent = _text(param, "Code", "Coding")
            if consent is None:
                issues.append(Issue("'consent' must be a valueCode", "invalid", expression=(where,)))
        else:
            issues.append(Issue(f"Unknown parameter '{str(name)[:40]}'", "not-supported", expression=(where,)))
    if not subjects:
        issues.append(Issue("The subject is missing: give one 'resource' parameter holding a Patient", "required"))
    if len(subjects) > 1:
        issues.append(
            Issue("An enquiry is about one person: several subjects were given", "invalid", expression=("resource",))
        )
    if reason_uri is None and purpose is None and not any("reason" in i.expression for i in issues):
        issues.append(Issue("The reason for the enquiry is missing", "required", expression=("reason",)))
    if issues:
        _refuse(issues, subjects[0] if len(subjects) == 1 else None, subject_issues)
    return Enquiry(
        form="operation",
        request_id=request_id or uuid.uuid4().hex,
        subject=subjects[0],
        purpose=purpose,
        reason_uri=reason_uri,
        items=tuple(items) or ("is-known",),
        sharing_policies=tuple(policies),
        user=user,
        requester_ods=requester,
        raw=raw,
        consent=consent,
    )


def _user(parts: Sequence[Any]) -> AuthorisedUser:
    values: dict[str, str | None] = {}
    for part in parts:
        if isinstance(part, Mapping) and isinstance(part.get("name"), str):
            values[part["name"]] = _free(_text(part, "String", "Identifier", "Coding", "Code"))
    return AuthorisedUser(values.get("identifier"), values.get("name"), values.get("role"))


def _contained(task: Mapping[str, Any], reference: Any) -> dict[str, Any] | None:
    ref = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    for resource in task.get("contained") or []:
        if isinstance(resource, dict) and resource.get("id") == ref[1:]:
            return resource
    return None


def _code(concept: Any) -> str | None:
    if not isinstance(concept, Mapping):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def from_task(task: dict[str, Any], raw: bytes, *, task_issues: Conformance | None = None) -> Enquiry:
    """The enquiry in a Task; the gates check it against the ``mais-enquiry`` profile (``task_issues``, run here too
    when the Task is refused before them, so that refusal lists every issue as well)."""
    subject = _contained(task, task.get("for"))
    if subject is None:
        missing = Issue("Task.for must reference the contained subject Patient", "required", expression=("Task.for",))
        _refuse([missing], task, task_issues)
    role = _contained(task, task.get("requester")) or {}
    practitioner = role.get("practitioner") or {}
    org = (role.get("organization") or {}).get("identifier") or {}
    items: list[str] = []
    policies: list[str] = []
    consent = None
    for entry in task.get("input") or []:
        kind = _code(entry.get("type"))
        if kind == "requested-item":
            code = _code(entry.get("valueCodeableConcept"))
            if code:
                items.append(code)
        elif kind == "sharing-policy":
            claim = _claim(entry)
            if claim is not None:
                policies.append(claim)
        elif kind == "consent":
            consent = _code(entry.get("valueCodeableConcept"))
    identifier = next((i.get("value") for i in task.get("identifier") or [] if isinstance(i.get("value"), str)), None)
    user = AuthorisedUser(
        (practitioner.get("identifier") or {}).get("value"),
        practitioner.get("display"),
        next((c.get("text") or _code(c) for c in role.get("code") or []), None),
    )
    where = "Task.requester.practitioner"
    issues = [
        *_over_long("requestId", identifier, ("Task.identifier.value",)),
        *_over_long("identifier", user.identifier, (f"{where}.identifier.value",)),
        *_over_long("name", user.name, (f"{where}.display",)),
        *_over_long("role", user.role, ("Task.requester.code",)),
    ]
    if issues:
        _refuse(issues, task, task_issues)
    return Enquiry(
        form="task",
        request_id=identifier or uuid.uuid4().hex,
        subject=subject,
        purpose=_code(task.get("reasonCode")),
        reason_uri=None,
        items=tuple(items) or ("is-known",),
        sharing_policies=tuple(policies),
        user=user,
        requester_ods=org.get("value") if org.get("system", ODS) == ODS else None,
        raw=raw,
        task=task,
        consent=consent,
    )
