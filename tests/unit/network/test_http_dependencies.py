"""The HTTP stack the single view asks partners through has what it looks for on every call (docs/performance.md)."""

from __future__ import annotations

import asyncio
import sys

from httpcore._synchronization import current_async_library


def test_httpcore_finds_sniffio_once_rather_than_searching_for_it_on_every_lock() -> None:
    async def which() -> str:
        return current_async_library()

    assert asyncio.run(which()) == "asyncio"
    assert sys.modules.get("sniffio") is not None  # imported and kept: later imports are a dictionary look-up
