"""Match grades and candidates (FHIR R4 ``Patient/$match``: the ``match-grade`` extension and code system).

Two or more candidates graded probable or better make the match ambiguous: the enquiry turns that into REVIEW
(issue 5 §6) rather than guess between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

MATCH_GRADE_SYSTEM = "http://terminology.hl7.org/CodeSystem/match-grade"
MATCH_GRADE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/match-grade"


class Grade(StrEnum):
    """FHIR match-grade codes, strongest first."""

    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    CERTAINLY_NOT = "certainly-not"

    @property
    def rank(self) -> int:
        """3 for certain down to 0 for certainly-not, so grades compare as numbers."""
        return _RANKS[self]

    def at_least(self, other: Grade) -> bool:
        """True when this grade is as strong as ``other`` or stronger."""
        return self.rank >= other.rank


_RANKS = {Grade.CERTAIN: 3, Grade.PROBABLE: 2, Grade.POSSIBLE: 1, Grade.CERTAINLY_NOT: 0}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One record of the index that may be the person asked about, with the evidence for and against."""

    id: str
    score: float
    grade: Grade
    features: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchSummary:
    """The outcome of one match: the best candidate, its grade, and whether the answer is ambiguous."""

    grade: Grade
    best: Candidate | None
    ambiguous: bool
    candidates: tuple[Candidate, ...]


def match_grade_summary(candidates: Sequence[Candidate]) -> MatchSummary:
    """Summarise candidates (best first): ambiguous when two or more are graded probable or better."""
    ordered = tuple(sorted(candidates, key=lambda candidate: (-candidate.grade.rank, -candidate.score)))
    strong = sum(1 for candidate in ordered if candidate.grade.at_least(Grade.PROBABLE))
    best = ordered[0] if ordered else None
    return MatchSummary(
        grade=best.grade if best else Grade.CERTAINLY_NOT,
        best=best,
        ambiguous=strong >= 2,
        candidates=ordered,
    )
