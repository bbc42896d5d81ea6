"""Native invariant evaluators reach fhirpathpy's verdict on every input, and give way to it whenever the profile's
expression or the focus's shape is not the one they were written for (see ``mais_node.validation.native``)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import Issue
from mais_node.terminology import TerminologyService, load_directory
from mais_node.validation import PERSON_PROFILE, PROFILE_BASE, ProfileRegistry, Validator, plan
from mais_node.validation.native import (
    NATIVE,
    NHS_NUMBER_FORMAT,
    NHS_NUMBER_MODULUS_11,
    NHS_NUMBER_SYSTEM,
    PERSON_MINIMUM,
    nhs_number_format,
    nhs_number_modulus_11,
    person_minimum,
)
from mais_node.validation.plan import Invariant, compile_profile
from tests.unit.validation.mutations import sample

ROOT = Path(__file__).resolve().parents[3]
PROFILES = DEFAULTS / "profiles"
EXAMPLES = sorted((PROFILES / "examples").glob("*.json"))
PERSON_DEFINITION = json.loads((PROFILES / "StructureDefinition-mais-person.json").read_text(encoding="utf-8"))
REGISTRY = ProfileRegistry.from_directory(PROFILES)
TERMINOLOGY = TerminologyService(load_directory(DEFAULTS / "terminology"))
OTHER_SYSTEM = "https://example.org/la/person-id"
ABSENT = object()  # a member left out, as opposed to given as null

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
UNICODE_ZEROS = {
    "Arabic-Indic": 0x0660,
    "Extended Arabic-Indic": 0x06F0,
    "Devanagari": 0x0966,
    "Bengali": 0x09E6,
    "full-width": 0xFF10,
    "mathematical bold": 0x1D7CE,
}
STRANGERS = ["a", "O", "l", " ", "-", "+", ".", ",", "\n", "\t", "\r", "\x00", "\u00e9", "\U0001f600"]
STRANGERS += ["\u00b2", "\u00bd", "\u2164", "\u0663", "\uff13"]  # superscript two, one half, Roman five, digits


def invariants(expression: str) -> list[Invariant]:
    """Every compiled invariant in the registry with this expression text."""
    return [
        i for url in REGISTRY.urls() for rule in REGISTRY.plan(url).rules for i in rule.invariants
        if i.expression == expression
    ]  # fmt: skip


def reference(invariant: Invariant) -> Invariant:
    """The same invariant evaluated by fhirpathpy alone."""
    return dataclasses.replace(invariant, native=None)


def check_digit(stem: str) -> int:
    """The Modulus 11 check digit of nine digits: 0-9, or 10 when no digit makes a valid number."""
    return (11 - sum(int(d) * w for d, w in zip(stem, WEIGHTS, strict=True)) % 11) % 11


def nhs_stems() -> list[str]:
    """1500 random nine-digit stems, and more whose check digit would be 10 (no valid number has that stem)."""
    rng = random.Random("mais-nhs-1 stems")
    stems = [f"{rng.randrange(10**9):09d}" for _ in range(1500)]
    return stems + [stem for stem in (f"{n:09d}" for n in range(100_000_000, 100_001_000)) if check_digit(stem) == 10]


def nhs_number_cases() -> Iterator[Any]:
    """Every check digit after each stem, and every way a value can fail to be an NHS number."""
    rng = random.Random("mais-nhs-1")
    stems = nhs_stems()
    for stem in stems:
        for digit in "0123456789":
            yield stem + digit
    valid = [stem + str(check_digit(stem)) for stem in stems[:300] if check_digit(stem) < 10]
    for number in valid[:40]:
        for position in (0, 4, 9):
            for stranger in STRANGERS:
                yield number[:position] + stranger + number[position + 1 :]
                yield number[:position] + stranger + number[position:]
        for padding in (" ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u2003"):
            yield padding + number
            yield number + padding
            yield padding + number + padding
        yield number[:9]
        yield number + "0"
        yield number[::-1]
        yield f"{number[:3]} {number[3:6]} {number[6:]}"
        yield f"{number[:3]}-{number[3:6]}-{number[6:]}"
        yield "+" + number[1:]
        yield "-" + number[1:]
        for name, zero in UNICODE_ZEROS.items():
            whole = "".join(chr(zero + int(d)) for d in number)
            assert whole != number, name
            yield whole
            yield number[:5] + chr(zero + int(number[5])) + number[6:]
    for length in range(13):
        for _ in range(20):
            yield "".join(rng.choice("0123456789") for _ in range(length))
    yield ""
    yield from (None, 9434765919, 943476591.9, 9434765919.0, True, False, 0, [], ["9434765919"], {})
    yield from ({"value": "9434765919"}, [9434765919], ["9434765919", "9434765919"], [[]])


def present(members: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in members.items() if v is not ABSENT}


def objects(plain: dict[str, list[Any]], odd: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """Every combination of the members' plain values, then each odd value of a member among some of those."""
    combinations = [dict(zip(plain, values, strict=True)) for values in itertools.product(*plain.values())]
    for combination in combinations:
        yield present(combination)
    for member, values in odd.items():
        for value in values:
            for combination in combinations[:: max(1, len(combinations) // 12)]:
                yield present({**combination, member: value})


def identifier_items() -> Iterator[Any]:
    """Identifiers varying each member the invariant reads (and primitive extensions), and some not objects."""
    extension = {"extension": [{"url": "https://example.org/reason", "valueString": "x"}]}
    plain: dict[str, list[Any]] = {
        "system": [
            ABSENT,
            None,
            NHS_NUMBER_SYSTEM,
            OTHER_SYSTEM,
            "",
            NHS_NUMBER_SYSTEM + " ",
            NHS_NUMBER_SYSTEM.upper(),
        ],
        "value": [ABSENT, None, "", "9434765919", "not a number"],
        "_value": [ABSENT, None, extension, {}],
    }
    odd: dict[str, list[Any]] = {
        "system": [1, [NHS_NUMBER_SYSTEM], {"value": NHS_NUMBER_SYSTEM}],
        "value": [9434765919, False, [], ["9434765919"], {}],
        "_value": [[], [extension], "x"],
        "_system": [extension, None],
    }
    yield from objects(plain, odd)
    yield from (None, "x", 1, [], [{"system": NHS_NUMBER_SYSTEM, "value": "1"}])


def name_items() -> Iterator[Any]:
    """Human names varying each member the invariant reads (and primitive extensions), and some not objects."""
    extension = {"extension": [{"url": "https://example.org/x", "valueCode": "x"}]}
    plain: dict[str, list[Any]] = {
        "family": [ABSENT, None, "", "Smith"],
        "given": [ABSENT, None, [], [""], ["Ann"], ["Ann", "Bo"]],
        "_family": [ABSENT, None, extension],
    }
    odd: dict[str, list[Any]] = {
        "family": [1, ["Smith"], {}],
        "given": ["Ann", [None], [1], [["Ann"]], {}],
        "_family": [[extension], "x"],
        "_given": [[extension], [None, extension], None],
    }
    yield from objects(plain, odd)
    yield from (None, "Smith", 1, [])


def birth_dates() -> list[tuple[Any, Any]]:
    """``birthDate`` and ``_birthDate`` pairs: present, absent, null, wrong types, the extension alone."""
    accuracy = {"extension": [{"url": "https://example.org/accuracy", "valueCode": "EAA"}]}
    found = list(itertools.product([ABSENT, None, "", "2014-03-02"], [ABSENT, None, accuracy, {}]))
    odd_dates: list[Any] = [20140302, ["2014-03-02"], {}, True]
    found += [(date, ABSENT) for date in odd_dates]
    found += [("2014", extension) for extension in ([], [accuracy], "x")]
    return found


def patient(identifier: Any = ABSENT, name: Any = ABSENT, birth: tuple[Any, Any] = (ABSENT, ABSENT)) -> Any:
    members = {"identifier": identifier, "name": name, "birthDate": birth[0], "_birthDate": birth[1]}
    return {"resourceType": "Patient", "gender": "female", **present(members)}


def person_cases() -> Iterator[Any]:
    """Patients varying every element mais-person-1 reads: each identifier and name shape in both branches of the
    ``iif``, every birth date pair with every name list, and random mixes of several identifiers and names."""
    complete_name = [{"family": "Smith", "given": ["Ann"]}]
    nhs = {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}
    other = {"system": OTHER_SYSTEM, "value": "LA-1"}
    identifiers = list(identifier_items())
    names = list(name_items())
    for item in identifiers:
        for shape in ([item], [other, item], [item, nhs], item):
            yield patient(shape)
            yield patient(shape, complete_name, ("2014-03-02", ABSENT))
    name_lists = [ABSENT, None, [], complete_name, [{"family": "Smith"}, {"given": ["Ann"]}], {"family": "Smith"}]
    for item in names:
        name_lists.append([item])
        for shape in ([item], [{"given": ["Jo"]}, item], item):
            yield patient(name=shape, birth=("2014-03-02", ABSENT))
            yield patient([other], shape, ("2014-03-02", ABSENT))
            yield patient([nhs], shape)
    for birth, name_list in itertools.product(birth_dates(), name_lists[:: max(1, len(name_lists) // 40)]):
        yield patient([other], name_list, birth)
        yield patient(ABSENT, name_list, birth)
    for identifier_top in (ABSENT, None, [], {"system": NHS_NUMBER_SYSTEM}, "x"):
        for name_top in (ABSENT, None, [], {"family": "Smith"}, "x"):
            yield patient(identifier_top, name_top, ("2014", ABSENT))
            yield {**patient(identifier_top, name_top, ("2014", ABSENT)), "_identifier": [None], "_name": {}}
    rng = random.Random("mais-person-1")
    births = birth_dates()
    for _ in range(3000):
        chosen_identifiers = [rng.choice(identifiers) for _ in range(rng.randrange(4))]
        chosen_names = [rng.choice(names) for _ in range(rng.randrange(4))]
        yield patient(chosen_identifiers, chosen_names, rng.choice(births))
    yield from (None, "Patient", 1, [], [patient([nhs])], {})


CASES: dict[str, Callable[[], Iterator[Any]]] = {
    NHS_NUMBER_FORMAT: nhs_number_cases,
    NHS_NUMBER_MODULUS_11: nhs_number_cases,
    PERSON_MINIMUM: person_cases,
}


def test_every_native_evaluator_has_an_equivalence_test_and_a_profile_that_uses_it() -> None:
    assert set(CASES) == set(NATIVE)
    for expression, native in NATIVE.items():
        found = invariants(expression)
        assert found, f"no profile has the expression {expression!r}: update or remove its native evaluator"
        assert all(invariant.native is native for invariant in found)


@pytest.mark.parametrize("expression", list(CASES), ids=["mais-nhs-2", "mais-nhs-1", "mais-person-1"])
def test_native_verdict_is_fhirpathpys_on_every_generated_focus(expression: str) -> None:
    (invariant,) = invariants(expression)
    slow = reference(invariant)
    assert invariant.native is not None
    assert slow.native is None
    cases = list(CASES[expression]())
    verdicts = [slow.holds(focus) for focus in cases]
    mismatches = [
        f"{focus!r}: {got} != {wanted}"
        for focus, wanted in zip(cases, verdicts, strict=True)
        if (got := invariant.holds(focus)) is not wanted
    ]
    assert mismatches == []
    handled = [invariant.native(focus) is not None for focus in cases]
    assert len(cases) > 5000
    assert sum(handled) > 2000, "the native evaluator must decide thousands of these foci itself"
    decided = [verdict for verdict, native in zip(verdicts, handled, strict=True) if native]
    assert decided.count(True) > 500
    assert decided.count(False) > 500


def test_nhs_number_cases_cover_every_check_digit_and_the_remainder_ten() -> None:
    cases = set(filter(lambda case: isinstance(case, str), nhs_number_cases()))
    stems = nhs_stems()
    assert len(set(stems)) > 1500
    assert all(stem + digit in cases for stem in stems for digit in "0123456789")
    assert sum(1 for stem in stems if check_digit(stem) == 10) > 150


def test_nhs_number_native_decides_every_string_and_no_other_value() -> None:
    for focus in nhs_number_cases():
        assert (nhs_number_modulus_11(focus) is None) is (type(focus) is not str), repr(focus)
        assert (nhs_number_format(focus) is None) is (type(focus) is not str), repr(focus)
    assert nhs_number_modulus_11("9434765919") is True
    assert nhs_number_modulus_11("9434765919\n") is True  # like fhirpathpy's matches(), which is re.search
    assert nhs_number_modulus_11("9434765918") is False
    # Not ten ASCII digits: the format invariant (mais-nhs-2) refuses it, so the check digit is not spoken of.
    assert nhs_number_modulus_11("٩٤٣٤٧٦٥٩١٩") is True
    assert nhs_number_format("٩٤٣٤٧٦٥٩١٩") is False
    assert nhs_number_modulus_11("943 476 5919") is True
    assert nhs_number_format("943 476 5919") is False
    assert nhs_number_format("9434765918") is True


def test_person_native_decides_the_plain_shapes_and_leaves_the_rest() -> None:
    accuracy = {"extension": [{"url": "https://example.org/accuracy", "valueCode": "EAA"}]}
    subject = json.loads((PROFILES / "examples" / "mais-person-valid-full.json").read_text(encoding="utf-8"))
    assert person_minimum(subject) is True
    assert person_minimum(patient(name=[{"family": "Smith", "given": ["Ann"]}], birth=(ABSENT, accuracy))) is True
    assert person_minimum(patient(name=[{"family": "Smith", "given": []}], birth=("2014", ABSENT))) is False
    assert person_minimum(patient([{"system": NHS_NUMBER_SYSTEM, "_value": accuracy}])) is True
    for unhandled in (
        patient([{"system": NHS_NUMBER_SYSTEM, "value": 9434765919}]),
        patient([{"system": NHS_NUMBER_SYSTEM, "value": "1", "_system": accuracy}]),
        patient(name=[{"family": "Smith", "given": [None]}], birth=("2014", ABSENT)),
        patient(name=[{"family": "Smith", "given": ["Ann"], "_given": [accuracy]}], birth=("2014", ABSENT)),
        patient(birth=("2014", [accuracy])),
        {**patient(), "_identifier": [accuracy]},
        [patient()],
    ):
        assert person_minimum(unhandled) is None, unhandled


NAMED = patient(name=[{"family": "S", "given": ["A"]}])
NUMBERED = patient([{"system": NHS_NUMBER_SYSTEM, "value": "1"}])


def edited(key: str, edit: Callable[[str], str]) -> dict[str, Any]:
    """The person profile with one invariant's expression edited."""
    definition: dict[str, Any] = copy.deepcopy(PERSON_DEFINITION)
    constraints = [c for e in definition["differential"]["element"] for c in e.get("constraint", ()) if c["key"] == key]
    assert len(constraints) == 1
    constraints[0]["expression"] = edit(constraints[0]["expression"])
    return definition


def compiled(definition: dict[str, Any], key: str) -> Invariant:
    (invariant,) = [i for rule in compile_profile(definition).rules for i in rule.invariants if i.key == key]
    return invariant


@pytest.mark.parametrize(
    ("key", "edit", "focus", "native_verdict"),
    [
        ("mais-nhs-1", lambda e: e.replace("mod 11", "mod 7"), "9434765912", False),
        ("mais-nhs-1", lambda e: e.replace("mod 11", "mod 7"), "9990000018", True),
        ("mais-nhs-1", lambda e: e + " ", "9434765919", True),
        ("mais-person-1", lambda e: e.replace(" and birthDate.exists()", ""), NAMED, False),
        ("mais-person-1", lambda e: e.replace("true", "false"), NUMBERED, True),
    ],
    ids=["nhs mod 7 passes it", "nhs mod 7 fails it", "nhs trailing space", "person no birth date", "person iif false"],
)  # fmt: skip
def test_an_edited_expression_is_evaluated_by_fhirpathpy(
    key: str, edit: Callable[[str], str], focus: Any, native_verdict: bool
) -> None:
    original = compiled(PERSON_DEFINITION, key)
    changed = compiled(edited(key, edit), key)
    assert original.native is not None
    assert changed.native is None
    assert changed.expression != original.expression
    assert original.native(focus) is native_verdict
    assert changed.holds(focus) is changed.evaluate(focus)[0]
    if changed.expression.strip() != original.expression:
        assert changed.holds(focus) is not native_verdict, "the edit must change the verdict, or the test shows nothing"


def test_an_edited_profile_changes_what_the_validator_reports() -> None:
    """The registry compiles an edited profile without the native evaluator: mod 7 rejects a Modulus 11 number."""
    definitions = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(PROFILES.glob("StructureDefinition-*.json"))
    ]
    mod_7 = edited("mais-nhs-1", lambda e: e.replace("mod 11", "mod 7"))
    registry = ProfileRegistry([mod_7 if d["url"] == PERSON_PROFILE else d for d in definitions])
    subject = patient([{"system": NHS_NUMBER_SYSTEM, "value": "9990000018"}])
    assert Validator(REGISTRY, TERMINOLOGY).validate(subject, PERSON_PROFILE) == []
    issues = Validator(registry, TERMINOLOGY).validate(subject, PERSON_PROFILE)
    assert [i.code for i in issues] == ["invariant"]
    assert issues[0].diagnostics.startswith("mais-nhs-1")


def spied(invariant: Invariant) -> tuple[Invariant, list[Any]]:
    """The invariant with its fhirpathpy evaluation recording each focus it is given."""
    seen: list[Any] = []

    def evaluate(value: Any) -> list[Any]:
        seen.append(value)
        return invariant.evaluate(value)

    return dataclasses.replace(invariant, evaluate=evaluate), seen


@pytest.mark.parametrize(
    ("expression", "handled", "unhandled"),
    [
        (NHS_NUMBER_MODULUS_11, "9434765919", 9434765919),
        (NHS_NUMBER_MODULUS_11, "9434765918", ["9434765919"]),
        (NHS_NUMBER_FORMAT, "943 476 5919", 9434765919),
        (PERSON_MINIMUM, NAMED, patient(name=[{"family": "S", "given": [None]}])),
        (PERSON_MINIMUM, NUMBERED, patient([{"system": NHS_NUMBER_SYSTEM, "value": 1}])),
    ],
)  # fmt: skip
def test_a_shape_the_native_code_does_not_handle_goes_to_fhirpathpy(
    expression: str, handled: Any, unhandled: Any
) -> None:
    (invariant,) = invariants(expression)
    spy, seen = spied(invariant)
    assert spy.holds(handled) is reference(invariant).holds(handled)
    assert seen == []
    assert spy.holds(unhandled) is reference(invariant).holds(unhandled)
    assert seen == [unhandled]


def without_natives() -> ProfileRegistry:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan, "NATIVE", {})
        registry = ProfileRegistry.from_directory(PROFILES)
    assert not any(i.native for url in registry.urls() for rule in registry.plan(url).rules for i in rule.invariants)
    return registry


def subjects() -> Iterator[dict[str, Any]]:
    """Patients whose identifiers vary: several, other systems, the system or value missing, numbers good and bad."""
    base = json.loads((PROFILES / "examples" / "mais-person-valid-full.json").read_text(encoding="utf-8"))
    rng = random.Random("mais-person-identifiers")
    pool: list[dict[str, Any]] = [{"value": "9434765919"}, {"system": NHS_NUMBER_SYSTEM}, {}]
    for _ in range(60):
        stem = f"{rng.randrange(10**9):09d}"
        number = stem + rng.choice("0123456789")
        pool.append({"system": rng.choice([NHS_NUMBER_SYSTEM, NHS_NUMBER_SYSTEM, OTHER_SYSTEM]), "value": number})
    pool += [{"system": NHS_NUMBER_SYSTEM, "value": v} for v in ("", " 9434765919", 9434765919, None, ["9434765919"])]
    for _ in range(400):
        subject = copy.deepcopy(base)
        subject["identifier"] = [dict(rng.choice(pool)) for _ in range(rng.randrange(4))]
        if rng.random() < 0.3:
            del subject["birthDate"]
        if rng.random() < 0.3:
            subject["name"] = [{"given": ["Jo"]}]
        yield subject


def test_validator_reports_the_same_issues_with_and_without_natives() -> None:
    """Whole resources: every example, its single-point mutations, and patients with varied identifiers."""
    cases: list[tuple[str, dict[str, Any]]] = [(PERSON_PROFILE, s) for s in subjects()]
    for example in EXAMPLES:
        resource = json.loads(example.read_text(encoding="utf-8"))
        stem = example.stem.split("-valid" if "-valid" in example.stem else "-invalid")[0]
        profile = f"{PROFILE_BASE}/{stem}"
        cases.append((profile, resource))
        cases += [(profile, variant) for _, variant in sample(resource, 40, example.stem)]
    fast = Validator(REGISTRY, TERMINOLOGY, memo_size=0)
    slow = Validator(without_natives(), TERMINOLOGY, memo_size=0)
    mismatches: list[str] = []
    reported: list[list[Issue]] = []
    for profile, resource in cases:
        wanted = slow.validate(resource, profile)
        got = fast.validate(resource, profile)
        reported.append(wanted)
        if got != wanted:
            mismatches.append(f"{resource}: {got} != {wanted}")
    assert mismatches == []
    assert len(cases) > 1000
    for key in ("mais-nhs-1", "mais-person-1"):
        assert sum(any(i.diagnostics.startswith(key) for i in issues) for issues in reported) > 20, key
