"""Native evaluators for the hottest FHIRPath invariants in ``profiles/``: fhirpathpy spends ~200 µs on the NHS
number's Modulus 11 and ~120 µs on ``mais-person-1``, a few µs in Python.

The profile stays the specification. A native evaluator is used only while the profile's expression is, character
for character, the text it is keyed by here (an edited profile falls back to fhirpathpy), and only on the plain JSON
shapes it handles: for any other focus it returns ``None`` and fhirpathpy decides. Every evaluator must have an
equivalence test against fhirpathpy on a large generated set (tests/unit/validation/test_native.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

NativeEvaluator = Callable[[Any], bool | None]
"""The verdict ``Invariant.holds`` would reach through fhirpathpy, or ``None``: not a shape this evaluator handles."""

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"

NHS_NUMBER_FORMAT = "matches('^[0-9]{10}$')"
NHS_NUMBER_MODULUS_11 = (
    "matches('^[0-9]{10}$') implies ((substring(0,1).toInteger() * 10 + substring(1,1).toInteger() * 9"
    " + substring(2,1).toInteger() * 8 + substring(3,1).toInteger() * 7 + substring(4,1).toInteger() * 6"
    " + substring(5,1).toInteger() * 5 + substring(6,1).toInteger() * 4 + substring(7,1).toInteger() * 3"
    " + substring(8,1).toInteger() * 2 + substring(9,1).toInteger()) mod 11) = 0"
)
PERSON_MINIMUM = (
    "iif(identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number' and value.exists()).exists(), true,"
    " name.where(family.exists() and given.exists()).exists() and birthDate.exists())"
)

# fhirpathpy's matches() is ``re.search``, whose ``$`` also matches before a final "\n": "9434765919\n" passes.
_TEN_DIGITS = re.compile("^[0-9]{10}$", re.DOTALL)
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2, 1)


def nhs_number_format(value: Any) -> bool | None:
    """mais-nhs-2 on an NHS number string: ten ASCII digits and nothing else."""
    if type(value) is not str:
        return None
    return _TEN_DIGITS.search(value) is not None


def nhs_number_modulus_11(value: Any) -> bool | None:
    """mais-nhs-1 on an NHS number string: when it is ten ASCII digits (mais-nhs-2 speaks of any other string),
    their weighted sum is a multiple of 11."""
    if type(value) is not str:
        return None
    if _TEN_DIGITS.search(value) is None:
        return True
    return sum(int(digit) * weight for digit, weight in zip(value, _WEIGHTS, strict=False)) % 11 == 0


def person_minimum(patient: Any) -> bool | None:
    """mais-person-1 on a Patient: an identifier with the NHS number system and a value, or else a name with a
    family and a given name, and a birth date.

    Handled: members absent or null (fhirpathpy ignores a null), strings, lists of objects or of strings, and an
    object as the primitive extension of ``birthDate``, ``value`` or ``family`` (which makes the element exist)."""
    if type(patient) is not dict or patient.get("_identifier") is not None or patient.get("_name") is not None:
        return None
    identifiers = _objects(patient.get("identifier"))
    names = _objects(patient.get("name"))
    birth_date = _exists(patient, "birthDate")
    if identifiers is None or names is None or birth_date is None:
        return None
    nhs_number = False
    for identifier in identifiers:
        system, value = identifier.get("system"), _exists(identifier, "value")
        if value is None or not _string_or_null(system) or identifier.get("_system") is not None:
            return None
        nhs_number = nhs_number or (system == NHS_NUMBER_SYSTEM and value)
    if nhs_number:
        return True
    named = False
    for name in names:
        family, given = _exists(name, "family"), name.get("given")
        if family is None or not _strings_or_null(given) or name.get("_given") is not None:
            return None
        named = named or (family and bool(given))
    return named and birth_date


def _exists(element: Mapping[str, Any], name: str) -> bool | None:
    """``name.exists()`` for a string primitive and its ``_name`` extension object; ``None`` for any other shape."""
    value, extension = element.get(name), element.get("_" + name)
    if not _string_or_null(value) or not (extension is None or type(extension) is dict):
        return None
    return value is not None or extension is not None


def _string_or_null(value: Any) -> bool:
    return value is None or type(value) is str


def _strings_or_null(value: Any) -> bool:
    return value is None or (type(value) is list and all(type(item) is str for item in value))


def _objects(value: Any) -> list[dict[str, Any]] | None:
    """A list of JSON objects (``[]`` for null), or ``None`` when it is anything else."""
    if value is None:
        return []
    if type(value) is list and all(type(item) is dict for item in value):
        return value
    return None


NATIVE: Mapping[str, NativeEvaluator] = {
    NHS_NUMBER_FORMAT: nhs_number_format,
    NHS_NUMBER_MODULUS_11: nhs_number_modulus_11,
    PERSON_MINIMUM: person_minimum,
}
"""Native evaluators by the exact expression text each was written for."""
