"""Fixtures for the audit unit tests: a fixed clock, the in-memory log, the node's signer."""

from __future__ import annotations

import pytest

from mais_node.adapters.jose_signer import JoseSigner, generate_es384
from mais_node.audit.memory import MemoryAuditLog
from mais_node.clock import FixedClock
from tests.unit.audit.audit_builders import T0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def log(clock: FixedClock) -> MemoryAuditLog:
    return MemoryAuditLog(clock)


@pytest.fixture(scope="session")
def signer() -> JoseSigner:
    return JoseSigner(generate_es384())
