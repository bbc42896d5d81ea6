"""Group commit for the audit trail: the records of concurrent enquiries written together, off the event loop.

An enquiry's records must be durable before its answer leaves (DESIGN §7), and a durable write costs a commit and
an fsync. Written inline, that write holds the event loop (and with it every other request) for the whole commit.
Here one writer thread takes every batch submitted since its last write, appends them in one ``append_many`` (one
transaction, one fsync) and then completes each submitter's future; the submitters await their future, so the event
loop goes on with other enquiries meanwhile. Each batch stays contiguous and in order in the chain; a failed write
fails every batch of the group with the same error (the node fails closed for each of those enquiries).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from mais_node.audit.port import AuditRecord, AuditSink, Event
from mais_node.errors import AuditUnavailable

log = logging.getLogger("mais_node.audit")

_Pending = tuple[list[Event], "Future[list[AuditRecord]]"]


class GroupCommit:
    """Batches of events in, one durable write per group out: ``await write(events)``, or ``append_many`` to block."""

    def __init__(self, sink: AuditSink, *, max_events: int = 512) -> None:
        self.sink = sink
        self.max_events = max_events
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.groups = 0  # writes made, for the logs and the tests: batches / groups is the grouping achieved

    def submit(self, events: Sequence[Event]) -> Future[list[AuditRecord]]:
        """Queue one batch; its future holds the batch's records once they are durable, or AuditUnavailable."""
        future: Future[list[AuditRecord]] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(AuditUnavailable("the audit trail is closed"))
                return future
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-group-commit", daemon=True)
                self._thread.start()
            self._queue.put((list(events), future))
        return future

    async def write(self, events: Sequence[Event]) -> list[AuditRecord]:
        """Await the batch's durable write without holding the event loop."""
        return await asyncio.wrap_future(self.submit(events))

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        """The ``AuditSink`` form for synchronous callers: blocks until the batch is durable."""
        return self.submit(events).result()

    def close(self) -> None:
        """Write what is queued, then stop the writer; later submissions fail closed."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group, size = [first], len(first[0])
            while size < self.max_events:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
                size += len(more[0])
            self._write(group)

    def _write(self, group: list[_Pending]) -> None:
        events = [event for batch, _ in group for event in batch]
        try:
            records = self.sink.append_many(events)
        except Exception as exc:  # every submitter must hear of the failure; the sink fails closed
            if not isinstance(exc, AuditUnavailable):
                log.exception("audit group write failed")
            message = exc.diagnostics if isinstance(exc, AuditUnavailable) else "the audit trail cannot be written"
            for _, future in group:
                failure = AuditUnavailable(message)
                failure.__cause__ = exc
                future.set_exception(failure)
            return
        self.groups += 1
        start = 0
        for batch, future in group:
            future.set_result(records[start : start + len(batch)])
            start += len(batch)
