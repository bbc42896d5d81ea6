"""``mais person import`` at scale (issue 17 item 3): two streamed passes over the file, in bounded memory.

1. **Check**: every row is validated (R4 structure and required bindings, the profile that applies, each
   involvement's references to a row of the file or a resource the node holds); what the references need is kept in
   the scratch space, not in memory. A file with a bad row writes nothing unless told to skip bad rows.
2. **Write**: the good rows in batches, each batch one store write that also records the checkpoint (the file's
   hash and the last line committed), so a rerun of an interrupted import starts after it. Rows with an id are
   written by id; a row without one is matched on its identifier (fhir/bulk/identity.py), so that a rerun from
   scratch duplicates nobody either. Within a batch teams are written before people and people before involvements.
   A first load of many people into a node that holds none runs inside the store's ``bulk_load`` (on SQLite the
   search value indexes are made once, at the end, instead of at every batch). A file of many rows has each batch
   built by worker processes while the batch before is written: its indexes, and for a first load its stored rows
   (fhir/bulk/parallel.py).
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from mais_node.errors import Issue, MaisError
from mais_node.fhir.bulk.fast import FastPatients
from mais_node.fhir.bulk.identity import assign_ids
from mais_node.fhir.bulk.nhs import mark_nhs_verified
from mais_node.fhir.bulk.parallel import Deriving, Flat, default_workers
from mais_node.fhir.bulk.rows import IMPORTABLE, UUID_PREFIX, Reading, Row, describe, problems, rewrite, uuid_references
from mais_node.fhir.bulk.scratch import Scratch
from mais_node.fhir.models import valid_id
from mais_node.fhir.service import Prepared, ResourceService
from mais_node.storage.port import PERSON_TYPE, Staging, Stored

REFERENCES = {"patient": "Patient", "managingOrganization": "Organization"}
BATCH = 2000
MARK = "person-import"
HELD_CACHE = 4096
# Good rows from which a first load of a node's people defers the store's search indexes to its end (below this the
# indexes cost little either way).
BULK_FROM = 10_000
# Good rows from which the write pass derives the indexes in worker processes (below it, starting them costs more).
PARALLEL_FROM = 20_000
RESUMING_EVERY = 50_000  # lines between the progress lines of a resumed run passing what was committed
COLLECT_EVERY = 100  # batches between the full collections of an import, whose collector is otherwise paused

Conformance = Callable[[Mapping[str, Any]], list[Issue]]
"""The profile check of one row (the profile that applies to its type), beyond R4's."""
Progress = Callable[[str, int, int, int, int], None]
"""Told (phase, rows of the phase so far, bytes read, file size, the byte the phase began at) after each batch; the
phases are "checking", "resuming" (passing the lines an interrupted run committed) and "importing"."""


@dataclass(slots=True)
class ImportReport:
    imported: dict[str, int] = field(default_factory=dict)
    rejected: list[Row] = field(default_factory=list)
    written: bool = False
    nhs_verified: int = 0
    rows: int = 0
    digest: str = ""
    resumed_after: int = 0
    committed: int = 0  # the last line written and checkpointed

    @property
    def count(self) -> int:
        return sum(self.imported.values())


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (an import): its passes over what the importer holds took a
    fifth of the importer's time (docs/decisions.md), and an import makes almost no cycles; its objects are freed
    by reference counting as each batch is written, and ``COLLECT_EVERY`` batches a full collection bounds the rest.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Importer:
    """One import of one file into the node, through the resource service."""

    def __init__(
        self,
        service: ResourceService,
        scratch: Scratch,
        *,
        conformance: Conformance | None = None,
        skip_invalid: bool = False,
        nhs_verified: bool = False,
        progress: Progress | None = None,
        batch: int = BATCH,
        bulk_from: int = BULK_FROM,
        workers: int | None = None,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        self.service, self.scratch, self.conformance = service, scratch, conformance
        self.skip_invalid, self.nhs_verified = skip_invalid, nhs_verified
        self.progress = progress or (lambda phase, rows, read, size, start: None)
        self.batch, self.bulk_from = batch, bulk_from
        self.workers = workers  # None: ``default_workers()`` for a file of at least ``parallel_from`` good rows
        self.parallel_from = parallel_from
        self.fast = FastPatients(self._full)
        self.report = ImportReport()
        self._bad: set[int] = set()
        self._held_cache: dict[str, bool] = {}
        self._staging: Staging | None = None  # the store's, during a first load
        self._batches = 0
        self._named = False  # a Bundle entry named urn:uuid: references to it are rewritten as they are written
        self._stopping = False

    def stop(self) -> None:
        """Ask the import to stop (a first Ctrl-C, a service manager's SIGTERM; safe in a signal handler): it ends at
        its next batch, the batches sent to the workers written with their checkpoint, by raising
        ``KeyboardInterrupt`` there. Its report then counts every row the store holds, and ``committed`` is the
        store's checkpoint; an interruption raised anywhere else can leave both a batch behind."""
        self._stopping = True

    def _stop_if_asked(self) -> None:
        if self._stopping:
            raise KeyboardInterrupt

    def run(self, reading: Reading, rewind: Callable[[], Reading]) -> ImportReport:
        """Check the whole file, then (unless a row is bad and bad rows are not skipped) write it."""
        with collector_paused():
            self.check(reading)
            if self.report.rejected and not self.skip_invalid:
                return self.report
            self.write(rewind())
        return self.report

    def _collect_now_and_then(self) -> None:
        """Called at each batch of either pass: a full collection every ``COLLECT_EVERY`` of them, while the
        collector is paused (``collector_paused``)."""
        self._batches += 1
        if self._batches % COLLECT_EVERY == 0 and not gc.isenabled():
            gc.collect()

    # -- pass 1 ---------------------------------------------------------------------------------------------
    def _full(self, resource: dict[str, Any]) -> tuple[str, ...]:
        found = problems(resource)
        if found or self.conformance is None:
            return found
        return tuple(describe(i) for i in self.conformance(resource) if i.severity in ("error", "fatal"))

    def verdict(self, resource: dict[str, Any]) -> tuple[str, ...]:
        """The problems of one row (none: it may be written)."""
        return () if self.fast.ok(resource) else self._full(resource)

    def check(self, reading: Reading) -> None:
        kept: list[tuple[str, str]] = []
        wanted: list[tuple[int, str, str, str]] = []
        rows = 0
        for row in reading.rows():
            rows += 1
            found = row.problems or self.verdict(row.resource or {})
            resource = row.resource or {}
            if not found and resource.get("resourceType") == "EpisodeOfCare":
                found = self._reference_shapes(row.line, resource, wanted)
            if found:
                self._reject(row.line, found)
            elif "id" in resource:
                kept.append((f"r:{resource['resourceType']}/{resource['id']}", ""))
                if row.named:
                    self._named = True
                    kept.append((f"n:{UUID_PREFIX}{row.named}", f"{resource['resourceType']}/{row.named}"))
            if len(kept) + len(wanted) >= self.batch:
                self._stop_if_asked()
                self._settle(kept, wanted)
                self._collect_now_and_then()
                self.progress("checking", rows, reading.read, reading.size, 0)
        self._settle(kept, wanted)
        self.progress("checking", rows, reading.read, reading.size, 0)
        self._pending()
        self.report.rows = rows
        self.report.digest = reading.digest
        self.report.rejected.sort(key=lambda r: r.line)

    def _reject(self, line: int, found: Iterable[str]) -> None:
        self._bad.add(line)
        self.report.rejected.append(Row(line, None, tuple(found)))

    def _reference_shapes(
        self, line: int, resource: dict[str, Any], wanted: list[tuple[int, str, str, str]]
    ) -> tuple[str, ...]:
        found = []
        for element, kind in REFERENCES.items():
            value = resource.get(element)
            if value is None:
                continue
            reference = value.get("reference") if isinstance(value, dict) else None
            reference = reference if isinstance(reference, str) else ""
            rtype, _, rid = reference.partition("/")
            if reference.startswith(UUID_PREFIX) or (rtype == kind and valid_id(rid)):
                wanted.append((line, element, kind, reference))
            else:
                found.append(f"{element} must be a reference {kind}/{{id}} to a {kind} of this file or of the node")
        return tuple(found)

    def _settle(self, kept: list[tuple[str, str]], wanted: list[tuple[int, str, str, str]]) -> None:
        """Keep the batch's rows; a reference to a row not (yet) seen nor held waits for the end of the file."""
        self.scratch.put_many(kept)
        pending = []
        for line, element, kind, reference in wanted:
            if self._resolved(reference, kind) is None and not self._held(reference, kind):
                pending.append((f"p:{line:012d}:{element}", f"{kind} {reference}"))
        self.scratch.put_many(pending)
        kept.clear()
        wanted.clear()

    def _resolved(self, reference: str, kind: str) -> str | None:
        """``Type/id`` of a row of the file that ``reference`` names, if it has been seen (and is of ``kind``)."""
        if reference.startswith(UUID_PREFIX):
            named = self.scratch.get_many([f"n:{reference}"]).get(f"n:{reference}")
            if named is None or not named.startswith(f"{kind}/"):
                return None
            reference = named
        return reference if self.scratch.get_many([f"r:{reference}"]) else None

    def _held(self, reference: str, kind: str) -> bool:
        """Whether the node holds ``reference`` (remembered for the few teams every involvement names)."""
        known = self._held_cache.get(reference)
        if known is not None:
            return known
        rtype, _, rid = reference.partition("/")
        held = self.service.store.read(kind, rid) if rtype == kind and valid_id(rid) else None
        known = held is not None and not held.deleted
        if len(self._held_cache) < HELD_CACHE:
            self._held_cache[reference] = known
        return known

    def _pending(self) -> None:
        late: dict[int, list[str]] = {}
        for key, value in self.scratch.scan("p:"):
            _, line, element = key.split(":", 2)
            kind, _, reference = value.partition(" ")
            if self._resolved(reference, kind) is None:
                late.setdefault(int(line), []).append(
                    f"{element} names {reference[:80]}, which is neither a row of this file nor held by the node:"
                    f" import the {kind} with the people"
                )
        for number, found in late.items():
            self._reject(number, found)

    # -- pass 2 ---------------------------------------------------------------------------------------------
    def mark(self) -> str:
        """The store mark of this file's import with these options: the last line committed."""
        options = f"{'skip' if self.skip_invalid else 'all'}:{'verified' if self.nhs_verified else 'as-recorded'}"
        return f"{MARK}:{self.report.digest}:{options}"

    def write(self, reading: Reading) -> None:
        key = self.mark()
        held = self.service.store.read_mark(key)
        after = int(held) if held and held.isdigit() else 0
        self.report.resumed_after = self.report.committed = after
        self.report.written = True
        try:
            self._write(reading, key, after)
        except KeyboardInterrupt:  # stopped: what the store holds is its checkpoint, whenever the interruption came
            held = self.service.store.read_mark(key)
            self.report.committed = int(held) if held and held.isdigit() else after
            raise
        self.report.rejected.sort(key=lambda r: r.line)

    def _write(self, reading: Reading, key: str, after: int) -> None:
        batch: list[Row] = []
        rows = start = 0  # the rows and the byte of this run's writing (after the lines a resumed run passes)
        workers = self._workers()
        # Prepared and sent to the workers, written in file order once ``workers`` more are on their way: each worker
        # builds a batch while the importer writes the oldest.
        flight = _InFlight(self._commit, depth=max(1, workers))
        with self._bulk_load(resuming=after > 0) as staging, Deriving(workers, staging) as deriving:
            self._staging = staging
            for row in reading.rows():
                if row.line <= after:
                    start = reading.read
                    if row.line % RESUMING_EVERY == 0:
                        self._stop_if_asked()
                        self.progress("resuming", row.line, start, 0, 0)  # no time left: its end is a line
                    continue
                rows += 1
                if row.line in self._bad or row.resource is None:
                    continue
                batch.append(row)
                if len(batch) >= self.batch:
                    if self._stopping:
                        flight.drain()
                        self._stop_if_asked()
                    self._next(flight, batch, key, deriving)
                    self._collect_now_and_then()
                    self.progress("importing", rows, reading.read, reading.size, start)
            self._next(flight, batch, key, deriving)
            flight.drain()
        self._staging = None
        self.service.store.write_many([], mark=(key, None))  # done: a rerun imports the file afresh
        self.progress("importing", rows, reading.read, reading.size, start)

    def _workers(self) -> int:
        """The worker processes asked for; unasked, some for a file of at least ``parallel_from`` good rows (starting
        them costs about a second)."""
        if self.workers is not None:
            return self.workers
        return default_workers() if self.report.rows - len(self._bad) >= self.parallel_from else 0

    def _next(self, flight: _InFlight, batch: list[Row], key: str, deriving: Deriving) -> None:
        """Prepare ``batch`` and send it to a worker (its rows staged, or its indexes derived), then write the oldest
        batches sent while more than ``depth`` are: the store's writes overlap the workers' building of the batches
        after them. A batch with rows to be matched on their identifier waits for every batch before it to be
        written, which the match must see."""
        if not batch:
            return
        if any("id" not in (row.resource or {}) for row in batch):
            flight.drain()
        prepared = self._prepare(batch, key)
        staging = deriving.stage(prepared.ready)
        if staging is not None:
            prepared.staged, prepared.staging = staging
        else:
            prepared.derived = deriving.submit([p.body for p in prepared.ready])
        batch.clear()
        if prepared.derived is None and prepared.staging is None:  # no workers: the batch is written now
            flight.drain()
            self._commit(prepared)
            return
        flight.send(prepared)

    def _prepare(self, batch: list[Row], key: str) -> _Batch:
        resources = [row.resource or {} for row in batch]
        names = {u for r in resources for u in uuid_references(r, set())} if self._named else set()
        if names:
            found = self.scratch.get_many([f"n:{u}" for u in names])
            renamed = {u: found[f"n:{u}"] for u in names if f"n:{u}" in found}
            resources = [rewrite(r, renamed) for r in resources]
        nameless = [i for i, r in enumerate(resources) if "id" not in r]
        lines = [row.line for row in batch]
        for i, given in zip(nameless, assign_ids(self.service.store, [resources[i] for i in nameless]), strict=True):
            resources[i] = {**resources[i], "id": given}
        marked = 0
        if self.nhs_verified:
            for i, resource in enumerate(resources):
                if resource["resourceType"] == "Patient":
                    resources[i], verified = mark_nhs_verified(resource)
                    marked += verified
        order = sorted(range(len(batch)), key=lambda i: IMPORTABLE.index(resources[i]["resourceType"]))
        writable = [i for i in order if not str(resources[i]["id"]).startswith("!")]
        kept = set(writable)
        refused = [Row(lines[i], None, (str(resources[i]["id"])[1:],)) for i in order if i not in kept]
        prepared = self.service.prepare_many([resources[i] for i in writable], structure_checked=True)
        return _Batch([lines[i] for i in writable], prepared, refused, marked, (key, str(lines[-1])))

    def _commit(self, batch: _Batch) -> None:
        """Write a prepared batch with its checkpoint (its staged rows merged, or if it names a resource held
        already, written as any batch is), and count what it wrote."""
        outcomes: Sequence[Prepared | Stored | MaisError]
        if batch.staging is not None and self._staging is not None:
            Deriving.staged(batch.staging)
            if self._staging.merge(batch.staged, batch.mark):
                outcomes = batch.prepared
            else:
                outcomes = self.service.write_prepared(batch.prepared, mark=batch.mark)
        else:
            derived = Deriving.result(batch.derived) if batch.derived is not None else None
            outcomes = self.service.write_prepared(batch.prepared, derived=derived, mark=batch.mark)
        self.report.rejected.extend(batch.refused)
        self.report.nhs_verified += batch.marked
        for line, outcome in zip(batch.lines, outcomes, strict=True):
            if isinstance(outcome, MaisError):
                self.report.rejected.append(Row(line, None, (outcome.diagnostics,)))
                continue
            kind = outcome.kind if isinstance(outcome, Prepared) else outcome.resource_type
            self.report.imported[kind] = self.report.imported.get(kind, 0) + 1
        self.report.committed = int(batch.mark[1] or 0)

    def _bulk_load(self, *, resuming: bool) -> AbstractContextManager[Staging | None]:
        """The store's bulk load (its search indexes made once, at the end; its staging of new rows by the workers)
        for a first load of many people: a file of at least ``bulk_from`` good rows, into a node that has never held
        a Patient or whose Patients are this file's, an interrupted import of it being resumed (it was written at
        330 rows/s instead of 1,500 at 7.6M people, its indexes kept at every write: docs/performance.md).
        Otherwise nothing changes. Either way every row is written as ``write_many`` would write it."""
        good = self.report.rows - len(self._bad)
        if good < self.bulk_from or (self.service.store.latest_change(PERSON_TYPE) and not resuming):
            return nullcontext()
        return self.service.store.bulk_load()


class _InFlight:
    """The batches sent to the workers and not yet written, oldest first; ``send`` writes the oldest while more than
    ``depth`` are in flight, ``drain`` writes them all."""

    def __init__(self, commit: Callable[[_Batch], None], *, depth: int) -> None:
        self.commit, self.depth = commit, depth
        self.batches: deque[_Batch] = deque()

    def send(self, batch: _Batch) -> None:
        self.batches.append(batch)
        while len(self.batches) > self.depth:
            self.commit(self.batches.popleft())

    def drain(self) -> None:
        while self.batches:
            self.commit(self.batches.popleft())


@dataclass(slots=True)
class _Batch:
    """A batch prepared for writing: the lines of its writable rows (in the order written), each row checked and
    stamped or refused, the rows refused before, the NHS numbers marked verified, its checkpoint."""

    lines: list[int]
    prepared: list[Prepared | MaisError]
    refused: list[Row]
    marked: int
    mark: tuple[str, str]
    derived: Future[list[Flat]] | None = None
    staged: str = ""  # the file a worker stages the batch's rows in (a first load with workers)
    staging: Future[None] | None = None

    @property
    def ready(self) -> list[Prepared]:
        return [p for p in self.prepared if isinstance(p, Prepared)]
