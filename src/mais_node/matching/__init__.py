"""Person matching for the enquiry (DESIGN §3 "Matching"; issue 5 §6; FHIR R4 ``Patient/$match`` grades).

record = from_fhir_patient(patient_json)
index = PersonIndex(records)
summary = match_grade_summary(index.match(record))   # summary.grade, summary.best, summary.ambiguous
"""

from mais_node.matching.fhir_patient import BIRTH_DATE_ACCURACY, from_fhir_patient, to_fhir_patient
from mais_node.matching.grades import (
    MATCH_GRADE_EXTENSION,
    MATCH_GRADE_SYSTEM,
    Candidate,
    Grade,
    MatchSummary,
    match_grade_summary,
)
from mais_node.matching.index import PersonIndex
from mais_node.matching.nhs_number import NHS_NUMBER_SYSTEM, nhs_number_valid
from mais_node.matching.record import Gender, PersonRecord
from mais_node.matching.scoring import compare

__all__ = [
    "BIRTH_DATE_ACCURACY",
    "MATCH_GRADE_EXTENSION",
    "MATCH_GRADE_SYSTEM",
    "NHS_NUMBER_SYSTEM",
    "Candidate",
    "Gender",
    "Grade",
    "MatchSummary",
    "PersonIndex",
    "PersonRecord",
    "compare",
    "from_fhir_patient",
    "match_grade_summary",
    "nhs_number_valid",
    "to_fhir_patient",
]
