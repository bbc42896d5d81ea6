"""Scoring one candidate against the person asked about (DESIGN §3 "Matching"; FHIR ``$match`` grades).

The score is a weighted sum of five feature scores, each 0-1, with an unknown field scoring a neutral 0.5:

    family name 0.25   given name 0.25   date of birth 0.30   postcode 0.12   gender 0.08

Names: exact 1; nickname 0.95; a plausible typo its Jaro-Winkler similarity; a former family name, middle or
preferred name 0.95 of that; swapped name order 0.95; unrelated names 0. Date of birth: exact 1; day and month
transposed 0.8; within a year when either is estimated 0.8; one part of three wrong 0.5; else 0. Postcode:
full 1, sector 0.6, district 0.3, else 0. Gender: same 1, different 0.

Then the NHS number: agreement halves the remaining doubt (score + (1 - score) / 2); disagreement halves the
score. Grades: probable from 0.75, possible from 0.50, certainly-not below. Rules override the score:

- certain only when both NHS numbers are valid and equal, the node's record has it verified, both dates of birth
  are known, exact and equal, and the given names do not disagree;
- given names that disagree (not equal, not nicknames, not a plausible typo, not the same name written as one word
  or two) cap the grade at possible: this is the twin rule, since twins share birth date, family name and postcode;
- but equal NHS numbers, verified on either side, with equal dates of birth (or with the whole name agreeing) are
  never below probable (issue 13 §1-2): a verified number is one person's, so the field that disagrees sends the
  enquiry to review rather than answer "not known" about a person the node holds;
- dates of birth that disagree outright cap the grade at possible;
- NHS numbers that disagree cap the grade at possible, and at certainly-not when both are verified.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

from rapidfuzz.distance import OSA, JaroWinkler

from mais_node.matching.grades import Candidate, Grade
from mais_node.matching.nicknames import are_nicknames, nicknames_of
from mais_node.matching.profile import Profile, profile_of
from mais_node.matching.record import PersonRecord

WEIGHTS: dict[str, float] = {
    "family": 0.25,
    "given": 0.25,
    "birth_date": 0.30,
    "postcode": 0.12,
    "gender": 0.08,
}
PROBABLE = 0.75
NHS_DIFFERS = 0.5  # the factor on the total when both NHS numbers are known and differ
POSSIBLE = 0.50
NEUTRAL = 0.5
NICKNAME = 0.95
NICKNAME_TYPO = 0.85
INITIAL = 0.7
FAMILY_AGREES = 0.88
SWAP_AGREES = 0.8
TYPO_FLOOR = 0.75  # no name within the allowed edits scores lower, so the edit distance is not computed
FORMER_OR_SECONDARY = 0.95
SWAPPED = 0.95
TRANSPOSED = 0.8
NEAR_ESTIMATED = 0.8
ONE_PART_DIFFERS = 0.5
SECTOR = 0.6
DISTRICT = 0.3
_SECTOR_DIVISOR = 37**2
_DISTRICT_DIVISOR = 37**3
_GRADES = sorted(Grade, key=lambda grade: grade.rank)  # a rank's grade
_CERTAINLY_NOT, _POSSIBLE, _PROBABLE, _CERTAIN = (grade.rank for grade in _GRADES)


class Scored(NamedTuple):
    """The outcome of comparing two profiles."""

    score: float
    grade: Grade
    features: dict[str, float]
    reasons: tuple[str, ...]


def _typo_allowed(first: str, second: str, similarity: float) -> bool:
    """A plausible keying error: one edit (two in long names); in names of three letters only when the
    letters mostly agree (Pul for Paul, not Tim for Tom)."""
    if similarity < TYPO_FLOOR:
        return False
    shorter = min(len(first), len(second))
    allowed = 2 if shorter >= 8 else 1 if shorter >= 4 or similarity >= 0.85 else 0
    return OSA.distance(first, second) <= allowed


@lru_cache(maxsize=1 << 18)
def given_pair(first: str, second: str) -> tuple[float, bool, str]:
    """Similarity of two given names, whether they agree, and why; names that disagree score 0."""
    if first == second:
        return 1.0, True, "exact"
    if are_nicknames(first, second):
        return NICKNAME, True, "nickname"
    if len(first) == 1 or len(second) == 1:
        agree = first[0] == second[0]
        return (INITIAL if agree else 0.0), agree, "initial"
    similarity = JaroWinkler.normalized_similarity(first, second)
    if _typo_allowed(first, second, similarity):
        return similarity, True, "typo"
    for nickname in nicknames_of(second):
        if _typo_allowed(first, nickname, JaroWinkler.normalized_similarity(first, nickname)):
            return NICKNAME_TYPO, True, "nickname with a typo"
    return 0.0, False, "differs"


@lru_cache(maxsize=1 << 18)
def family_pair(first: str, second: str) -> float:
    """Similarity of two family names: 1 equal, 0.9 sharing a word of a double-barrelled name, Jaro-Winkler
    for a plausible typo, else 0 (unrelated names earn nothing)."""
    if first == second:
        return 1.0
    if (" " in first or " " in second) and set(first.split()) & set(second.split()):
        return 0.9
    joined_first, joined_second = first.replace(" ", ""), second.replace(" ", "")
    similarity = JaroWinkler.normalized_similarity(joined_first, joined_second)
    if similarity >= FAMILY_AGREES or _typo_allowed(joined_first, joined_second, similarity):
        return similarity
    return 0.0


@lru_cache(maxsize=1 << 16)
def _joined(names: tuple[str, ...]) -> frozenset[str]:
    """Neighbouring given names written as one word ("san", "jay" -> "sanjay"; "mc", "kay" -> "mackay").

    The names are normalised already, so joining them needs only what of ``normalise_name`` depends on the whole
    word: the "Mc" rule, and recomposition where the join meets inside a syllable (Hangul jamo); ASCII names, the
    hot path, do no Unicode work.
    """
    out = set()
    for first, second in pairwise(names):
        word = first + second
        if not word.isascii():
            word = unicodedata.normalize("NFC", word)
        out.add("mac" + word[2:] if word.startswith("mc") and len(word) > 3 else word)
    return frozenset(out)


def _given(query: tuple[str, ...], candidate: tuple[str, ...]) -> tuple[float, bool, str]:
    if not query or not candidate:
        return NEUTRAL, True, "given name unknown"
    best = (-1.0, False, "")
    for i, first in enumerate(query):
        for j, second in enumerate(candidate):
            similarity, agree, why = given_pair(first, second)
            if i or j:
                similarity *= FORMER_OR_SECONDARY
            if (agree, similarity) > (best[1], best[0]):
                best = (similarity, agree, why)
    # "San Jay" for "Sanjay", or the other way round: tried only when no name agrees, and only for equality (sets
    # of a few words), so the common path costs nothing more; it counts as a second name would.
    if not best[1] and (not _joined(query).isdisjoint(candidate) or not _joined(candidate).isdisjoint(query)):
        return FORMER_OR_SECONDARY, True, "written as one word or two"
    return best


def _family(query: Profile, candidate: Profile) -> tuple[float, str]:
    if not query.family or not candidate.family:
        return NEUTRAL, "family name unknown"
    best, why = family_pair(query.family, candidate.family), "family name"
    for first in (query.family, *query.former):
        for second in (candidate.family, *candidate.former):
            if first is query.family and second is candidate.family:
                continue
            similarity = family_pair(first, second) * FORMER_OR_SECONDARY
            if similarity > best:
                best, why = similarity, "former family name"
    return best, why


def _birth(query: Profile, candidate: Profile) -> tuple[float, str]:
    return _birth_dates(query.birth, query.estimated, candidate.birth, candidate.estimated)


def _birth_dates(query: int, query_estimated: bool, candidate: int, candidate_estimated: bool) -> tuple[float, str]:
    if not query or not candidate:
        return NEUTRAL, "date of birth unknown"
    if query == candidate:
        return 1.0, "date of birth exact"
    qy, qm, qd = query // 10000, query // 100 % 100, query % 100
    cy, cm, cd = candidate // 10000, candidate // 100 % 100, candidate % 100
    if qy == cy and qm == cd and qd == cm:
        return TRANSPOSED, "date of birth day and month transposed"
    if (query_estimated or candidate_estimated) and abs(
        date(qy, qm, qd).toordinal() - date(cy, cm, cd).toordinal()
    ) <= 366:
        return NEAR_ESTIMATED, "date of birth estimated, within a year"
    if (qy == cy) + (qm == cm) + (qd == cd) == 2:
        return ONE_PART_DIFFERS, "date of birth differs in one part"
    return 0.0, "date of birth differs"


def _postcode(query: int, candidate: int) -> tuple[float, str]:
    if not query or not candidate:
        return NEUTRAL, "postcode unknown"
    if query == candidate:
        return 1.0, "postcode exact"
    if query // _SECTOR_DIVISOR == candidate // _SECTOR_DIVISOR:
        return SECTOR, "postcode sector"
    if query // _DISTRICT_DIVISOR == candidate // _DISTRICT_DIVISOR:
        return DISTRICT, "postcode district"
    return 0.0, "postcode differs"


def _names(query: Profile, candidate: Profile) -> tuple[float, float, bool, list[str]]:
    """Family and given similarity, taking the name order (given and family swapped) that explains more."""
    family, family_why = _family(query, candidate)
    given, agree, given_why = _given(query.given + query.preferred, candidate.given + candidate.preferred)
    reasons = [family_why, f"given name {given_why}"]
    if query.family and query.given and candidate.family and candidate.given:
        swapped_family = family_pair(" ".join(query.given), candidate.family)
        swapped_given, swapped_agree, _ = given_pair(query.family.replace(" ", ""), candidate.given[0])
        if swapped_agree and swapped_family >= SWAP_AGREES and swapped_family + swapped_given > family + given + 0.1:
            return swapped_family * SWAPPED, swapped_given * SWAPPED, True, ["name order swapped"]
    return family, given, agree, reasons


def _gender(query: int, candidate: int) -> float:
    if not query or not candidate:
        return NEUTRAL
    return 1.0 if query == candidate else 0.0


_FAMILY, _GIVEN, _BIRTH, _POSTCODE, _GENDER = (
    WEIGHTS[n] for n in ("family", "given", "birth_date", "postcode", "gender")
)


def _weighted(family: float, given: float, birth: float, postcode: float, gender: float) -> float:
    """The weighted sum, added in the features' order (the same float, bit for bit, as summing the features dict)."""
    return _FAMILY * family + _GIVEN * given + _BIRTH * birth + _POSTCODE * postcode + _GENDER * gender


def could_be_possible(query: Profile, nhs: int, birth: int, estimated: bool, postcode: int, gender: int) -> bool:
    """Whether a candidate with these fields can grade above certainly-not, whatever its names.

    The bound is ``score``'s total with both name features at their maximum of 1, the other features as they are
    and the NHS number rule applied; every step of ``score`` only lowers a total or caps a grade, and both rules
    that raise a grade (certain, and the floor at probable) need agreeing NHS numbers, which lift any total to 0.5.
    Cheap: no names are compared and no profile is built, so the index skips most of a block when the NHS numbers
    differ (the total is halved).
    """
    total = _weighted(
        1.0,
        1.0,
        _birth_dates(query.birth, query.estimated, birth, estimated)[0],
        _postcode(query.postcode, postcode)[0],
        _gender(query.gender, gender),
    )
    if query.nhs and nhs and query.nhs != nhs:
        total *= NHS_DIFFERS
    return total >= POSSIBLE - 1e-9


def _floored(query: Profile, candidate: Profile, features: dict[str, float], given: bool) -> bool:
    """The floor of issue 13 §1-2: equal NHS numbers, verified on either side, and one more identifier that agrees:
    the date of birth, or the whole name (given and family, both known on both sides)."""
    if not (features.get("nhs_number") == 1.0 and (candidate.nhs_verified or query.nhs_verified)):
        return False
    if features["birth_date"] == 1.0 and query.birth:
        return True
    named = bool(query.given and candidate.given and query.family and candidate.family)
    return named and given and features["family"] >= SWAP_AGREES


def score(query: Profile, candidate: Profile) -> Scored:
    """Compare a candidate with the person asked about: score, grade and the evidence."""
    family, given, given_agree, reasons = _names(query, candidate)
    birth, birth_why = _birth(query, candidate)
    postcode, postcode_why = _postcode(query.postcode, candidate.postcode)
    gender = _gender(query.gender, candidate.gender)
    features = {"family": family, "given": given, "birth_date": birth, "postcode": postcode, "gender": gender}
    total = _weighted(family, given, birth, postcode, gender)
    reasons += [birth_why, postcode_why]
    cap = _PROBABLE  # grades as their ranks (``Grade.rank``) until the end: the weaker of two is the smaller
    nhs_agree = bool(query.nhs) and query.nhs == candidate.nhs
    if nhs_agree:
        total += (1.0 - total) / 2
        features["nhs_number"] = 1.0
        reasons.append("NHS number agrees")
    elif query.nhs and candidate.nhs:
        total *= NHS_DIFFERS
        features["nhs_number"] = 0.0
        both_verified = query.nhs_verified and candidate.nhs_verified
        cap = _CERTAINLY_NOT if both_verified else _POSSIBLE
        reasons.append("verified NHS numbers differ" if both_verified else "NHS number differs")
    if not given_agree:
        cap = min(cap, _POSSIBLE)
        reasons.append("given names disagree: at most possible")
    if birth == 0.0:
        cap = min(cap, _POSSIBLE)
    grade = min(_PROBABLE if total >= PROBABLE else _POSSIBLE if total >= POSSIBLE else _CERTAINLY_NOT, cap)
    exact_birth = birth == 1.0 and bool(query.birth) and not (query.estimated or candidate.estimated)
    if nhs_agree and candidate.nhs_verified and exact_birth and given_agree:
        grade = _CERTAIN
        reasons.append("verified NHS number and date of birth agree")
    elif grade < _PROBABLE and _floored(query, candidate, features, given_agree):
        grade = _PROBABLE
        reasons.append("verified NHS number and date of birth (or name) agree: at least probable")
    return Scored(round(total, 4), _GRADES[grade], features, tuple(reasons))


def compare(query: PersonRecord, candidate: PersonRecord) -> Candidate:
    """Score one record against the person asked about, without an index."""
    scored = score(profile_of(query), profile_of(candidate))
    return Candidate(candidate.id, scored.score, scored.grade, scored.features, scored.reasons)
