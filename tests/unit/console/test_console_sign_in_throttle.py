"""Issue 16: failed password sign-ins from one address are throttled before the argon2 hash is computed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tests.unit.console.test_console_sessions import PASSWORD, Browser, _browser

pytestmark = pytest.mark.anyio
LIMIT = 3


class CountingHasher(PasswordHasher):
    """A cheap argon2 hasher that counts the hashes it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async for b in _browser(tmp_path, console_sign_in_failures_per_minute=LIMIT):
        yield b


async def test_a_flood_of_wrong_passwords_is_answered_429_without_hashing(browser: Browser) -> None:
    hasher = CountingHasher()
    browser.console.accounts.hasher = hasher
    for _ in range(LIMIT):
        assert (await browser.sign_in(password="wrong password!")).status_code == 401
    assert hasher.verified == LIMIT
    for password in ("wrong password!", PASSWORD, "wrong again!!"):  # the right password too: nothing is checked
        throttled = await browser.sign_in(password=password)
        assert throttled.status_code == 429
        assert "Too many failed sign-ins from this address" in throttled.text
        assert int(throttled.headers["retry-after"]) > 0
    assert hasher.verified == LIMIT
    refused = browser.audit(("subtype", "110122"), ("outcome", "4"))
    assert len(refused) == LIMIT + 1  # each failure, and the one that tripped the throttle; not every 429 after
    assert sum("too many failed sign-ins" in str(e["outcomeDesc"]) for e in refused) == 1
    account = browser.console.accounts.store.get_person("olu")
    assert account is not None
    assert account.locked_until == 0.0  # the account itself is not locked by the throttled attempts
    browser.clock.advance(minutes=1)  # the next window: the address may try again
    assert (await browser.sign_in()).status_code == 303
    assert hasher.verified == LIMIT + 1


async def test_good_sign_ins_are_not_counted(browser: Browser) -> None:
    for _ in range(LIMIT + 2):
        assert (await browser.sign_in()).status_code == 303
