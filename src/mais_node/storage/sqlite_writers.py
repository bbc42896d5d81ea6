"""One write lock per SQLite file, taken before ``BEGIN IMMEDIATE``: queued in this process, then across processes.

SQLite lets one writer at a time hold a file; another connection that asks meanwhile is refused and retries in its
busy handler, which sleeps 1, 2, 5, 10, 25 … ms between tries. The node writes one file from several threads (the
event loop, the audit group-commit thread, worker threads) and, with ``mais serve --workers``, from several
processes, whose group-commit threads take the file again as soon as they commit: a writer that lost the race could
sleep through many commits (an audit group waited up to 186 ms at 1M people with two workers, and the event loop
with it, docs/performance.md). Queued instead, a writer wakes the moment the previous one commits: on a re-entrant
lock of this process, then on an exclusive ``flock`` of ``<file>-lock``, which the kernel hands to the next process
when the holder lets go. The lock file holds no data; where it cannot be opened, writers fall back to SQLite's
busy handler, which still keeps them apart (it is a queue, not what makes the writes safe).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from types import TracebackType

log = logging.getLogger("mais_node.storage")

_LOCKS: dict[str, WriteLock] = {}
_GUARD = threading.Lock()


class WriteLock:
    """A re-entrant lock of this process over an exclusive ``flock`` of ``lock_path`` (None: this process only).

    The ``flock`` is taken by the outermost hold only, so a thread that (wrongly) nests two write transactions meets
    SQLite's busy error, as it would without this lock, instead of a silent deadlock."""

    def __init__(self, lock_path: str | None) -> None:
        self._threads = threading.RLock()
        self._lock_path = lock_path
        self._fd: int | None = None
        self._pid = 0  # the process that opened ``_fd``: a forked child opens its own (a shared one is one holder)
        self._depth = 0  # touched only by the thread holding ``_threads``

    def __enter__(self) -> WriteLock:
        self._threads.acquire()
        try:
            if self._depth == 0:
                self._lock_file()
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self) -> None:
        if self._lock_path is None:
            return
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd, self._pid = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            except OSError as exc:
                self._fall_back(exc)
                return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # waits without the GIL; woken when the holder unlocks
        except OSError as exc:
            self._fall_back(exc)

    def _fall_back(self, exc: OSError) -> None:
        log.warning("writers of %s queue in SQLite's busy handler: %s", self._lock_path, exc)
        self._lock_path = None


def write_lock(path: str) -> WriteLock:
    """The lock every writer of ``path`` in this process holds around its write transaction."""
    if path == ":memory:" or path.startswith("file:"):
        return WriteLock(None)  # a private database: no other connection writes it
    key = os.path.realpath(path)
    with _GUARD:
        found = _LOCKS.get(key)
        if found is None:
            found = _LOCKS[key] = WriteLock(f"{key}-lock")
        return found
