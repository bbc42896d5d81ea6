"""Verification of the audit chain (DESIGN §7: "detects any changed, removed or reordered record").

One pass, constant memory: it keeps the last two records' hashes and stops at the first bad record, naming it
and the kind of tampering. Kinds: ``changed`` (its hash does not match its content), ``removed`` (a gap in the
sequence), ``inserted`` (a record the next one skips over, or a duplicate seq), ``reordered`` (seq going back,
or a record that does not link to its predecessor), ``truncated`` (the log ends before a checkpoint),
``checkpoint-mismatch`` and ``bad-signature``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mais_node.audit.chain import GENESIS, chain_hash
from mais_node.audit.checkpoint import Checkpoint, Signer, check_signature
from mais_node.audit.port import AuditRecord


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records: int
    last_seq: int
    first_bad_seq: int | None = None
    problem: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit trail verified: {self.records} records, last seq {self.last_seq}"
        return f"audit trail NOT verified: record {self.first_bad_seq} {self.problem}: {self.detail}"


def verify(
    records: Iterable[AuditRecord], checkpoint: Checkpoint | None = None, signer: Signer | None = None
) -> VerifyReport:
    """Walk the chain from seq 1; a checkpoint is checked first, with ``signer`` (then required)."""
    if checkpoint is not None:
        if signer is None:
            raise ValueError("a checkpoint can only be trusted with the signer that verifies it")
        why = check_signature(checkpoint, signer)
        if why is not None:
            return VerifyReport(False, 0, 0, checkpoint.seq, "bad-signature", why)
    count, last_seq, last_hash, last_prev = 0, 0, GENESIS, GENESIS
    for record in records:
        bad = _first_problem(record, last_seq, last_hash, last_prev)
        if bad is not None:
            return VerifyReport(False, count, last_seq, bad[0], bad[1], bad[2])
        if checkpoint is not None and record.seq == checkpoint.seq and record.hash != checkpoint.hash:
            detail = "the record's hash differs from the signed checkpoint (the chain up to it was rewritten)"
            return VerifyReport(False, count, last_seq, record.seq, "checkpoint-mismatch", detail)
        count, last_seq, last_prev, last_hash = count + 1, record.seq, last_hash, record.hash
    if checkpoint is not None and last_seq < checkpoint.seq:
        detail = f"the log ends at seq {last_seq} but a signed checkpoint covers seq {checkpoint.seq}"
        return VerifyReport(False, count, last_seq, last_seq + 1, "truncated", detail)
    return VerifyReport(True, count, last_seq)


def _first_problem(record: AuditRecord, last_seq: int, last_hash: str, last_prev: str) -> tuple[int, str, str] | None:
    """The bad seq, kind and reason for ``record`` following a record (last_seq, last_hash, last_prev)."""
    if record.seq == last_seq:
        return record.seq, "inserted", f"a second record with seq {record.seq}"
    if record.seq < last_seq:
        return record.seq, "reordered", f"seq {record.seq} comes after seq {last_seq}"
    if record.seq > last_seq + 1:
        missing = f"{last_seq + 1}" if record.seq == last_seq + 2 else f"{last_seq + 1}..{record.seq - 1}"
        return last_seq + 1, "removed", f"records {missing} are missing"
    if record.prev_hash != last_hash:
        if last_seq > 0 and record.prev_hash == last_prev:
            return last_seq, "inserted", f"record {record.seq} links past record {last_seq}, which was put in"
        return record.seq, "reordered", f"its prev_hash does not link to record {last_seq}"
    if chain_hash(record.seq, record.prev_hash, record.event) != record.hash:
        return record.seq, "changed", "its content does not match its hash"
    return None
