"""Verification (DESIGN §7, issue 6): each kind of tampering is caught and the first bad record is named."""

from __future__ import annotations

import dataclasses

import pytest

from mais_node.adapters.jose_signer import JoseSigner, generate_es384
from mais_node.audit.chain import chain_hash
from mais_node.audit.checkpoint import Checkpoint, Checkpointer, sign_checkpoint
from mais_node.audit.memory import MemoryAuditLog
from mais_node.audit.port import AuditRecord
from mais_node.audit.verify import verify
from mais_node.clock import FixedClock
from tests.unit.audit.audit_builders import decision_event, fill


@pytest.fixture
def chain(log: MemoryAuditLog) -> list[AuditRecord]:
    fill(log, 10)
    return list(log.scan())


def test_an_untouched_log_verifies(chain: list[AuditRecord]) -> None:
    report = verify(chain)
    assert report.ok
    assert report.records == 10
    assert report.last_seq == 10
    assert "verified" in str(report)


def test_an_empty_log_verifies() -> None:
    assert verify([]).ok


def test_a_changed_field_is_named(chain: list[AuditRecord]) -> None:
    chain[3] = dataclasses.replace(chain[3], event=chain[3].event | {"outcome": "8"})
    report = verify(chain)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 4, "changed")
    assert "record 4 changed" in str(report)


def test_a_deleted_record_is_named(chain: list[AuditRecord]) -> None:
    del chain[5]
    report = verify(chain)
    assert (report.first_bad_seq, report.problem) == (6, "removed")


def test_a_deleted_first_record_is_named(chain: list[AuditRecord]) -> None:
    report = verify(chain[1:])
    assert (report.first_bad_seq, report.problem) == (1, "removed")


def test_two_swapped_records_are_named(chain: list[AuditRecord]) -> None:
    a, b = chain[4], chain[5]
    chain[4] = dataclasses.replace(b, seq=a.seq)
    chain[5] = dataclasses.replace(a, seq=b.seq)
    report = verify(chain)
    assert (report.first_bad_seq, report.problem) == (5, "reordered")


def test_records_out_of_sequence_order_are_named(chain: list[AuditRecord]) -> None:
    chain[4], chain[5] = chain[5], chain[4]
    report = verify(chain)
    assert report.ok is False
    assert report.first_bad_seq == 5


def test_an_inserted_record_is_named(chain: list[AuditRecord]) -> None:
    """A forger renumbers the records after seq 4 and puts a well-formed record in at seq 5."""
    event = decision_event(org="EVIL") | {"id": "5"}
    forged = AuditRecord(5, chain[3].hash, chain_hash(5, chain[3].hash, event), chain[3].recorded, event)
    shifted = [dataclasses.replace(r, seq=r.seq + 1) for r in chain[4:]]
    report = verify([*chain[:4], forged, *shifted])
    assert (report.first_bad_seq, report.problem) == (5, "inserted")


def test_a_duplicated_seq_is_named(chain: list[AuditRecord]) -> None:
    report = verify([*chain[:3], chain[2], *chain[3:]])
    assert (report.first_bad_seq, report.problem) == (3, "inserted")


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(
    chain: list[AuditRecord], signer: JoseSigner, clock: FixedClock
) -> None:
    checkpoint = sign_checkpoint(chain[7], signer, clock.now())
    rewritten, prev = [], chain[0].prev_hash
    for record in chain:
        event = record.event | ({"outcome": "8"} if record.seq == 3 else {})
        rewritten.append(
            dataclasses.replace(record, prev_hash=prev, hash=chain_hash(record.seq, prev, event), event=event)
        )
        prev = rewritten[-1].hash
    assert verify(rewritten).ok, "without a checkpoint a full rewrite is self-consistent"
    report = verify(rewritten, checkpoint, signer)
    assert (report.first_bad_seq, report.problem) == (8, "checkpoint-mismatch")
    assert verify(chain, checkpoint, signer).ok


def test_a_tail_cut_before_the_checkpoint_is_named(
    chain: list[AuditRecord], signer: JoseSigner, clock: FixedClock
) -> None:
    checkpoint = sign_checkpoint(chain[7], signer, clock.now())
    report = verify(chain[:6], checkpoint, signer)
    assert (report.first_bad_seq, report.problem) == (7, "truncated")


def test_a_forged_checkpoint_signature_is_refused(
    chain: list[AuditRecord], signer: JoseSigner, clock: FixedClock
) -> None:
    genuine = sign_checkpoint(chain[7], signer, clock.now())
    other_key = sign_checkpoint(chain[7], JoseSigner(generate_es384()), clock.now())
    for forged in (
        dataclasses.replace(genuine, jws=other_key.jws),
        dataclasses.replace(genuine, jws=genuine.jws[:-6] + "AAAAAA"),
        dataclasses.replace(genuine, seq=9),
        dataclasses.replace(genuine, jws="not a jws"),
    ):
        report = verify(chain, forged, signer)
        assert (report.ok, report.problem) == (False, "bad-signature")


def test_a_checkpoint_needs_the_signer_that_verifies_it(chain: list[AuditRecord], signer: JoseSigner) -> None:
    checkpoint = sign_checkpoint(chain[0], signer, chain[0].recorded)
    with pytest.raises(ValueError, match="signer"):
        verify(chain, checkpoint)


def test_checkpointer_signs_every_n_records_and_on_demand(
    log: MemoryAuditLog, signer: JoseSigner, clock: FixedClock
) -> None:
    trail = Checkpointer(log, log, signer, clock, every=4)
    assert trail.checkpoint() is None
    for _ in range(9):
        trail.append(decision_event())
    assert [c.seq for c in log.checkpoints] == [4, 8]
    on_demand = trail.checkpoint()
    assert on_demand is not None
    assert on_demand.seq == 9
    latest = log.latest_checkpoint()
    assert latest == on_demand
    assert Checkpoint.from_json(latest.to_json()) == latest
    assert verify(log.scan(), latest, signer).ok
