"""Matching quality on labelled enquiries (issue 5 "Performance and quality"): precision and recall per grade,
false ``certain`` answers (the target is none) and the share of true matches graded probable or better.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from mais_node.matching.grades import Grade, match_grade_summary
from mais_node.matching.index import PersonIndex
from mais_node.matching.synthetic.queries import LabelledQuery

GRADED = (Grade.CERTAIN, Grade.PROBABLE, Grade.POSSIBLE)


@dataclass(slots=True)
class QualityReport:
    """Counts from a labelled run; the properties turn them into rates."""

    queries: int = 0
    true_matches: int = 0
    false_certain: int = 0
    false_probable: int = 0
    ambiguous: int = 0
    true_grade: Counter[Grade] = field(default_factory=Counter)
    best_grade: Counter[Grade] = field(default_factory=Counter)
    best_right: Counter[Grade] = field(default_factory=Counter)
    missed_by_kind: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    def precision(self, grade: Grade) -> float:
        """Of the enquiries whose best candidate has this grade, the share where it is the right person."""
        return self.best_right[grade] / self.best_grade[grade] if self.best_grade[grade] else 1.0

    def recall(self, grade: Grade) -> float:
        """Of the enquiries about someone in the index, the share whose person got this grade or better."""
        found = sum(count for got, count in self.true_grade.items() if got.at_least(grade))
        return found / self.true_matches if self.true_matches else 1.0

    @property
    def probable_or_better(self) -> float:
        """The share of true matches graded probable or certain (target at least 0.95)."""
        return self.recall(Grade.PROBABLE)


def evaluate(index: PersonIndex, queries: Iterable[LabelledQuery], limit: int = 5) -> QualityReport:
    """Match every labelled enquiry and count how the grades came out."""
    report = QualityReport()
    for labelled in queries:
        summary = match_grade_summary(index.match(labelled.query, limit=limit))
        report.queries += 1
        report.kinds[labelled.kind] += 1
        report.ambiguous += summary.ambiguous
        for candidate in summary.candidates:
            if candidate.id != labelled.expected_id:
                report.false_certain += candidate.grade is Grade.CERTAIN
                report.false_probable += candidate.grade is Grade.PROBABLE
        if summary.best is not None:
            report.best_grade[summary.grade] += 1
            report.best_right[summary.grade] += summary.best.id == labelled.expected_id
        if labelled.expected_id is not None:
            report.true_matches += 1
            grade = next((c.grade for c in summary.candidates if c.id == labelled.expected_id), Grade.CERTAINLY_NOT)
            report.true_grade[grade] += 1
            if not grade.at_least(Grade.PROBABLE):
                report.missed_by_kind[labelled.kind] += 1
    return report
