"""The W3C trace context (https://www.w3.org/TR/trace-context/ §3.2) of the request being served, so that every
AuditEvent written for it names the trace id: an auditor joins the trails of one single view across nodes by it
(``AuditEvent?entity:identifier=https://mais.example.org/fhir/Id/trace-id|<trace id>``)."""

from __future__ import annotations

import re
from contextvars import ContextVar

TRACE_ID: ContextVar[str | None] = ContextVar("mais_trace_id", default=None)
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a well-formed ``traceparent`` (version not ff, ids not all zero), else None (ignored, §3.2.2)."""
    found = _TRACEPARENT.fullmatch((traceparent or "").strip())
    if found is None or found.group(1) == "ff" or set(found.group(2)) == {"0"} or set(found.group(3)) == {"0"}:
        return None
    return found.group(2)
