"""The import of the national register at a node (DESIGN §11; issue 14 item 3).

One sync: fetch (a 304 changes nothing), parse JSON, verify the authority's signature with a trusted key, read the
register (every entry well formed), refuse a serial not above the one applied (no rollback) and an expired document,
then apply the difference against the last serial in one atomic write and audit each change with both states and the
serial. A refused document changes nothing, is audited with the reason, and the last good register stays in force.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node
from mais_node.audit.port import AuditSink, Event
from mais_node.clock import Clock
from mais_node.errors import InvalidRequest, Unavailable, VersionConflict
from mais_node.network import bundle
from mais_node.network.diff import Change, diff
from mais_node.network.entries import EntryCache
from mais_node.network.model import NationalEndpoint, RegisterContent, entry_state, entry_states, header_state
from mais_node.network.national import NationalRegister, load
from mais_node.network.ports import Fetched, NetworkStore, NotModified, RegisterChanges, RegisterSource
from mais_node.network.signature import TrustedKeys, verify
from mais_node.register.model import Client, Organisation

SYNC_ACTOR = Actor(client_id="mais-register-sync")


class ImportRefused(Exception):
    """The document is not applied: ``reason`` is audited and reported."""

    def __init__(self, reason: str, serial: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.serial = serial


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one sync did: ``applied`` a new serial (with its changes), or found it ``unchanged``."""

    serial: int | None
    applied: bool
    changes: list[Change] = field(default_factory=list)


@dataclass
class RegisterImport:
    source: RegisterSource
    source_name: str  # the URL or file, for the audit record
    trust: TrustedKeys
    store: NetworkStore
    national: NationalRegister
    audit: AuditSink
    clock: Clock
    node: Node
    _etag: str | None = None
    _entries: EntryCache = field(default_factory=EntryCache)  # the entries of the serial applied last, as read
    last_refusal: str | None = None  # why the last sync applied nothing, for /readyz (None: it went well)

    def sync(self) -> ImportResult:
        """One import; ImportRefused (audited) when the document is not applied."""
        try:
            result = self._sync()
        except ImportRefused as refused:
            self.last_refusal = refused.reason
            self._record(refused.serial, accepted=False, reason=refused.reason)
            raise
        self.last_refusal = None
        return result

    def _sync(self) -> ImportResult:
        try:
            fetched = self.source.fetch(self._etag)
        except Unavailable as exc:
            raise ImportRefused(f"the register could not be fetched: {exc.diagnostics}") from exc
        if isinstance(fetched, NotModified):  # the common poll: one small read, nothing parsed
            return ImportResult(self.store.national_serial(), applied=False)
        with _no_cycle_collection():
            return self._import(fetched)

    def _import(self, fetched: Fetched) -> ImportResult:
        try:
            document = orjson.loads(fetched.body)
        except orjson.JSONDecodeError as exc:
            raise ImportRefused("the register is not JSON (truncated or not a document)") from exc
        if not isinstance(document, dict):
            raise ImportRefused("the register is not a JSON object")
        previous = self._previous()
        try:
            reading = self._entries.reading(document, previous.serial if previous else None)
            verify(document, self.trust, reading)
            content = bundle.parse(document, reading, previous)
        except InvalidRequest as exc:
            raise ImportRefused(exc.diagnostics, _claimed_serial(document)) from exc
        if previous is not None and content.serial <= previous.serial:
            applied = self.store.national() if content.serial == previous.serial else None
            if applied is not None and _digest(fetched.body) == applied.digest:  # the same document again
                self._etag = fetched.etag
                return ImportResult(content.serial, applied=False)
            raise ImportRefused(
                f"serial {content.serial} is not above the applied serial {previous.serial} (rollback refused)",
                content.serial,
            )
        now = self.clock.now()
        if datetime.fromisoformat(content.expires) <= now:
            raise ImportRefused(f"serial {content.serial} expired at {content.expires}", content.serial)
        changes = self._apply(content, previous, fetched.body, now)
        self._etag = fetched.etag
        if changes is None:  # another worker applied a register first
            return ImportResult(self.store.national_serial(), applied=False)
        self._entries.keep(content.serial, reading)
        return ImportResult(content.serial, applied=True, changes=changes)

    def _previous(self) -> RegisterContent | None:
        """The register in force: this worker's parsed copy when it is current, else read from the store."""
        serial = self.store.national_serial()
        if serial is None:
            return None
        cached = self.national.content()
        if cached is not None and cached.serial == serial:
            return cached
        stored = self.store.national()
        return load(stored) if stored else None

    def _apply(
        self, content: RegisterContent, previous: RegisterContent | None, body: bytes, now: datetime
    ) -> list[Change] | None:
        """Record every change, then apply them all in one write: no change is ever in force without its record.
        None when another worker applied a register first."""
        changes = diff(previous, content)
        events = [
            balp.national_change(
                self.node,
                now,
                SYNC_ACTOR,
                serial=content.serial,
                target=change.target,
                action=change.action,
                before=_json(change.before),
                after=_json(change.after),
            )
            for change in changes
        ]
        events.append(self._event(content.serial, accepted=True, changes=len(changes)))
        self.audit.append_many(events)
        written = RegisterChanges(
            content.serial, header_state(content), _entries(content, previous, changes), _digest(body), now.isoformat()
        )
        try:
            self.store.put_national(written, expected_serial=previous.serial if previous else None)
        except VersionConflict:
            # Another worker applied a register first (the same serial, as a rule): say so beside the records above.
            reason = f"serial {content.serial} not applied by this worker: another applied a register first"
            self.audit.append(self._event(content.serial, accepted=False, reason=reason))
            return None
        self.national.applied(content)
        return changes

    def _record(self, serial: int | None, *, accepted: bool, reason: str | None = None) -> None:
        self.audit.append(self._event(serial, accepted=accepted, reason=reason))

    def _event(self, serial: int | None, *, accepted: bool, reason: str | None = None, changes: int = 0) -> Event:
        return balp.register_import(
            self.node,
            self.clock.now(),
            SYNC_ACTOR,
            source=self.source_name,
            serial=serial,
            accepted=accepted,
            reason=reason,
            changes=changes,
        )


def _entries(
    content: RegisterContent, previous: RegisterContent | None, changes: list[Change]
) -> dict[str, bytes | None]:
    """What the store writes: every entry on the first import, then only those that changed (None: removed)."""
    if previous is None:
        return dict(entry_states(content))
    found: dict[str, Mapping[str, Organisation | NationalEndpoint | Client]] = {
        "organisation": content.organisations,
        "endpoint": content.endpoints,
        "system": content.systems,
    }
    written: dict[str, bytes | None] = {}
    for change in changes:
        entry = found[change.kind].get(change.key)
        written[change.target] = None if entry is None else entry_state(entry)
    return written


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a document is read: its JSON makes some 100,000 containers at once, and
    each batch of them sets off a collection walking every object of the process (in the benchmark, about half of a
    first import and a third of a one-change import; docs/performance.md). The document and the register hold no
    reference cycle, so reference counting frees them as ever; collection resumes when the import ends, refused or
    not (it is deferred, never skipped)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _json(state: dict[str, object] | None) -> str | None:
    return None if state is None else orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()


def _claimed_serial(document: dict[str, object]) -> int | None:
    """The serial a refused document claims (for the audit record only: it is not trusted)."""
    identifier = document.get("identifier")
    value = identifier.get("value") if isinstance(identifier, dict) else None
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) <= 18 else None
