"""Signed checkpoints of the audit chain (DESIGN §7): ``{seq, hash, time}`` signed as a compact JWS by the
node.

A checkpoint pins the chain up to ``seq``: rewriting any earlier record, or cutting the tail before it, no
longer verifies against a checkpoint whose signature still holds. Checkpoints are taken every ``every``
records (by the writer that appended a multiple of ``every``, so several writers never race for one) and on
demand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson

from mais_node.audit.chain import canonical_json, format_instant, parse_instant
from mais_node.audit.port import AuditLog, AuditRecord, CheckpointStore, Event
from mais_node.clock import Clock


class InvalidSignatureError(Exception):
    """A JWS did not verify with the node's key (or was not a JWS at all)."""


class Signer(Protocol):
    def sign(self, payload: bytes) -> str:
        """The compact JWS of ``payload`` under the node's key."""
        ...

    def verify(self, jws: str) -> bytes:
        """The payload of ``jws`` if its signature holds; raise InvalidSignatureError otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    time: datetime
    jws: str

    def payload(self) -> bytes:
        return canonical_json({"seq": self.seq, "hash": self.hash, "time": format_instant(self.time)})

    def to_json(self) -> dict[str, object]:
        """The form served over HTTP and written to a file for ``mais audit verify --checkpoint``."""
        return {"seq": self.seq, "hash": self.hash, "time": format_instant(self.time), "jws": self.jws}

    @classmethod
    def from_json(cls, data: Event) -> Checkpoint:
        return cls(int(data["seq"]), str(data["hash"]), parse_instant(str(data["time"])), str(data["jws"]))


def sign_checkpoint(record: AuditRecord, signer: Signer, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(record.seq, record.hash, parse_instant(format_instant(at)), "")
    return Checkpoint(unsigned.seq, unsigned.hash, unsigned.time, signer.sign(unsigned.payload()))


def check_signature(checkpoint: Checkpoint, signer: Signer) -> str | None:
    """Why the checkpoint's signature does not vouch for its fields, or None when it does."""
    try:
        signed = signer.verify(checkpoint.jws)
    except InvalidSignatureError as exc:
        return f"checkpoint signature does not verify: {exc}"
    try:
        same = orjson.loads(signed) == orjson.loads(checkpoint.payload())
    except orjson.JSONDecodeError:
        same = False
    return None if same else "checkpoint fields differ from the signed payload"


class Checkpointer:
    """Appends through the log, signing a checkpoint every ``every`` records; ``checkpoint()`` on demand."""

    def __init__(
        self,
        log: AuditLog,
        store: CheckpointStore,
        signer: Signer,
        clock: Clock,
        every: int = 1000,
        *,
        on_failure: Callable[[], None] | None = None,
    ):
        """``on_failure``: told when an append fails (readiness probes again, audit/readiness.py)."""
        self._log, self._store, self._signer, self._clock, self._every = log, store, signer, clock, every
        self._on_failure = on_failure

    def append(self, event: Event) -> AuditRecord:
        record = self._appended(lambda: [self._log.append(event)])[0]
        if record.seq % self._every == 0:
            self._store.put_checkpoint(sign_checkpoint(record, self._signer, self._clock.now()))
        return record

    def _appended(self, write: Callable[[], list[AuditRecord]]) -> list[AuditRecord]:
        try:
            return write()
        except Exception:  # whatever the cause, the trail did not take the record
            if self._on_failure is not None:
                self._on_failure()
            raise

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        records = self._appended(lambda: self._log.append_many(events))
        if records and records[-1].seq // self._every > (records[0].seq - 1) // self._every:
            self._store.put_checkpoint(sign_checkpoint(records[-1], self._signer, self._clock.now()))
        return records

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current tail now; None while the log is empty."""
        tail = self._log.last()
        if tail is None:
            return None
        checkpoint = sign_checkpoint(tail, self._signer, self._clock.now())
        self._store.put_checkpoint(checkpoint)
        return checkpoint
