"""Temporary directories of ``mais person import`` that a killed import does not leave behind for ever.

An import keeps a scratch file (a row per resource of its file: hundreds of megabytes at 10M people) and, for a first
load, its workers' staged batches, under ``$TMPDIR/mais-import-*``. A process that ends normally, or by Ctrl-C or
SIGTERM, deletes them; one killed outright (SIGKILL, out of memory, a reboot with a persistent ``/tmp``) cannot.
So each directory holds an exclusive ``flock`` on a file inside it for as long as its process lives (the kernel
releases it however the process ends), and every new one first deletes the directories whose lock it can take:
their owner is gone. A directory of an import still running, on this store or another, is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "mais-import-"
LOCK = ".owner"

log = logging.getLogger("mais_node.import")


class OwnedDirectory:
    """A new ``$TMPDIR/mais-import-*`` directory, locked by this process until ``cleanup``."""

    def __init__(self, parent: Path | None = None) -> None:
        where = Path(parent) if parent is not None else Path(tempfile.gettempdir())
        sweep(where)
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=where))
        # Locked under another name, then named: a sweeper never finds the lock file free while its owner lives.
        self._fd: int | None = os.open(self.path / f"{LOCK}.new", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(self.path / f"{LOCK}.new", self.path / LOCK)

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep(where: Path) -> int:
    """Delete the import directories under ``where`` whose owner has ended; their number."""
    removed = 0
    for candidate in where.glob(f"{PREFIX}*"):
        if candidate.is_dir() and _abandoned(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d scratch directories left by imports that were killed", removed)
    return removed


def _abandoned(directory: Path) -> bool:
    """True when no process holds the directory's lock. A directory without one (made by a version before this one,
    or caught between its making and its locking) is left alone unless it is over a day old."""
    try:
        fd = os.open(directory / LOCK, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return directory.stat().st_mtime < time.time() - 86_400
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its import is running
    finally:
        os.close(fd)  # closing releases the lock we may have taken
    return True
