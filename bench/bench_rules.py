"""What the use-case rules of issue 18 cost a decision (docs/use-cases.md, docs/recommendation.md): the shipped rule
set with and without ``rules/national/*.cedar``, one enquiry per use case, every decision a memo miss.

    .venv/bin/python -m bench.bench_rules --decisions 3000

The two rule sets are asked in turn, decision by decision, so the noise of a shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime

from mais_node.adapters.cedar import CedarPolicyEngine
from mais_node.config import DEFAULTS
from mais_node.policy import (
    DecisionRequest,
    Item,
    Requester,
    RuleSet,
    compile_sharing_policies,
    load_rule_set,
    read_sharing_policy,
)

INVOLVEMENT = (Item.IS_KNOWN, Item.IS_OPEN, Item.CONTACT)
AT = datetime(2026, 6, 1, 10, tzinfo=UTC)


def requests() -> list[DecisionRequest]:
    """One enquiry of each use case, before matching."""
    children = Requester("LA0001", "la-childrens-social-care", "active", "active", verified=True)
    adults = Requester("LA0002", "la-adults-social-care", "active", "active", verified=True)
    police = Requester("POL001", "police", "active", "active", verified=True)
    return [
        DecisionRequest(children, "c", "s47-enquiry", "", INVOLVEMENT, AT),
        DecisionRequest(adults, "c", "s42-adult-safeguarding", "", INVOLVEMENT, AT, consent="given"),
        DecisionRequest(children, "c", "s17-child-in-need", "", INVOLVEMENT, AT, consent="given"),
        DecisionRequest(police, "c", "s46-police-protection", "", (Item.IS_SUBJECT_OF_PLAN,), AT),
    ]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=3000, help="decisions per rule set")
    args = parser.parse_args()
    held = [read_sharing_policy(path) for path in sorted((DEFAULTS / "sharing-policies").glob("*.json"))]
    full = load_rule_set(DEFAULTS / "rules", compile_sharing_policies(held, "NODE01"))
    core = RuleSet(full.schema, tuple(s for s in full.sources if not s.name.startswith("national/")))
    engines = {}
    for name, rules in (("without national/*.cedar", core), ("with national/*.cedar", full)):
        engine = CedarPolicyEngine()
        engine.load(rules)
        engines[name] = (engine, len(rules.sources))
    samples: dict[str, list[float]] = {name: [] for name in engines}
    shapes = requests()
    for n in range(args.decisions):
        # A client id never seen before makes every decision a memo miss: Cedar evaluates each one.
        request = replace(shapes[n % len(shapes)], client_id=f"client-{n}")
        for name, (engine, _) in engines.items():
            started = time.perf_counter()
            engine.decide(request)
            samples[name].append((time.perf_counter() - started) * 1e6)
    for name, (_, sources) in engines.items():
        kept = samples[name][len(shapes) * 10 :]
        print(
            f"{name:26} {sources} sources  median {statistics.median(kept):5.0f} us  "
            f"p95 {percentile(kept, 0.95):6.0f} us  ({len(kept)} decisions, 4 use cases in turn)"
        )


if __name__ == "__main__":
    main()
