"""WAL checkpoints off the request path (SQLite "Write-Ahead Logging" §6, checkpointing).

By default SQLite checkpoints inside the COMMIT that takes the log past 1,000 pages: that write copies the whole
log into the database file and syncs it, a few milliseconds during which the worker's event loop answers nothing.
Here a thread of its own checkpoints a moment after writes instead (a PASSIVE checkpoint: it waits for no reader
or writer, and SQLite runs it without Python's GIL), and the commit-time checkpoint stays as a backstop at a
larger size, so the log stays bounded if this thread falls behind. Durability is unchanged: a transaction is as
durable when committed to the log as after its checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("mais_node.storage")

# Pages in the log past which a COMMIT checkpoints by itself (the backstop): 32 MiB at 4 KiB pages.
BACKSTOP_PAGES = 8192


class Checkpointer:
    """Runs ``checkpoint`` in a daemon thread ``delay`` seconds after a write is reported, at most that often."""

    def __init__(self, checkpoint: Callable[[], None], *, delay: float = 0.2) -> None:
        self._checkpoint = checkpoint
        self._delay = delay
        self._wrote = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        """A transaction was committed: checkpoint soon (the thread starts with the first write)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                    self._thread.start()
        self._wrote.set()

    def stop(self) -> None:
        """End the thread, after the checkpoint it may be running."""
        with self._lock:
            self._stop.set()
            self._wrote.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        # Checked at the top of every turn: a stop that lands between the wait and the clear below has its wake-up
        # cleared, and a thread that then waited again would never end (a hang seen at a test's teardown).
        while not self._stop.is_set():
            self._wrote.wait()
            if self._stop.wait(self._delay):
                return
            self._wrote.clear()
            try:
                self._checkpoint()
            except sqlite3.Error as exc:  # the next write tries again; the backstop bounds the log meanwhile
                log.warning("WAL checkpoint failed: %s", exc)
