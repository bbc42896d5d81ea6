"""A fast path for the common shape of an imported Patient: a row of that shape is accepted without running the R4
structure model and the profile validator, because for that shape their verdict is known (tests/unit/fhir/bulk prove
it identical over the synthetic corpus and its mutations). A row of any other shape, or one this path doubts, takes
the full check: the fast path can only say "certainly valid", never refuse.

The parts whose verdict depends on a vocabulary (an extension such as the birth date's accuracy indicator or the NHS
number's verification status) are checked once each by the full check, on a minimal Patient carrying only that part,
and remembered: a file repeats a handful of them millions of times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson

from mais_node.matching.nhs_number import NHS_NUMBER_SYSTEM, nhs_number_valid

Check = Callable[[dict[str, Any]], tuple[str, ...]]

KEYS = frozenset({"resourceType", "id", "identifier", "name", "gender", "birthDate", "_birthDate", "address"})
NAME_KEYS = frozenset({"use", "family", "given"})
ADDRESS_KEYS = frozenset({"use", "postalCode", "city", "line"})
IDENTIFIER_KEYS = frozenset({"system", "value", "extension"})
NAME_USE = frozenset({"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"})
ADDRESS_USE = frozenset({"home", "work", "temp", "old", "billing"})
GENDER = frozenset({"male", "female", "other", "unknown"})
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DIGITS = re.compile(r"[0-9]{10}")
MAX_PARTS = 256
# A valid NHS number (Modulus 11) for the minimal Patients that carry one part under the full check.
SAMPLE_NHS = "9434765919"


class FastPatients:
    """``ok(resource)``: True only when the full check would find no problem with this Patient."""

    def __init__(self, full: Check) -> None:
        self.full = full
        self._parts: dict[tuple[str, bytes], bool] = {}

    def ok(self, resource: dict[str, Any]) -> bool:
        if resource.get("resourceType") != "Patient" or not KEYS.issuperset(resource):
            return False
        rid = resource.get("id")
        if rid is not None and not (isinstance(rid, str) and ID.fullmatch(rid)):
            return False
        gender = resource.get("gender")
        if gender is not None and gender not in GENDER:
            return False
        nhs = self._identifiers(resource.get("identifier"), "identifier" in resource)
        if nhs is None:
            return False
        named = _names(resource.get("name"), "name" in resource)
        if named is None:
            return False
        born = _birth_date(resource.get("birthDate"), "birthDate" in resource)
        if born is None:
            return False
        if "_birthDate" in resource and not (born and self._part("birth", resource["_birthDate"])):
            return False
        if "address" in resource and not _addresses(resource["address"]):
            return False
        return nhs or (named and born)  # mais-person-1: an NHS number, or family + given name and birth date

    def _identifiers(self, value: Any, present: bool) -> bool | None:
        """Whether the Patient carries a valid NHS number (its only identifier); None: not this shape."""
        if not present:
            return False
        if not isinstance(value, list) or len(value) != 1:
            return None
        identifier = value[0]
        if not isinstance(identifier, dict) or not IDENTIFIER_KEYS.issuperset(identifier):
            return None
        number = identifier.get("value")
        if identifier.get("system") != NHS_NUMBER_SYSTEM or not isinstance(number, str) or not DIGITS.fullmatch(number):
            return None
        if not nhs_number_valid(number):
            return None
        if "extension" in identifier and not self._part("nhs", identifier["extension"]):
            return None
        return True

    def _part(self, kind: str, value: Any) -> bool:
        key = (kind, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        known = self._parts.get(key)
        if known is None:
            known = not self.full(_carrying(kind, value))
            if len(self._parts) < MAX_PARTS:
                self._parts[key] = known
        return known


def _carrying(kind: str, value: Any) -> dict[str, Any]:
    if kind == "nhs":
        return {"resourceType": "Patient", "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": SAMPLE_NHS,
                                                           "extension": value}]}  # fmt: skip
    return {"resourceType": "Patient", "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": SAMPLE_NHS}],
            "birthDate": "2000-01-01", "_birthDate": value}  # fmt: skip


def _plain(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1000 and value.isprintable() and value == value.strip()


def _names(value: Any, present: bool) -> bool | None:
    """Whether some name has a family and a given name; None: not this shape."""
    if not present:
        return False
    if not isinstance(value, list) or not value:
        return None
    full = False
    for name in value:
        if not isinstance(name, dict) or not name or not NAME_KEYS.issuperset(name):
            return None
        if "use" in name and name["use"] not in NAME_USE:
            return None
        if "family" in name and not _plain(name["family"]):
            return None
        given = name.get("given")
        if given is not None and not (isinstance(given, list) and given and all(_plain(g) for g in given)):
            return None
        full = full or ("family" in name and given is not None)
    return full


def _birth_date(value: Any, present: bool) -> bool | None:
    if not present:
        return False
    if not isinstance(value, str) or not DATE.fullmatch(value):
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return True


def _addresses(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    for address in value:
        if not isinstance(address, dict) or not address or not ADDRESS_KEYS.issuperset(address):
            return False
        if "use" in address and address["use"] not in ADDRESS_USE:
            return False
        if any(k in address and not _plain(address[k]) for k in ("postalCode", "city")):
            return False
        line = address.get("line")
        if line is not None and not (isinstance(line, list) and line and all(_plain(x) for x in line)):
            return False
    return True
