"""A node's register on a real store (both adapters), with the in-memory audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mais_node.clock import FixedClock
from tests.unit.auth.support import World, make_world


@pytest.fixture
def world(tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    node = make_world(tmp_path, clock)
    yield node
    node.close()
