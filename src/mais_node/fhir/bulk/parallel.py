"""An import's batches built in worker processes, while the importer writes the batch before.

The write pass's time was a third in ``derive`` (each body's search index entries and person-index entry: pure
Python, and pure functions of the body) and most of the rest in the store's write, which only the importer's process
may make. So each batch goes to a worker as soon as its bodies are checked and stamped: for a first load the worker
also builds the store's rows of it (``stage_all``, the store's ``Staging``), which the importer merges; otherwise it
derives the indexes (``derive_all``), which the importer writes with the bodies (docs/decisions.md, "A first load's
rows built in worker processes").

Workers are started by ``spawn`` (a fork of a process with threads may copy a lock held), ignore SIGINT (a terminal's
Ctrl-C reaches the whole process group: the importer alone decides what it means), and end with the import, or
within a quarter of a second of the importer being killed.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from mais_node.errors import Unavailable
from mais_node.fhir.search.query import IndexRow
from mais_node.fhir.service import Derived, Prepared, derive
from mais_node.matching.rows import PersonEntry, PersonRow
from mais_node.scratch_dirs import OwnedDirectory
from mais_node.storage.port import Change, Staging

PARENT_WATCH = 0.25  # seconds between a worker's looks at whether the importer is still there


def default_workers() -> int:
    """One worker for each processor (up to 8): the importer's own process waits for them about half the time."""
    return max(1, min(8, os.cpu_count() or 1))


# What a worker sends back for one body: its index entries and person entry as plain tuples, which cross the pipe in
# about three quarters of the time of the named tuples (whose unpickling calls each one's ``__new__``).
Flat = tuple[list[IndexRow], tuple[tuple[Any, ...], tuple[int, ...]] | None]


def derive_all(bodies: Sequence[dict[str, Any]]) -> list[Flat]:
    """``derive`` of each body, in a worker."""
    return [_flat(derive(body)) for body in bodies]


def _flat(derived: Derived) -> Flat:
    person = derived.person
    index: list[IndexRow] = [(p, v, s, x, lo, hi) for p, v, s, x, lo, hi in derived.index]
    return index, None if person is None else (tuple(person.row), person.keys)


def _rebuilt(flat: list[Flat]) -> list[Derived]:
    """What came back, as ``derive`` gives it: the index rows are kept as tuples (a store reads them by position)."""
    row = PersonRow._make
    return [
        Derived(index, None if person is None else PersonEntry(row(person[0]), person[1])) for index, person in flat
    ]


def _worker_start() -> None:
    """A worker ignores Ctrl-C, and ends when the importer does, even killed outright (SIGKILL runs no clean-up: the
    worker would wait for work for ever, and hold the importer's output open). Its collector is off, as the
    importer's is (importer.py ``collector_paused``): what it derives is freed by reference counting when sent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    threading.Thread(target=_end_with, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_WATCH)
    os._exit(1)


def stage_all(stage: Callable[[str, Sequence[Change]], None], path: str, prepared: Sequence[Prepared]) -> None:
    """``derive`` of each prepared body, and the store's rows of them staged at ``path``, in a worker."""
    staged = []
    for item in prepared:
        derived = derive(item.body)
        staged.append(
            Change("create", item.kind, item.id, item.last_updated, item.body, derived.index, 0, derived.person)
        )
    stage(path, staged)


class Deriving:
    """``submit(bodies)``: a future of ``derive`` of each body, computed by a worker process (none with ``workers``
    = 0); with the store's ``staging`` (a first load), ``stage(prepared)`` has a worker build the store's rows of
    the batch too. A context manager: the workers end with the block, and the staged files with them."""

    def __init__(self, workers: int, staging: Staging | None = None) -> None:
        self.workers = workers
        self.staging = staging if workers > 0 else None
        self._pool: ProcessPoolExecutor | None = None
        self._directory: OwnedDirectory | None = None
        self._staged = 0

    def __enter__(self) -> Deriving:
        if self.workers > 0:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
            )
        if self.staging is not None:
            self._directory = OwnedDirectory()  # the staged batches; a killed import's are deleted by the next
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=error is None, cancel_futures=True)
            self._pool = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def stage(self, prepared: Sequence[Prepared]) -> tuple[str, Future[None]] | None:
        """Where a worker stages the batch's rows, and the future of its having done so; None without staging."""
        if self._pool is None or self._directory is None or self.staging is None:
            return None
        self._staged += 1
        path = str(self._directory.path / f"batch-{self._staged}.db")
        return path, self._pool.submit(stage_all, self.staging.stage, path, list(prepared))

    @staticmethod
    def staged(future: Future[None]) -> None:
        """Wait for a batch's staging (a worker that died stops the import, as in ``result``)."""
        try:
            future.result()
        except BrokenProcessPool as exc:
            raise _stopped() from exc

    def submit(self, bodies: Sequence[dict[str, Any]]) -> Future[list[Flat]] | None:
        """The future of the bodies' derived indexes; None without workers (the write derives them itself)."""
        return None if self._pool is None else self._pool.submit(derive_all, list(bodies))

    @staticmethod
    def result(future: Future[list[Flat]]) -> list[Derived]:
        """The derived indexes of a batch; a worker that died (killed, out of memory) stops the import with what to
        do, the batches before it committed."""
        try:
            return _rebuilt(future.result())
        except BrokenProcessPool as exc:
            raise _stopped() from exc


def _stopped() -> Unavailable:
    return Unavailable(
        "A worker process of the import stopped: run the same command again to resume (--workers 0 runs without them)"
    )
