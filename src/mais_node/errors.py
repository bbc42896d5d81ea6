"""The one error hierarchy of mais-node.

Every refusal the node makes is one of these. Each class carries its FHIR ``IssueType`` code and severity
(FHIR R4 §OperationOutcome); the web layer maps each class to its HTTP status in exactly one place
(``mais_node.api.errors``), so the domain and the CLI raise the same errors without knowing about HTTP.

    MaisError
    ├── InvalidRequest          malformed input (400)
    │   └── UnknownSearchParameter
    ├── NotAuthenticated        no or bad credentials (401)
    ├── Forbidden               authenticated but not permitted (403)
    ├── NotFound                no such resource (404)
    │   └── Gone                deleted (410)
    ├── MethodNotAllowed        interaction not offered (405)
    ├── VersionConflict         concurrent write lost the race (409)
    │   └── Protected           a change the node never makes over the API (409)
    ├── PreconditionFailed      If-Match named a stale version (412)
    ├── PayloadTooLarge         body over the limit (413)
    ├── UnsupportedMediaType    not FHIR JSON (415)
    ├── NotAcceptable           asks for a format the node does not write (406)
    ├── NotConformant           valid JSON, not valid FHIR or not the profile (422)
    ├── RateLimited             too many requests (429)
    └── Unavailable             store or audit trail cannot be written (503)
        └── AuditUnavailable
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: what is wrong and where (a FHIRPath expression)."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = field(default_factory=tuple)


class MaisError(Exception):
    """Base of every error the node reports to a caller."""

    code: str = "exception"
    severity: str = "error"

    def __init__(self, diagnostics: str, *, expression: Sequence[str] = (), issues: Sequence[Issue] = ()):
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.issues: tuple[Issue, ...] = tuple(issues) or (
            Issue(diagnostics, self.code, self.severity, tuple(expression)),
        )


class InvalidRequest(MaisError):
    code = "invalid"


class UnknownSearchParameter(InvalidRequest):
    code = "not-supported"


class NotAuthenticated(MaisError):
    code = "login"


class Forbidden(MaisError):
    code = "forbidden"


class NotFound(MaisError):
    code = "not-found"


class Gone(NotFound):
    code = "deleted"


class MethodNotAllowed(MaisError):
    code = "not-supported"


class VersionConflict(MaisError):
    code = "conflict"


class PreconditionFailed(MaisError):
    code = "conflict"


class PayloadTooLarge(MaisError):
    code = "too-costly"


class UnsupportedMediaType(MaisError):
    code = "not-supported"


class NotAcceptable(MaisError):
    code = "not-supported"


class NotConformant(MaisError):
    code = "invalid"


class RateLimited(MaisError):
    code = "throttled"

    def __init__(self, diagnostics: str, *, retry_after: int):
        super().__init__(diagnostics)
        self.retry_after = retry_after


class Unavailable(MaisError):
    code = "transient"


class AuditUnavailable(Unavailable):
    """The audit record could not be written durably: the node fails closed."""


class Protected(VersionConflict):
    """A change the node refuses whatever the caller's scopes, because of what it would do (409 business-rule)."""

    code = "business-rule"
