"""The node's person index for matching (issue 17): the ``PersonMatcher`` port over the durable index.

The rows live with the data (``matching.ports.PersonRows``: the SQLite tables or the MongoDB collection the store
writes with every Patient), so a Patient written by any process is matched by every worker at its next enquiry,
and a deleted one never again; nothing is read into memory at start.
"""

from __future__ import annotations

import threading
from typing import Any

from mais_node.enquiry.model import Match
from mais_node.fhir.service import ResourceService
from mais_node.matching import MATCH_GRADE_EXTENSION, Candidate, from_fhir_patient, match_grade_summary
from mais_node.matching.blocking import lookup
from mais_node.matching.ports import PersonRows
from mais_node.matching.profile import profile_of
from mais_node.matching.rows import rank
from mais_node.policy import MatchGrade

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"


class IndexedPersons:
    """The ``PersonMatcher`` port over a ``PersonRows`` index kept by the store."""

    def __init__(self, resources: ResourceService, rows: PersonRows) -> None:
        self.resources = resources
        self.rows = rows
        self._ensured = False
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Make sure the index is built (once per store: one that holds Patients but no index rows is indexed now);
        the number of people that build indexed, 0 when the index was already there."""
        if self._ensured:
            return 0
        with self._lock:
            built = 0 if self._ensured else self.rows.ensure()
            self._ensured = True
            return built

    def candidates(self, subject: dict[str, Any], limit: int = 5) -> list[Candidate]:
        """The best candidates for an enquiry's subject (a FHIR Patient), strongest first."""
        self.refresh()
        profile = profile_of(from_fhir_patient({**subject, "id": "subject"}))
        return rank(profile, self.rows.block(lookup(profile)), limit)

    def match(self, subject: dict[str, Any]) -> Match:
        candidates = self.candidates(subject)
        while True:
            summary = match_grade_summary(candidates)
            best = summary.best
            if best is None:
                return Match(MatchGrade.CERTAINLY_NOT)
            stored = self.resources.store.read("Patient", best.id)
            if stored is not None and not stored.deleted:
                nhs = _nhs_number(stored.body)
                return Match(MatchGrade(summary.grade.value), best.id, best.score, summary.ambiguous, nhs)
            # Only after a crash between a MongoDB write's two steps, until its repair: never answer with it.
            candidates = [candidate for candidate in candidates if candidate.id != best.id]


def _nhs_number(patient: dict[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


def match_bundle(persons: IndexedPersons, subject: dict[str, Any], base: str) -> dict[str, Any]:
    """FHIR R4 ``Patient/$match`` output: a searchset of candidates with score and match grade (R4 §Patient)."""
    entries = []
    for candidate in persons.candidates(subject):
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
