"""The fan-out (issue 15 item 4), fast, against the in-memory ``Peers``: one row per partner in order, never merged;
the view back at its live deadline with the slow rows TIMED_OUT and their calls cancelled; bounded concurrency,
global and per endpoint; a circuit breaker per endpoint that failures open and refusals do not; a partner suspended
between selection and the call is not asked; one trace id on every call."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from mais_node.clock import SystemClock
from mais_node.enquiry.service import NOT_PERMITTED
from mais_node.network.breakers import Breakers
from mais_node.network.fan_out import FanOut, Limits
from mais_node.network.peers import Deadline, Partner, Trace
from mais_node.network.peers_fake import FakePeers, Scripted
from mais_node.network.rows import Exchange, Failure, RowState, Stage
from tests.unit.network.test_targets import network

FHIR = {"content-type": "application/fhir+json"}
ASK: dict[str, Any] = {"resourceType": "Parameters", "parameter": []}


def match(known: bool) -> Exchange:
    body = {"resourceType": "Parameters", "parameter": [{"name": "match", "valueBoolean": known}]}
    return Exchange(Stage.QUERY, 200, FHIR, orjson.dumps(body))


DENIED = Exchange(
    Stage.QUERY,
    403,
    FHIR,
    orjson.dumps({"resourceType": "OperationOutcome", "issue": [{"code": "forbidden", "diagnostics": NOT_PERMITTED}]}),
)
DOWN = Exchange(Stage.QUERY, failure=Failure.CONNECT, detail="refused")


def partner(ods: str) -> Partner:
    return Partner(ods, f"Organisation {ods}", f"https://{ods.lower()}.example/fhir")


def ask_all(fan_out: FanOut, partners: list[Partner], seconds: float = 2.0, trace: Trace | None = None) -> Any:
    async def main() -> Any:
        return await fan_out.ask_all(partners, ASK, deadline=Deadline.after(seconds), trace=trace or Trace.new())

    return asyncio.run(main())


def test_one_row_per_partner_in_order_each_in_its_own_state() -> None:
    peers = FakePeers(
        queries={
            "POL001": Scripted(match(True), delay=0.05),
            "GP0001": Scripted(match(False)),
            "SCH001": Scripted(DENIED, delay=0.02),
            "HV0001": Scripted(DOWN),
        }
    )
    partners = [partner(o) for o in ("POL001", "GP0001", "SCH001", "HV0001")]
    rows = ask_all(FanOut(peers, SystemClock()), partners)
    assert [(r.organisation, r.state) for r in rows] == [
        ("POL001", RowState.KNOWN),
        ("GP0001", RowState.NOT_KNOWN),
        ("SCH001", RowState.DECLINED),
        ("HV0001", RowState.ERROR),
    ]
    assert all(r.answered_at and r.latency_ms is not None for r in rows)
    assert rows[0].endpoint == "https://pol001.example/fhir"
    assert rows[0].latency_ms is not None
    assert rows[0].latency_ms >= 50


def test_the_view_comes_back_at_its_deadline_with_slow_partners_timed_out_and_cancelled() -> None:
    peers = FakePeers(queries={"POL001": Scripted(match(True)), "SLOW01": Scripted(match(False), delay=30)})
    started = time.monotonic()
    rows = ask_all(FanOut(peers, SystemClock()), [partner("POL001"), partner("SLOW01")], seconds=0.5)
    took = time.monotonic() - started
    assert [r.state for r in rows] == [RowState.KNOWN, RowState.TIMED_OUT]
    assert 0.45 <= took <= 0.6
    assert peers.in_flight == 0  # nothing left running behind the answer


def test_an_adapter_that_ignores_the_deadline_is_cancelled_at_it() -> None:
    class Stubborn(FakePeers):
        async def ask(self, partner: Partner, parameters: Any, *, deadline: Deadline, trace: Trace) -> Exchange:
            self.in_flight += 1
            try:
                await asyncio.sleep(30)
            finally:
                self.in_flight -= 1
            return match(False)

    peers = Stubborn()
    started = time.monotonic()
    rows = ask_all(FanOut(peers, SystemClock()), [partner("POL001")], seconds=0.3)
    assert time.monotonic() - started < 0.5
    assert rows[0].state is RowState.TIMED_OUT
    assert peers.in_flight == 0


def test_concurrency_is_bounded_globally_and_per_endpoint() -> None:
    peers = FakePeers(queries={f"P{i:05d}": Scripted(match(False), delay=0.05) for i in range(20)})
    partners = [partner(f"P{i:05d}") for i in range(20)]
    rows = ask_all(FanOut(peers, SystemClock(), limits=Limits(concurrency=5, per_endpoint=1)), partners)
    assert [r.state for r in rows] == [RowState.NOT_KNOWN] * 20
    assert peers.most_in_flight == 5

    same = FakePeers(queries={"POL001": Scripted(match(False), delay=0.05)})
    rows = ask_all(FanOut(same, SystemClock(), limits=Limits(concurrency=50, per_endpoint=2)), [partner("POL001")] * 6)
    assert same.most_in_flight == 2
    assert len(rows) == 6


def test_waiting_for_a_slot_past_the_deadline_is_timed_out_not_a_partner_failure() -> None:
    peers = FakePeers(queries={"SLOW01": Scripted(match(False), delay=10), "POL001": Scripted(match(False))})
    fan_out = FanOut(peers, SystemClock(), breakers=Breakers(threshold=1), limits=Limits(concurrency=1))
    rows = ask_all(fan_out, [partner("SLOW01"), partner("POL001")], seconds=0.3)
    assert [r.state for r in rows] == [RowState.TIMED_OUT, RowState.TIMED_OUT]
    assert rows[1].verdict.reason == "no connection free to ask before the view's deadline"
    assert fan_out.breakers.open_until("https://pol001.example/fhir") is None
    assert fan_out.breakers.open_until("https://slow01.example/fhir") is not None


def test_failures_open_the_breaker_and_refusals_do_not() -> None:
    now = [0.0]
    breakers = Breakers(threshold=2, open_seconds=30, clock=lambda: now[0])
    peers = FakePeers(queries={"HV0001": Scripted(DOWN), "SCH001": Scripted(DENIED)})
    fan_out = FanOut(peers, SystemClock(), breakers=breakers)
    for _ in range(3):
        ask_all(fan_out, [partner("SCH001")])
    assert breakers.open_until("https://sch001.example/fhir") is None  # three DENYs: an answer each time

    states = [ask_all(fan_out, [partner("HV0001")])[0] for _ in range(3)]
    assert [r.state for r in states] == [RowState.ERROR, RowState.ERROR, RowState.NOT_ASKED]
    assert states[2].verdict.reason == "circuit breaker open: the partner failed recently"
    asked = len([c for c in peers.calls if c.ods == "HV0001"])
    assert asked == 2  # the third view did not ask

    now[0] = 31.0  # half-open: one trial; it fails, so the breaker opens again at once
    assert ask_all(fan_out, [partner("HV0001")])[0].state is RowState.ERROR
    assert ask_all(fan_out, [partner("HV0001")])[0].state is RowState.NOT_ASKED
    now[0] = 62.0
    peers.queries["HV0001"] = Scripted(match(True))  # it recovered: the trial closes the breaker
    assert ask_all(fan_out, [partner("HV0001")])[0].state is RowState.KNOWN
    assert ask_all(fan_out, [partner("HV0001")])[0].state is RowState.KNOWN


def test_a_timed_out_partner_counts_as_a_failure() -> None:
    breakers = Breakers(threshold=1)
    peers = FakePeers(queries={"SLOW01": Scripted(match(False), delay=5)})
    fan_out = FanOut(peers, SystemClock(), breakers=breakers)
    assert ask_all(fan_out, [partner("SLOW01")], seconds=0.1)[0].state is RowState.TIMED_OUT
    assert ask_all(fan_out, [partner("SLOW01")], seconds=0.1)[0].state is RowState.NOT_ASKED


def test_a_partner_suspended_between_selection_and_the_call_is_not_asked() -> None:
    listing = network()
    listing.orgs = [o for o in listing.orgs if o.ods != "POL001"]  # gone from the register since selection
    peers = FakePeers(queries={"POL001": Scripted(match(True)), "GP0001": Scripted(match(False))})
    rows = ask_all(FanOut(peers, SystemClock(), listing=listing), [partner("POL001"), partner("GP0001")])
    assert [r.state for r in rows] == [RowState.NOT_ASKED, RowState.NOT_KNOWN]
    assert rows[0].verdict.reason == "no longer in the national register"
    assert [c.ods for c in peers.calls] == ["GP0001"]


def test_every_call_carries_the_views_trace_id() -> None:
    peers = FakePeers(queries={o: Scripted(match(False)) for o in ("POL001", "GP0001", "SCH001")})
    trace = Trace.new()
    ask_all(FanOut(peers, SystemClock()), [partner(o) for o in ("POL001", "GP0001", "SCH001")], trace=trace)
    assert {c.traceparent.split("-")[1] for c in peers.calls} == {trace.trace_id}
    assert len({c.traceparent for c in peers.calls}) == 3
