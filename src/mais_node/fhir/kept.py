"""A value made from the store's resources of some types, kept until one of them is written.

The store's change token over those types (``ResourceStore.latest_change``: one indexed read, no resource read) is
looked at on every use, or at most every ``check_every`` seconds, and the value is made again when the token moved.
A write by this process, another worker or another replica moves the token, so the very next use sees it. What the
vocabularies in force and the register entries an enquiry reads are kept by.

``ChangeToken`` is one such token shared by several kept values: read on every use, or once for a whole block
(``pinned``: one enquiry), so the values kept by it cost one look at the store between them, not one each.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mais_node.storage.port import ResourceStore

T = TypeVar("T")


class ChangeToken:
    """The store's change token over ``types``: read at every call, except inside ``pinned``, where the token read
    when the block was entered is the answer (the block runs in one go: one enquiry's steps, no await between).

    Values kept by one token over the union of their types are made again when any of those types is written: a
    remake more than each needs, never one fewer."""

    def __init__(self, store: ResourceStore, types: tuple[str, ...]) -> None:
        self.store = store
        self.types = types
        self._pinned: contextvars.ContextVar[str | None] = contextvars.ContextVar("pinned_change_token", default=None)

    def __call__(self) -> str:
        pinned = self._pinned.get()
        return pinned if pinned is not None else self.store.latest_change(*self.types)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[str]:
        """One read of the token for the block (a block inside another keeps the outer one's)."""
        pinned = self._pinned.get()
        if pinned is not None:
            yield pinned
            return
        token = self.store.latest_change(*self.types)
        reset = self._pinned.set(token)
        try:
            yield token
        finally:
            self._pinned.reset(reset)


class KeptUntilChanged(Generic[T]):
    """``make()``'s value, made again when ``token()`` (a change token) moved since it was made."""

    def __init__(self, token: Callable[[], str], make: Callable[[], T], *, check_every: float = 0.0) -> None:
        self.token = token
        self.make = make
        # Seconds a value is trusted without looking at the store; 0 (the default) looks on every use.
        self.check_every = check_every
        self._value: T | None = None
        self._token = ""
        self._checked = 0.0
        self._lock = threading.Lock()

    @classmethod
    def of_types(
        cls, store: ResourceStore, types: tuple[str, ...], make: Callable[[], T], *, check_every: float = 0.0
    ) -> KeptUntilChanged[T]:
        """Kept until a resource of one of ``types`` is written (the store's change token over them)."""
        return cls(ChangeToken(store, types), make, check_every=check_every)

    def __call__(self) -> T:
        """The value for the store as it is now: the kept one while the token has not moved, else made again."""
        value, now = self._value, time.monotonic()
        if value is not None and now - self._checked < self.check_every:
            return value
        token = self.token()
        if value is not None and token == self._token:
            self._checked = now
            return value
        with self._lock:
            if self._value is None or token != self._token:
                # Made after the token was read: what it holds is at least as new as that token.
                self._value = self.make()
                self._token = token
            self._checked = now
            return self._value
