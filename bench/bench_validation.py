"""Benchmark of issue 4's targets: validating a typical enquiry (Task with a contained Patient) median ≤ 1 ms,
and ``$validate-code`` median ≤ 0.2 ms. Run ``python -m bench.bench_validation``.

The validator memoises invariant verdicts, so repeating one enquiry measures it with every verdict known; the
"new subject each time" case gives every call an NHS number, name and birth date not seen before (the memo's
worst case: every invariant on the subject is evaluated)."""

from __future__ import annotations

import copy
import itertools
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mais_node.config import DEFAULTS
from mais_node.terminology import PURPOSE_VALUESET, TerminologyService, load_directory
from mais_node.validation import ENQUIRY_PROFILE, ProfileRegistry, Validator

ROOT = Path(__file__).resolve().parent.parent
ENQUIRY = DEFAULTS / "profiles" / "examples" / "mais-enquiry-valid-general-safeguarding-with-policy.json"


def measure(run: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median and 95th percentile of one call, in microseconds, after a warm-up."""
    for _ in range(min(rounds, 200)):
        run()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def nhs_numbers() -> Iterator[str]:
    """Distinct NHS numbers with a valid Modulus 11 check digit (from the 999 test range)."""
    for base in itertools.count(999000000):
        digits = str(base)
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            yield digits + str(check)


def new_subjects(enquiry: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The enquiry about ``count`` different people: NHS number, family name and birth date all new."""
    made = []
    for index, number in zip(range(count), nhs_numbers(), strict=False):
        task = copy.deepcopy(enquiry)
        subject = task["contained"][0]
        subject["identifier"][0]["value"] = number
        subject["name"][0]["family"] = f"Smith{index}"
        subject["birthDate"] = f"{2000 + index % 20}-{1 + index % 12:02d}-{1 + index % 28:02d}"
        made.append(task)
    return made


def main() -> None:
    terminology = TerminologyService(load_directory(DEFAULTS / "terminology"))
    registry = ProfileRegistry.from_directory(DEFAULTS / "profiles")
    enquiry = json.loads(ENQUIRY.read_text(encoding="utf-8"))
    profile_only = Validator(registry, terminology, structure=False)
    with_structure = Validator(registry, terminology)
    assert not profile_only.validate(enquiry, ENQUIRY_PROFILE), "the benchmark enquiry must be valid"
    fresh = Validator(registry, terminology)
    subjects = new_subjects(enquiry, 2200)
    assert not any(fresh.validate(task, ENQUIRY_PROFILE) for task in subjects[:50]), "each must be valid"
    unseen = iter(subjects)
    cases: list[tuple[str, Callable[[], Any], int]] = [
        ("validate enquiry (profile)", lambda: profile_only.validate(enquiry, ENQUIRY_PROFILE), 2000),
        ("validate enquiry (R4B structure + profile)", lambda: with_structure.validate(enquiry, ENQUIRY_PROFILE), 2000),
        ("  … new subject each time", lambda: fresh.validate(next(unseen), ENQUIRY_PROFILE), 2000),
        ("$validate-code purpose ValueSet", lambda: terminology.validate_code(PURPOSE_VALUESET, "s47-enquiry"), 20000),
    ]
    print(f"{'case':<45} {'median µs':>10} {'p95 µs':>10}")
    for name, run, rounds in cases:
        median, p95 = measure(run, rounds)
        print(f"{name:<45} {median:>10.1f} {p95:>10.1f}")


if __name__ == "__main__":
    main()
