"""One enquiry's records share their agents and source (``balp.shared_parts``): the same JSON as built alone, so the
same sealed bytes and hashes; built once per actor and policies, never shared outside the block."""

from __future__ import annotations

from collections.abc import Callable

from mais_node.audit import balp
from mais_node.audit.actors import Subject
from mais_node.audit.chain import GENESIS, canonical_json, seal
from mais_node.audit.port import Event
from mais_node.clock import FixedClock
from tests.unit.audit.audit_builders import NODE, T0, actor
from tests.unit.audit.test_audit_balp import BUILDERS

PERSON = Subject(nhs_number="9434765919")
POLICIES = ("urn:mais:sharing-policy:dsa-7",)


def _enquiry_records() -> list[Event]:
    """What one permitted enquiry writes: received, three decisions, the disclosure."""
    who = actor()
    records = [balp.enquiry_received(NODE, T0, who, enquiry_id="e1", raw_request=b"{}", subject=PERSON)]
    records += [
        balp.decision(NODE, T0, who, enquiry_id="e1", item=item, outcome="permit", rule_ids=["r1"], policies=POLICIES)
        for item in ("is-known", "is-open", "contact")
    ]
    records.append(
        balp.disclosure(NODE, T0, who, enquiry_id="e1", subject=PERSON, items=["is-known"], policies=["urn:p|2"])
    )
    return records


def _sealed(records: list[Event]) -> list[tuple[str, bytes]]:
    out, prev = [], GENESIS
    for seq, event in enumerate(records, 1):
        record = seal(event, seq, prev, FixedClock(T0))
        out.append((record.hash, canonical_json(record.event)))
        prev = record.hash
    return out


def test_records_built_with_shared_parts_seal_to_the_same_bytes_and_hashes() -> None:
    alone = _enquiry_records()
    with balp.shared_parts():
        shared = _enquiry_records()
    assert shared == alone
    assert _sealed(shared) == _sealed(alone)


def test_every_builder_gives_the_same_event_inside_the_block() -> None:
    build: Callable[[], Event]
    for name, build in BUILDERS.items():
        alone = build()
        with balp.shared_parts():
            inside = build()
        assert canonical_json(inside) == canonical_json(alone), name


def test_agents_are_built_once_per_actor_and_policies_in_the_block_and_never_outside() -> None:
    with balp.shared_parts():
        received, first, second, third, disclosed = _enquiry_records()
        with balp.shared_parts():  # a nested block is the same block
            again = balp.decision(
                NODE, T0, actor(), enquiry_id="e1", item="is-known", outcome="deny", rule_ids=[], policies=POLICIES
            )
        other = balp.decision(
            NODE, T0, actor("B2"), enquiry_id="e1", item="is-known", outcome="deny", rule_ids=[], policies=POLICIES
        )
    assert first["agent"] is second["agent"] is third["agent"] is again["agent"]
    assert received["agent"] is not first["agent"]  # no policies on the received record
    assert disclosed["agent"] is not first["agent"]  # the disclosure names the policy versions
    assert other["agent"] is not first["agent"]
    assert received["source"] is first["source"] is disclosed["source"]
    after = _enquiry_records()
    assert after[1]["agent"] is not after[2]["agent"]
    assert after[0]["source"] is not after[1]["source"]
