""" "Did you mean …?": the nearest of a few known codes to a mistyped one (rapidfuzz's ``WRatio``, which also
scores a code typed in part, as ``s47`` for ``s47-enquiry``)."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process, utils

# Below this similarity (0-100) a suggestion would more often mislead than help: "is-knwon" → "is-known" scores
# 88, "s74-enquiry" → "s47-enquiry" 91, "s47" → "s47-enquiry" and "read" → "odrl:read" 90, while
# "contact" → "is-open" scores 29 and "xyz" → "s47-enquiry" 45.
CUTOFF = 75.0


def nearest(value: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``value`` (case and punctuation aside), or None when none is near enough."""
    found = process.extractOne(value, list(choices), scorer=fuzz.WRatio, processor=utils.default_process)
    if found is None or found[1] < CUTOFF or found[0] == value:
        return None
    return str(found[0])


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or the empty string."""
    found = nearest(value, choices)
    return f" (did you mean '{found}'?)" if found else ""
