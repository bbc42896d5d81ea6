"""The hash chain of the audit trail (DESIGN §7 "append-only and tamper-evident").

hash = SHA-256 (hex) of the canonical JSON (sorted keys, no whitespace, UTF-8) of ``{seq, prev_hash, event}``;
the first record's ``prev_hash`` is 64 zeros. Every adapter seals records with ``seal`` so the rule lives
here.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime

import orjson

from mais_node.audit.port import AuditRecord, Event
from mais_node.clock import Clock

GENESIS = "0" * 64
# What ``format_instant`` writes: a ``recorded`` already in this form is kept as it is, not parsed and written again.
_NORMAL = re.compile(r"[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00", re.ASCII)


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same bytes for the same JSON value everywhere."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def chain_hash(seq: int, prev_hash: str, event: Event) -> str:
    return hashlib.sha256(canonical_json({"seq": seq, "prev_hash": prev_hash, "event": event})).hexdigest()


def format_instant(at: datetime) -> str:
    """A FHIR instant in UTC with microseconds: fixed width, so it sorts as text."""
    # One enquiry's records share one time, so an aware time's text is made once (a naive one depends on the
    # process's local zone, so it is made each time).
    return _format_aware(at) if at.utcoffset() is not None else _format(at)


def _format(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


_format_aware = functools.lru_cache(maxsize=64)(_format)


def parse_instant(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def to_micros(at: datetime) -> int:
    """Microseconds since the epoch: how the adapters store ``recorded`` for range queries."""
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def seal(event: Event, seq: int, prev_hash: str, clock: Clock) -> AuditRecord:
    """Place ``event`` in the chain: id = str(seq), recorded normalised (stamped now if absent), hashed."""
    sealed = dict(event)
    sealed["id"] = str(seq)
    given = sealed.get("recorded")
    if isinstance(given, str) and _NORMAL.fullmatch(given):
        recorded = parse_instant(given)  # the builders' form (balp): the same text format_instant would write
    else:
        sealed["recorded"] = format_instant(parse_instant(sealed["recorded"]) if "recorded" in sealed else clock.now())
        recorded = parse_instant(sealed["recorded"])
    return AuditRecord(seq, prev_hash, chain_hash(seq, prev_hash, sealed), recorded, sealed)


def record_from(seq: int, prev_hash: str, hash_: str, event: Event) -> AuditRecord:
    """Rebuild a stored record as it is, without re-sealing, so verify sees what the store holds."""
    recorded = event.get("recorded")
    at = parse_instant(recorded) if isinstance(recorded, str) else datetime(1970, 1, 1, tzinfo=UTC)
    return AuditRecord(seq, prev_hash, hash_, at, event)
