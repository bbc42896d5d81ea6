"""Local accounts (issue 16 §2): argon2id password hashes, an optional TOTP second factor, lockout.

A run of ``lock_after`` failed sign-ins locks the account for ``lock_for`` seconds, counted in the store (each
count a conditional write), so several replicas share one count. A refusal never says which part was wrong or
whether the account exists: the person is told only that the details were not right, or that the account is
locked for a while.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mais_node.clock import Clock
from mais_node.console.people import ROLES, AccountStore, Person
from mais_node.errors import InvalidRequest, VersionConflict

NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so an unknown name costs what a wrong password does; made at
    the first such sign-in, not at import (an argon2 hash is ~0.3 s that every ``mais`` command used to pay)."""
    return _HASHER.hash("not a password anyone has")


class SignInRefused(Exception):
    """A sign-in that did not succeed; ``locked`` when the account is locked, ``person`` when the name is known."""

    def __init__(self, message: str, *, locked: bool = False, person: Person | None = None) -> None:
        super().__init__(message)
        self.locked = locked
        self.person = person


@dataclass(frozen=True, slots=True)
class Lockout:
    lock_after: int = 5
    lock_for: float = 15 * 60


class Accounts:
    def __init__(
        self, store: AccountStore, clock: Clock, lockout: Lockout | None = None, hasher: PasswordHasher = _HASHER
    ) -> None:
        self.store = store
        self.clock = clock
        self.lockout = lockout or Lockout()
        self.hasher = hasher  # verification reads its parameters from each hash: a stronger default applies to new ones

    def add(self, name: str, role: str, password: str, *, display_name: str = "", totp: bool = False) -> Person:
        """Create an account; InvalidRequest naming what is wrong, VersionConflict when the name is taken."""
        if not NAME.match(name):
            raise InvalidRequest(
                "--name must be 1-64 lower-case letters, digits or . _ @ - (starting with a letter or digit)",
                expression=("name",),
            )
        if role not in ROLES:
            raise InvalidRequest(f"--role must be one of {', '.join(ROLES)}", expression=("role",))
        if len(password) < MIN_PASSWORD:
            raise InvalidRequest(f"The password needs at least {MIN_PASSWORD} characters", expression=("password",))
        person = Person(
            name=name,
            role=role,
            password_hash=self.hasher.hash(password),
            created=self.clock.now().astimezone(UTC).isoformat(),
            display_name=display_name or name,
            totp_secret=pyotp.random_base32() if totp else None,
        )
        self.store.put_person(person, expected_version=0)
        return person

    def sign_in(self, name: str, password: str, code: str = "") -> Person:
        """The person whose name, password (and code, when the account has a second factor) these are."""
        person = self.store.get_person(name)
        if person is None:
            _verify(self.hasher, _dummy_hash(), password)
            raise SignInRefused("The name, password or code is not right")
        now = self.clock.now().timestamp()
        if person.locked_until > now:
            raise SignInRefused(
                "This account is locked after repeated failed sign-ins; try later", locked=True, person=person
            )
        good = _verify(self.hasher, person.password_hash, password) and (
            person.totp_secret is None
            or pyotp.TOTP(person.totp_secret).verify(code.strip(), for_time=self.clock.now(), valid_window=1)
        )
        if not good:
            failed = self._count_failure(person, now)
            if failed.locked_until > now:
                raise SignInRefused(
                    "This account is now locked after repeated failed sign-ins", locked=True, person=failed
                )
            raise SignInRefused("The name, password or code is not right", person=failed)
        if person.failures or person.locked_until:
            person = self._write(replace(person, failures=0, locked_until=0.0), person)
        return person

    def _count_failure(self, person: Person, now: float) -> Person:
        for _ in range(5):  # another replica counted at the same moment: count again on its version
            failures = person.failures + 1
            locked = now + self.lockout.lock_for if failures >= self.lockout.lock_after else 0.0
            try:
                return self._write(replace(person, failures=0 if locked else failures, locked_until=locked), person)
            except VersionConflict:
                fresh = self.store.get_person(person.name)
                if fresh is None:
                    return person
                person = fresh
        return person

    def _write(self, new: Person, old: Person) -> Person:
        new = replace(new, version=old.version + 1)
        self.store.put_person(new, expected_version=old.version)
        return new


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def totp_uri(person: Person, issuer: str) -> str | None:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed), for an account with a code."""
    if person.totp_secret is None:
        return None
    return pyotp.TOTP(person.totp_secret).provisioning_uri(name=person.name, issuer_name=issuer)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
