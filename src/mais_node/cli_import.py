"""``mais person import``: the node's people from a file of any size, with progress on a terminal and a checkpoint
that lets an interrupted import resume (fhir/bulk/importer.py)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from mais_node.cli_common import StoreOpt, node_settings
from mais_node.cli_register import operator
from mais_node.fhir.bulk import ImportReport
from mais_node.fhir.bulk.importer import BATCH

if TYPE_CHECKING:
    from mais_node.fhir.bulk import Importer
    from mais_node.wiring import Services

person_app = typer.Typer(
    help="The node's person index (Patients and their EpisodeOfCare involvements).", no_args_is_help=True
)
PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
TTY_EVERY = 0.25


class Progress:
    """Rows/s and the time left (from the bytes read of the file's size): one line redrawn on a terminal, a plain
    line every few seconds otherwise, nothing when quiet."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream, self.quiet = stream, quiet
        self.tty = stream.isatty()
        self.started = self.seen = time.monotonic()
        self.phase = ""
        self.last = 0.0
        self.drawn = False

    def __call__(self, phase: str, rows: int, read: int, size: int, start: int = 0) -> None:
        """``rows`` of the phase so far; ``read`` of ``size`` bytes, the phase's work having begun at byte ``start``
        (a resumed import writes from where the interrupted one stopped: its rate and time left count from there)."""
        now = time.monotonic()
        if phase != self.phase:  # a phase starts where the one before it ended
            self.phase, self.started, self.last = phase, self.seen, 0.0
        self.seen = now
        if self.quiet or now - self.last < (TTY_EVERY if self.tty else PLAIN_EVERY):
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = rows / elapsed
        left = ""
        if size and read > start:
            done = min((read - start) / (size - start), 1.0)
            left = f", {read / size:.0%} of the file, about {_duration(elapsed * (1 - done) / max(done, 1e-9))} left"
        text = f"{phase}: {rows:,} rows, {rate:,.0f} rows/s{left}"
        if self.tty:
            self.stream.write(f"\r\x1b[2K{text}")
            self.drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@person_app.command("import")
def person_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="FHIR Bundle or NDJSON of Patient, EpisodeOfCare and Organization (teams)"
        ),
    ],
    store: StoreOpt = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows of a file with bad ones")
    ] = False,
    nhs_verified: Annotated[
        bool,
        typer.Option(
            "--nhs-verified",
            help="The file's NHS numbers were traced against the national spine: mark each as verified"
            " (UK Core number-present-and-verified) where a record states no status; recorded in the audit",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines, only the summary")] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=50_000, help="Rows written (and checkpointed) per transaction")
    ] = BATCH,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            max=64,
            help="Processes building the rows' indexes (a first load: their stored rows) while the batches before"
            " are written (default: one for each processor, for a file of 20,000 rows or more; 0: none)",
        ),
    ] = None,
) -> None:
    """Import people, their involvements and the teams that hold them, from a file of any size: every row is
    validated first; an interrupted import resumes where it stopped when run again."""
    from mais_node.fhir.bulk import Importer, Reading
    from mais_node.storage.sqlite_scratch import SqliteScratch
    from mais_node.validation.records import person_index_conformance
    from mais_node.wiring import build_services

    services = build_services(node_settings(store))
    progress = Progress(sys.stderr, quiet=quiet)
    report = ImportReport()
    try:
        scratch = SqliteScratch()
        try:
            services.vocabularies.load_files()  # the profiles' bindings need the vocabularies, as at `mais serve`
            importer = Importer(
                services.resources,
                scratch,
                conformance=person_index_conformance(services.validator()),
                skip_invalid=skip_invalid,
                nhs_verified=nhs_verified,
                progress=progress,
                batch=batch_size,
                workers=workers,
            )
            report = importer.report
            stop = _Stop(importer)  # a service manager's stop is Ctrl-C: the batch being written, checkpoint, audit
            handlers = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
            try:
                importer.run(Reading(file), lambda: Reading(file))
            finally:
                for signum, handler in handlers.items():
                    signal.signal(signum, handler)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.done()
            scratch.close()
        _audit(services, file, report, nhs_verified)
    finally:
        services.close()
    if interrupted:
        where = f"after line {report.committed:,}" if report.written else "while checking, before writing anything"
        typer.echo(
            f"interrupted {where} ({report.count:,} row(s) written by this run): run the same command again to resume",
            err=True,
        )
        raise typer.Exit(130)
    _summary(report, nhs_verified)


class _Stop:
    """The import's SIGINT and SIGTERM: the first asks it to stop at its next batch (``Importer.stop``), so that what
    it says it wrote is what the store holds; a second stops it at once (its checkpoint is still whole)."""

    def __init__(self, importer: Importer) -> None:
        self.importer, self.asked = importer, False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        self.importer.stop()


def _audit(services: Services, file: Path, report: ImportReport, nhs_verified: bool) -> None:
    """One AuditEvent for an import that wrote (or began to write), with its counts."""
    from mais_node.audit import balp

    if not report.written:
        return
    services.checkpointer.append(
        balp.person_import(
            services.node,
            services.clock.now(),
            operator(),
            source=file.name,
            imported=report.imported,
            rejected=len(report.rejected),
            nhs_verified=nhs_verified,
            marked=report.nhs_verified,
        )
    )


def _summary(report: ImportReport, nhs_verified: bool) -> None:
    for row in report.rejected:
        typer.echo(f"line {row.line}: {'; '.join(row.problems)}", err=True)
    if not report.written:
        typer.echo(
            f"{len(report.rejected)} invalid row(s): nothing imported (use --skip-invalid to import the rest)", err=True
        )
        raise typer.Exit(1)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.imported.items())) or "nothing"
    verified = f"; {report.nhs_verified} NHS number(s) marked verified" if nhs_verified else ""
    resumed = f"; resumed after line {report.resumed_after}" if report.resumed_after else ""
    typer.echo(f"imported {counts}; rejected {len(report.rejected)}{verified}{resumed}")
