"""An unknown name costs the same argon2 verification a wrong password does (the dummy hash is made lazily)."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from mais_node.clock import FixedClock
from mais_node.console.accounts import Accounts, SignInRefused
from mais_node.console.store import open_people_store
from tests.conftest import make_store


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


def test_an_unknown_name_and_a_wrong_password_each_verify_one_argon2_hash(tmp_path: Path, clock: FixedClock) -> None:
    store, close = make_store("sqlite", tmp_path)
    hasher = CountingHasher()
    accounts = Accounts(open_people_store(store), clock, hasher=hasher)
    accounts.add("amira", "ig-officer", "correct horse battery")
    with pytest.raises(SignInRefused) as unknown:
        accounts.sign_in("nobody", "correct horse battery")
    with pytest.raises(SignInRefused) as wrong:
        accounts.sign_in("amira", "not the password")
    assert str(unknown.value) == str(wrong.value)  # the refusal does not say which part was wrong
    assert len(hasher.verified) == 2
    assert all(verified.startswith("$argon2id$") for verified in hasher.verified)
    assert hasher.verified[0] != hasher.verified[1]  # the dummy hash, then amira's own
    close()
