"""Issue 17 item 3: a real ``mais person import`` stopped mid-file (Ctrl-C, a service manager's SIGTERM, then killed
outright) resumes when run again from its checkpoint, and neither the resumed run nor a rerun from scratch
duplicates anyone: people without an id are matched on their NHS number."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from mais_node.config import Settings
from mais_node.fhir.bulk.importer import BULK_FROM
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic import iter_population
from mais_node.wiring import build_services

PEOPLE = 3000


def people_file(path: Path, *, nameless: bool = True, people: int = PEOPLE) -> int:
    """Synthetic people, those with an NHS number without an id (unless not ``nameless``); the number of distinct
    people it names."""
    keys = set()
    with path.open("wb") as out:
        for record in iter_population(people, seed=11):
            body = to_fhir_patient(record)
            if nameless and body.get("identifier"):
                body.pop("id")
                keys.add(body["identifier"][0]["value"])
            else:
                keys.add(body["id"])
            out.write(orjson.dumps(body) + b"\n")
    return len(keys)


def start(path: Path, store: str, workers: str = "0") -> subprocess.Popen[bytes]:
    """The import, its temporary files in ``scratch`` beside the file (``TMPDIR``), where the test can see them."""
    (path.parent / "scratch").mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "mais_node",
        "person",
        "import",
        str(path),
        "--store",
        store,
        "--batch-size",
        "100",
        "--workers",
        workers,
    ]
    env = {**os.environ, "TMPDIR": str(path.parent / "scratch")}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def left(path: Path) -> list[str]:
    """The import directories left in the imports' ``TMPDIR``."""
    return sorted(p.name for p in (path.parent / "scratch").glob("mais-import-*"))


def committed(db: Path) -> int:
    """The checkpoint's last committed line, 0 while there is none."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT v FROM store_meta WHERE k LIKE 'person-import:%'").fetchone()
    return int(row[0]) if row else 0


def stop_mid_file(process: subprocess.Popen[bytes], db: Path, how: signal.Signals, beyond: int) -> tuple[int, str]:
    """Stop the import once it has committed past line ``beyond``."""
    deadline = time.monotonic() + 120
    while committed(db) <= beyond:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the import never committed a batch"
        time.sleep(0.05)
    process.send_signal(how)
    _, err = process.communicate(timeout=60)
    return process.returncode, err.decode()


def patients(store: str) -> int:
    services = build_services(Settings(store=store))
    try:
        return services.resources.search("Patient", [("_count", "0"), ("_total", "accurate")]).page.total or 0
    finally:
        services.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("workers", "nameless", "people"),
    [("0", True, PEOPLE), ("1", False, BULK_FROM + 2000)],
    ids=["in-process, matched on the NHS number", "a first load staged by a worker process, rows with ids"],
)
def test_an_import_stopped_twice_resumes_and_duplicates_nobody(
    tmp_path: Path, workers: str, nameless: bool, people: int
) -> None:
    path = tmp_path / "people.ndjson"
    distinct = people_file(path, nameless=nameless, people=people)
    db = tmp_path / "node.db"
    store = f"sqlite:///{db}"
    build_services(Settings(store=store)).close()

    code, err = stop_mid_file(start(path, store, workers), db, signal.SIGINT, 300)
    assert code == 130, err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert "run the same command again to resume" in line
    at = committed(db)
    assert f"interrupted after line {at:,} " in line  # the store's checkpoint, not a batch behind it
    assert 300 < at < people
    code, err = stop_mid_file(start(path, store, workers), db, signal.SIGTERM, at + 300)  # a service manager's stop
    assert code == 130, err
    assert "Traceback" not in err
    assert [x for x in err.splitlines() if x.startswith(f"interrupted after line {committed(db):,} ")], err
    assert committed(db) > at + 300

    at = committed(db)
    assert at < people
    assert left(path) == []  # stopped by a signal: its scratch and staged batches deleted
    code, _ = stop_mid_file(start(path, store, workers), db, signal.SIGKILL, at + 300)
    assert code == -signal.SIGKILL
    assert at + 300 < committed(db) < people
    killed = left(path)
    assert killed  # killed outright: nothing could delete them

    finished = start(path, store, workers)
    out, said = finished.communicate(timeout=300)
    assert finished.returncode == 0, said
    assert "resumed after line" in out.decode()
    assert patients(store) == distinct
    assert committed(db) == 0
    assert left(path) == []  # the next import deleted the killed one's (and its own)

    again = start(path, store, workers)
    out, said = again.communicate(timeout=300)
    assert again.returncode == 0, said
    assert "resumed" not in out.decode()
    assert patients(store) == distinct
