"""Memoised invariants give exactly the issues of evaluating every invariant every time (issue 4: validation
median ≤ 1 ms without weakening a check)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import Issue
from mais_node.terminology import TerminologyService, load_directory
from mais_node.validation import PROFILE_BASE, ProfileRegistry, Validator
from mais_node.validation.memo import InvariantMemo, Uncacheable, analyse, focus_key
from mais_node.validation.plan import Invariant
from tests.unit.validation.mutations import sample, variants

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((DEFAULTS / "profiles" / "examples").glob("*.json"))
REGISTRY = ProfileRegistry.from_directory(DEFAULTS / "profiles")
TERMINOLOGY = TerminologyService(load_directory(DEFAULTS / "terminology"))
INVARIANTS = [i for url in REGISTRY.urls() for rule in REGISTRY.plan(url).rules for i in rule.invariants]
PROJECTED = [i for i in INVARIANTS if i.reads is not None]


def profile_of(example: Path) -> str:
    stem = example.stem
    return f"{PROFILE_BASE}/{stem.split('-valid' if '-valid' in stem else '-invalid')[0]}"


@functools.cache
def corpus(per_example: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Every example and a reproducible sample of its single-point mutations: (label, profile, resource)."""
    found = []
    for example in EXAMPLES:
        resource = json.loads(example.read_text())
        found.append((example.stem, profile_of(example), resource))
        for label, variant in sample(resource, per_example, example.stem):
            found.append((f"{example.stem}: {label}", profile_of(example), variant))
    return found


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the FHIRPath evaluations every validator makes from now on."""
    calls = [0]
    original: Callable[[Invariant, Any], bool] = Invariant.holds

    def holds(self: Invariant, value: Any) -> bool:
        calls[0] += 1
        return original(self, value)

    monkeypatch.setattr(Invariant, "holds", holds)
    return calls


def test_fast_path_gives_the_reference_issues_on_every_example_and_many_mutations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases = corpus(per_example=40)
    fast = Validator(REGISTRY, TERMINOLOGY)
    reference = Validator(REGISTRY, TERMINOLOGY, memo_size=0)
    calls = counting(monkeypatch)
    expected: list[list[Issue]] = [reference.validate(resource, profile) for _, profile, resource in cases]
    evaluated_by_reference = calls[0]
    calls[0] = 0
    mismatches = []
    for attempt in ("cold", "warm"):
        for (label, profile, resource), wanted in zip(cases, expected, strict=True):
            got = fast.validate(resource, profile)
            if got != wanted:
                mismatches.append(f"{attempt} {label}: {got} != {wanted}")
    assert mismatches == []
    assert len(cases) > 1000
    assert sum(1 for issues in expected if any(i.code == "invariant" for i in issues)) > 50
    assert calls[0] < evaluated_by_reference / 4, "the memo must spare most evaluations"


@pytest.mark.parametrize("invariant", PROJECTED, ids=[i.key for i in PROJECTED])
def test_an_invariant_reads_nothing_of_its_focus_outside_its_key(invariant: Invariant) -> None:
    """Every object in every example and mutation, evaluated whole and cut down to the members the key holds
    (with other members added), gives the same FHIRPath result."""
    distinct = {json.dumps(value): value for _, _, resource in corpus(per_example=40) for value in objects(resource)}
    foci = list(distinct.values())
    assert len(foci) > 1000
    noise = {k: v for k, v in NOISE.items() if k not in invariant.reads}
    outcomes = set()
    for focus in foci:
        kept = {k: v for k, v in focus.items() if k in invariant.reads}
        noisy = {**noise, **kept}
        whole = outcome(invariant, focus)
        assert outcome(invariant, kept) == whole, focus
        assert outcome(invariant, noisy) == whole, focus
        outcomes.add(repr(whole))
    assert {"[True]", "[False]"} <= outcomes, "the corpus must both keep and break the invariant"


NOISE = {"zz": [1, {"a": None}], "status": "draft", "contained": [{"resourceType": "Patient"}], "id": "x"}


def objects(value: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(value, dict):
        found.append(value)
        for child in value.values():
            found.extend(objects(child))
    elif isinstance(value, list):
        for child in value:
            found.extend(objects(child))
    return found


def outcome(invariant: Invariant, focus: Any) -> Any:
    try:
        return invariant.evaluate(focus)
    except Exception as exc:  # the validator treats any failure as a broken invariant; compare which failure
        return type(exc).__name__


@pytest.mark.parametrize(
    ("expression", "memoisable", "reads"),
    [
        ("for.reference.startsWith('#')", True, {"for", "reference", "startsWith"}),
        ("matches('^[0-9]{10}$')", True, None),
        ("name.exists() and $this.birthDate.exists()", True, None),
        ("name.exists() and %context.birthDate.exists()", True, None),
        ("exists() and name.exists()", True, None),
        ("Patient.name.exists()", True, None),
        ("name.where(given.exists()).count() > $index", True, None),
        ("iif(name.exists(), true, birthDate.exists())", True, {"iif", "name", "birthDate", "exists"}),
        ("issued <= now()", False, None),
        ("birthDate < today()", False, None),
        ("name.trace('n').exists()", False, None),
    ],
)
def test_analysis_of_what_an_expression_reads(expression: str, memoisable: bool, reads: set[str] | None) -> None:
    found_memoisable, found_reads = analyse(expression)
    assert found_memoisable is memoisable
    if reads is None:
        assert found_reads is None
    else:
        assert found_reads == {"resourceType", *reads, *(f"_{name}" for name in reads)}


def test_profiles_memoise_every_invariant_and_key_the_task_by_its_subject_alone() -> None:
    by_key = {i.key: i for i in INVARIANTS}
    assert all(i.memoisable for i in INVARIANTS)
    reads = by_key["mais-enq-1"].reads
    assert reads is not None
    assert "for" in reads
    assert not {"contained", "id", "status"} & reads


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (0.0, -0.0),
        ("1", 1),
        ([1], {"a": 1}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ({"a": [1, 2]}, {"a": [2, 1]}),
        ({"a": None}, {}),
        ("", None),
    ],
)
def test_keys_tell_apart_what_fhirpath_can_tell_apart(one: Any, other: Any) -> None:
    assert focus_key(one, None) != focus_key(other, None)


class Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [(1, 2), Text("9434765919"), {1: "a"}, {"a": {1, 2}}, "x" * 5000, [[0]] * 300],
    ids=["tuple", "str subclass", "int key", "set", "long string", "many nodes"],
)
def test_values_outside_plain_json_or_too_big_are_not_keyed(value: Any) -> None:
    with pytest.raises(Uncacheable):
        focus_key(value, None)
    with pytest.raises(Uncacheable):
        focus_key({"for": value}, frozenset({"for"}))


def test_a_projected_key_holds_only_the_members_read() -> None:
    reads = frozenset({"for", "resourceType"})
    one = {"resourceType": "Task", "id": "1", "for": {"reference": "#p"}, "status": "requested"}
    other = {"resourceType": "Task", "id": "2", "for": {"reference": "#p"}}
    assert focus_key(one, reads) == focus_key(other, reads)
    assert focus_key(one, reads) != focus_key({**other, "for": {"reference": "#q"}}, reads)
    assert focus_key(one, reads) != focus_key({**other, "resourceType": "Patient"}, reads)


def test_the_memo_evaluates_once_per_distinct_focus_and_stays_bounded() -> None:
    memo = InvariantMemo(size=2)
    seen: list[Any] = []

    def evaluate(value: Any) -> bool:
        seen.append(value)
        return value == "ok"

    assert memo.holds("e", None, "ok", evaluate) is True
    assert memo.holds("e", None, "ok", evaluate) is True
    assert memo.holds("e", None, "bad", evaluate) is False
    assert memo.holds("e", None, "bad", evaluate) is False
    assert memo.holds("other", None, "ok", evaluate) is True
    assert seen == ["ok", "bad", "ok"]
    assert len(memo) == 2
    memo.holds("e", None, "ok", evaluate)  # evicted as the least recently used: evaluated again
    assert seen == ["ok", "bad", "ok", "ok"]
    memo.holds("e", None, (1,), evaluate)
    memo.holds("e", None, (1,), evaluate)
    assert seen[-2:] == [(1,), (1,)], "a focus that cannot be keyed is evaluated every time"


def test_every_variant_of_every_example_can_be_generated() -> None:
    resource = json.loads(EXAMPLES[0].read_text())
    labels = [label for label, _ in variants(resource)]
    assert len(labels) == len(set(labels)) > 100
