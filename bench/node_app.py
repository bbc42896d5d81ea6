"""The node for the audit on/off comparison (issue 6): ``uvicorn --factory bench.node_app:create``.

With ``BENCH_AUDIT=off`` the checkpointer's log is a no-op in-memory sink (a test-only build: no record is kept,
hashed or written); with anything else it is the node exactly as ``mais serve`` builds it.
"""

from __future__ import annotations

import itertools
import os

from fastapi import FastAPI

from mais_node.app import create_app
from mais_node.audit.memory import MemoryAuditLog
from mais_node.audit.port import AuditRecord, Event
from mais_node.clock import SystemClock
from mais_node.config import get_settings
from mais_node.wiring import build_services


class NullAuditLog(MemoryAuditLog):
    """Takes every event and keeps none: the cost of the audit trail, removed."""

    def __init__(self) -> None:
        super().__init__()
        self._seq = itertools.count(1)
        self._clock = SystemClock()

    def append(self, event: Event) -> AuditRecord:
        return AuditRecord(next(self._seq), "", "", self._clock.now(), event)


def create() -> FastAPI:
    settings = get_settings()
    services = build_services(settings)
    if os.environ.get("BENCH_AUDIT") == "off":
        null = NullAuditLog()
        services.checkpointer._log = null  # the test-only build
        services.checkpointer._store = null
    return create_app(settings, services=services)
