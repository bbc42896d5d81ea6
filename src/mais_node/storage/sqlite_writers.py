"""One write lock per SQLite file in this process, taken before ``BEGIN IMMEDIATE``.

SQLite lets one writer at a time hold a file; another connection that asks meanwhile is refused and retries in its
busy handler, which sleeps 1, 2, 5, 10, 25 … ms between tries. The node writes one file from several threads (the
event loop, the audit group-commit thread, worker threads), and the group-commit thread takes the lock again as soon
as it commits, so a resource write that lost the race could sleep through many groups. Queued on a lock of our own
instead, a writer wakes the moment the previous one commits. Other processes still meet in SQLite's busy handler.
"""

from __future__ import annotations

import os
import threading

_LOCKS: dict[str, threading.RLock] = {}
_GUARD = threading.Lock()


def write_lock(path: str) -> threading.RLock:
    """The lock every writer of ``path`` in this process holds around its write transaction.

    Re-entrant, so a thread that (wrongly) nests two write transactions meets SQLite's busy error, as it would
    without this lock, instead of a silent deadlock."""
    if path == ":memory:" or path.startswith("file:"):
        return threading.RLock()  # a private database: no other connection writes it
    key = os.path.realpath(path)
    with _GUARD:
        return _LOCKS.setdefault(key, threading.RLock())
