"""The Cedar engine's decision memo gives exactly the decisions Cedar gives, and asks Cedar once per decision."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import cedarpy
import pytest

import mais_node.adapters.cedar as cedar_adapter
from mais_node.adapters.cedar import CedarPolicyEngine, _cedar_time
from mais_node.adapters.cedar_memo import DecisionMemo, TimeKey, epoch_millis
from mais_node.policy import (
    DecisionRequest,
    Item,
    MatchGrade,
    Outcome,
    PolicySource,
    RuleSet,
    SharingPolicy,
    compile_sharing_policy,
)
from mais_node.policy.outcome import Evaluation

Build = Callable[..., DecisionRequest]
NODE = "NODE01"
# Every instant the dated rules below compare the time with (agreement dates and literal time rules).
BOUNDARIES = [
    datetime(2025, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 3, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC),
    datetime(2026, 3, 2, tzinfo=UTC),
    datetime(2026, 4, 1, tzinfo=UTC),
    datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 5, 1, tzinfo=UTC),
    datetime(2026, 5, 2, 1, tzinfo=UTC),
    datetime(2026, 6, 1, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),
    datetime(2029, 1, 1, tzinfo=UTC),
]

# Local rules that compare the time with literals in every form Cedar accepts, with every operator, both ways round.
LITERAL_TIME_RULES = """
@id("local:time:exact-instant-forbids-contact")
forbid (principal, action in Action::"item:contact", resource)
when { context.time == datetime("2026-03-01T12:00:00.250Z") };

@id("local:time:offset-form-review")
permit (principal, action in Action::"refer", resource)
when { datetime("2026-03-01T13:30:00.250+0130") <= context.time && context.time <= datetime("2026-04-01") };

@id("local:time:not-that-day")
forbid (principal, action in Action::"answer", resource)
when { context.purpose == "already-open" && context.time != datetime("2026-05-01T00:00:00-0000") &&
       context.time > datetime("2026-04-30T23:59:59Z") && datetime("2026-05-02T00:00:00.000-0100") > context.time };
"""

# Reads the time through a method: the memo must key on the exact time.
NON_LITERAL_TIME_RULES = """
@id("local:time:method")
forbid (principal, action in Action::"item:contact", resource)
when { context.time.toTime() < duration("12h") };
"""


@pytest.fixture
def dated_agreements(demo_agreement: SharingPolicy) -> list[SharingPolicy]:
    """Agreements whose dates begin and end between the requests of a test, one forbidding the contact."""
    return [
        replace(demo_agreement, identifier="SHORT-2026", start=date(2026, 3, 1), end=date(2026, 3, 1)),
        replace(
            demo_agreement,
            identifier="LATE-2026",
            start=date(2026, 6, 1),
            end=date(2026, 12, 31),
            restrictions=("contact",),
        ),
        replace(
            demo_agreement,
            identifier="EARLY-2025",
            start=date(2025, 1, 1),
            end=date(2026, 2, 28),
            purposes=("already-open",),
        ),
    ]


@pytest.fixture
def dated_rules(deployed_rules: RuleSet, dated_agreements: list[SharingPolicy]) -> RuleSet:
    """The deployed rules, the dated agreements compiled, and local rules comparing the time with literals."""
    compiled = [compile_sharing_policy(agreement, NODE) for agreement in dated_agreements]
    return deployed_rules.with_sources([*compiled, PolicySource("local/50-time.cedar", LITERAL_TIME_RULES)])


def _boundary_times() -> list[datetime]:
    """Times either side of, exactly at, and half a millisecond past every boundary the dated rules hold."""
    steps = [timedelta(), timedelta(milliseconds=-1), timedelta(milliseconds=1), timedelta(microseconds=500)]
    steps += [timedelta(hours=-5), timedelta(hours=7)]
    far = [datetime(1999, 12, 31, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC), datetime(5, 1, 1, tzinfo=UTC)]
    return [instant + step for instant in BOUNDARIES for step in steps] + far


def _requests(build: Build, claims: list[SharingPolicy], seed: int, count: int) -> Iterator[DecisionRequest]:
    """Random requests drawn from a few dozen shapes and many times, so shapes repeat at times near and far."""
    rng = random.Random(seed)
    organisations = [
        {},
        {"ods": "LA0009"},
        {"type": "central-government", "ods": "GOV001"},
        {"operational_status": "Inactive"},
        {"verified": False},
        {"type": "la-adults-social-care"},
    ]
    shapes = []
    for _ in range(40):
        claimed = tuple(policy.claim() for policy in claims if rng.random() < 0.5)
        items = tuple(rng.sample(list(Item), rng.randint(1, len(Item))))
        shapes.append(
            {
                "purpose": rng.choice(
                    ["s47-enquiry", "general-safeguarding", "already-open", "s42-adult-safeguarding"]
                ),
                "requester": rng.choice(organisations),
                "sharing_policies": claimed,
                "items": items,
                "data_category": rng.choice(["involvement", "involvement", "other"]),
                "match_grade": rng.choice([None, *MatchGrade]),
            }
        )
    times = _boundary_times()
    for _ in range(count):
        yield build(at=rng.choice(times), **dict(rng.choice(shapes)))


class CountingCedar:
    """Counts the decision batches the engine sends to cedarpy, checked against a schema unlike the load probe."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = cedarpy.is_authorized_batch

        def counting(*args: object, **kwargs: object) -> object:
            self.calls += kwargs.get("schema") is not None
            return real(*args, **kwargs)

        monkeypatch.setattr(cedar_adapter.cedarpy, "is_authorized_batch", counting)


@pytest.fixture
def cedar_calls(monkeypatch: pytest.MonkeyPatch) -> CountingCedar:
    return CountingCedar(monkeypatch)


def _engines(rules: RuleSet) -> tuple[CedarPolicyEngine, CedarPolicyEngine]:
    """A memoising engine and a reference that asks Cedar every time (a memo that holds nothing)."""
    memoising, reference = CedarPolicyEngine(), CedarPolicyEngine(memo_capacity=0)
    memoising.load(rules)
    reference.load(rules)
    return memoising, reference


def test_the_memo_decides_as_cedar_across_time_boundaries_and_request_shapes(
    dated_rules: RuleSet,
    demo_agreement: SharingPolicy,
    dated_agreements: list[SharingPolicy],
    s47_request: Build,
    cedar_calls: CountingCedar,
) -> None:
    memoising, reference = _engines(dated_rules)
    requests = list(_requests(s47_request, [demo_agreement, *dated_agreements], seed=7, count=1500))

    decided = [(memoising.decide(request), reference.decide(request)) for request in requests]

    assert [memoised for memoised, _ in decided] == [fresh for _, fresh in decided]
    assert memoising._loaded is not None
    assert memoising._loaded.clock == TimeKey.among([epoch_millis(_cedar_time(instant)) or 0 for instant in BOUNDARIES])
    memo_misses = cedar_calls.calls - len(requests)
    assert 0 < memo_misses < len(requests)
    assert {fresh.outcome for _, fresh in decided} == set(Outcome)
    assert any(fresh.evaluation_errors for _, fresh in decided)


def test_the_memo_decides_as_cedar_when_the_time_is_read_by_a_method(
    deployed_rules: RuleSet, demo_agreement: SharingPolicy, s47_request: Build, cedar_calls: CountingCedar
) -> None:
    rules = deployed_rules.with_sources([PolicySource("local/50-time.cedar", NON_LITERAL_TIME_RULES)])
    memoising, reference = _engines(rules)
    requests = list(_requests(s47_request, [demo_agreement], seed=11, count=600))

    decided = [(memoising.decide(request), reference.decide(request)) for request in requests]

    assert [memoised for memoised, _ in decided] == [fresh for _, fresh in decided]
    assert memoising._loaded is not None
    assert memoising._loaded.clock == TimeKey(None)
    assert cedar_calls.calls - len(requests) < len(requests)


def test_a_rule_set_reading_the_time_otherwise_keys_on_the_exact_time(
    deployed_rules: RuleSet, s47_request: Build, cedar_calls: CountingCedar
) -> None:
    engine = CedarPolicyEngine()
    engine.load(deployed_rules.with_sources([PolicySource("local/50-time.cedar", NON_LITERAL_TIME_RULES)]))
    morning = s47_request(at=datetime(2026, 6, 1, 9, tzinfo=UTC))

    first, second = engine.decide(morning), engine.decide(replace(morning, at=morning.at + timedelta(hours=4)))

    assert cedar_calls.calls == 2
    assert first.of(Item.CONTACT).rule_ids == ("local:time:method",)
    assert second.of(Item.CONTACT).rule_ids == ("national:s47:contact-on-certain-match",)


@pytest.mark.parametrize(
    "condition",
    [
        'context.time.offset(duration("1h")) > datetime("2026-06-01")',
        'context.time.toDate() == datetime("2026-06-01")',
        'context.time > datetime("2026-06-01").offset(duration("1h"))',
        "context.time < context.time",
        '[context.time].contains(datetime("2026-06-01"))',
        "context has time",
        "context == {}",
        '(if true then context else context).time > datetime("2026-06-01")',
    ],
)
def test_any_read_of_the_time_but_a_literal_comparison_keys_on_the_exact_time(
    deployed_rules: RuleSet, condition: str
) -> None:
    rule = f'@id("local:t") forbid (principal, action, resource) when {{ {condition} }};'
    text = deployed_rules.with_sources([PolicySource("local/50-time.cedar", rule)]).text

    assert cedar_adapter._time_key(text) == TimeKey(None)


def test_rules_that_do_not_read_the_time_key_every_well_formed_time_alike(deployed_rules: RuleSet) -> None:
    rules = RuleSet(deployed_rules.schema, deployed_rules.sources[:2])

    clock = cedar_adapter._time_key(rules.text)

    assert clock == TimeKey(())
    assert clock.key("2026-06-01T10:00:00.000Z") == clock.key("1999-01-01T00:00:00.999Z") == (0, False)
    assert clock.key("5-01-01T00:00:00.000Z") == "5-01-01T00:00:00.000Z"
    assert clock.key("2026-06-01T11:00:00.000+0100") == "2026-06-01T11:00:00.000+0100"


def test_the_time_key_places_a_time_among_the_boundaries() -> None:
    clock = TimeKey.among([2000, 1000, 2000])

    keys = [clock.key(f"1970-01-01T00:00:0{ms // 1000}.{ms % 1000:03d}Z") for ms in (999, 1000, 1001, 1999, 2000, 2001)]

    assert keys == [(0, False), (0, True), (1, False), (1, False), (1, True), (2, False)]


def test_the_key_of_a_datetime_is_the_key_of_the_time_cedar_receives() -> None:
    """``key_at`` skips writing the time out; it must key every instant as ``key`` keys its Cedar rendering."""
    rng = random.Random(7)
    edge = datetime(2026, 3, 1, 12, tzinfo=UTC)
    boundaries = [epoch_millis(_cedar_time(edge + timedelta(hours=h))) or 0 for h in (-30, 0, 0.5, 49)]
    instants = [edge + timedelta(hours=h, microseconds=us) for h in (-30, 0, 0.5, 49) for us in (-1001, -1, 0, 1, 999)]
    instants += [edge + timedelta(seconds=rng.uniform(-2e5, 2e5)) for _ in range(500)]
    instants += [datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC), datetime(2, 1, 1, tzinfo=UTC)]
    instants += [i.astimezone(timezone(timedelta(hours=-5))) for i in instants[:50]]
    for clock in (TimeKey.among(boundaries), TimeKey(()), TimeKey(None)):
        for instant in instants:
            assert clock.key_at(instant, _cedar_time) == clock.key(_cedar_time(instant)), instant


@pytest.mark.parametrize(
    "literal",
    [
        "2026-03-01",
        "2026-03-01T12:00:00Z",
        "2026-03-01T12:00:00.250Z",
        "2026-03-01T13:30:00+0130",
        "2026-03-01T10:29:59.999-0130",
        "1969-12-31T23:59:59.999Z",
        "0999-01-01",
        "2024-02-29T00:00:00-2359",
    ],
)
def test_epoch_millis_reads_a_literal_as_cedar_does(literal: str) -> None:
    millis = epoch_millis(literal)

    assert millis is not None
    assert cedar_adapter._cedar_reads_alike({literal: millis})
    assert not cedar_adapter._cedar_reads_alike({literal: millis + 1})


@pytest.mark.parametrize(
    "literal", ["2026-02-30", "2026-3-01", "2026-03-01T12:00", "2026-03-01T12:00:00+2400", "२०२६-03-01"]
)
def test_epoch_millis_refuses_what_it_cannot_be_sure_of(literal: str) -> None:
    assert epoch_millis(literal) is None


def test_a_literal_cedar_reads_otherwise_makes_the_memo_key_the_exact_time(
    dated_rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cedar_adapter._time_key(dated_rules.text).boundaries is not None

    monkeypatch.setattr(cedar_adapter, "epoch_millis", lambda literal: (epoch_millis(literal) or 0) + 1)

    assert cedar_adapter._time_key(dated_rules.text) == TimeKey(None)


def test_a_repeat_decision_does_not_ask_cedar_again(
    engine: CedarPolicyEngine, s47_request: Build, cedar_calls: CountingCedar
) -> None:
    request = s47_request()

    first = engine.decide(request)
    again = engine.decide(replace(request, at=request.at + timedelta(minutes=5)))

    assert cedar_calls.calls == 1
    assert again == first


def test_a_changed_input_asks_cedar_again(
    engine: CedarPolicyEngine, s47_request: Build, cedar_calls: CountingCedar
) -> None:
    request = s47_request()

    engine.decide(request)
    engine.decide(request.at_release(MatchGrade.CERTAIN))
    engine.decide(replace(request, client_id="another-client"))
    engine.decide(s47_request(requester={"verified": False}))

    assert cedar_calls.calls == 4


def test_a_reload_starts_an_empty_memo(
    engine: CedarPolicyEngine, deployed_rules: RuleSet, s47_request: Build, cedar_calls: CountingCedar
) -> None:
    engine.decide(s47_request())
    assert engine._loaded is not None
    assert len(engine._loaded.memo) == 1

    engine.load(deployed_rules)
    engine.decide(s47_request())

    assert cedar_calls.calls == 2


def test_a_request_that_fails_in_cedar_is_not_memoised(
    engine: CedarPolicyEngine, s47_request: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(*args: object, **kwargs: object) -> object:
        raise ValueError("refused")

    monkeypatch.setattr(cedar_adapter.cedarpy, "is_authorized_batch", refusing)
    with pytest.raises(cedar_adapter.InvalidRequest):
        engine.decide(s47_request())

    assert engine._loaded is not None
    assert len(engine._loaded.memo) == 0


def test_concurrent_decisions_agree_with_cedar(
    engine: CedarPolicyEngine, deployed_rules: RuleSet, demo_agreement: SharingPolicy, s47_request: Build
) -> None:
    reference = CedarPolicyEngine(memo_capacity=0)
    reference.load(deployed_rules)
    requests = list(_requests(s47_request, [demo_agreement], seed=3, count=400))

    with ThreadPoolExecutor(max_workers=4) as pool:
        decided = list(pool.map(engine.decide, requests))

    assert decided == [reference.decide(request) for request in requests]


def test_the_memo_forgets_the_least_recently_used_first() -> None:
    memo = DecisionMemo(capacity=2)
    answer = (Evaluation(True, ("r",)),)

    memo.put("a", answer)
    memo.put("b", answer)
    assert memo.get("a") == answer
    memo.put("c", answer)

    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (answer, None, answer)
    assert len(memo) == 2
