"""The node's person index for matching: every Patient in the store, kept in memory and refreshed from the
store's changes (at most every second), so a person imported by another process is found within seconds."""

from __future__ import annotations

import threading
import time
from typing import Any

from mais_node.enquiry.model import Match
from mais_node.fhir.search.parse import encode_cursor
from mais_node.fhir.service import ResourceService
from mais_node.matching import MATCH_GRADE_EXTENSION, PersonIndex, from_fhir_patient, match_grade_summary
from mais_node.policy import MatchGrade

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"


class IndexedPersons:
    """The ``PersonMatcher`` port over a ``PersonIndex`` built from the store's Patients."""

    def __init__(self, resources: ResourceService, *, refresh_every: float = 1.0) -> None:
        self.resources = resources
        self.refresh_every = refresh_every
        self.index = PersonIndex()
        self._after: tuple[str, str] | None = None
        self._refreshed = 0.0
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Add or replace every Patient written since the last refresh; the number taken in.

        Pages by the store's own keyset on (lastUpdated, id), so a bulk load written within one instant is read once,
        not again at every refresh.
        """
        with self._lock:
            self._refreshed = time.monotonic()
            taken = 0
            while True:
                pairs = [("_sort", "_lastUpdated"), ("_count", "200")]
                if self._after is not None:
                    pairs.append(("_cursor", encode_cursor(self._after)))
                result = self.resources.search("Patient", pairs)
                for stored in result.page.items:
                    self.index.add(from_fhir_patient({**stored.body, "id": stored.id}))
                    taken += 1
                if result.page.items:
                    last = result.page.items[-1]
                    self._after = (last.last_updated, last.id)
                if result.page.next_after is None:
                    return taken

    def match(self, subject: dict[str, Any]) -> Match:
        if time.monotonic() - self._refreshed >= self.refresh_every:
            self.refresh()
        query = from_fhir_patient({**subject, "id": "subject"})
        summary = match_grade_summary(self.index.match(query))
        best = summary.best
        if best is None:
            return Match(MatchGrade.CERTAINLY_NOT)
        stored = self.resources.store.read("Patient", best.id)
        if stored is None or stored.deleted:
            self.index.remove(best.id)
            return self.match(subject)
        nhs = _nhs_number(stored.body)
        return Match(MatchGrade(summary.grade.value), best.id, best.score, summary.ambiguous, nhs)


def _nhs_number(patient: dict[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


def match_bundle(persons: IndexedPersons, subject: dict[str, Any], base: str) -> dict[str, Any]:
    """FHIR R4 ``Patient/$match`` output: a searchset of candidates with score and match grade (R4 §Patient)."""
    persons.refresh()
    candidates = persons.index.match(from_fhir_patient({**subject, "id": "subject"}))
    entries = []
    for candidate in candidates:
        stored = persons.resources.store.read("Patient", candidate.id)
        if stored is None or stored.deleted:
            continue
        entries.append(
            {
                "fullUrl": f"{base}/Patient/{candidate.id}",
                "resource": stored.body,
                "search": {
                    "mode": "match",
                    "score": round(candidate.score, 4),
                    "extension": [{"url": MATCH_GRADE_EXTENSION, "valueCode": candidate.grade.value}],
                },
            }
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
