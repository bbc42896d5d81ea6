"""The import's indexes derived in a worker process (fhir/bulk/parallel.py) leave the store exactly as derived in the
importer's own process: the same resources, search rows and person-index rows, whether the batches overlap (rows
with ids) or wait for the one before (rows matched on their identifier); a worker that dies stops the import with
what to do, the batches before it kept."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.config import Settings
from mais_node.errors import Unavailable
from mais_node.fhir.bulk import Importer, MemoryScratch, Reading
from mais_node.fhir.bulk.parallel import Deriving, default_workers
from mais_node.fhir.service import derive
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic import iter_population
from mais_node.storage import sqlite_staging
from mais_node.storage.packed_json import unpack
from mais_node.validation.records import person_index_conformance
from mais_node.wiring import Services, build_services
from tests.builders import episode
from tests.unit.fhir.bulk.conftest import ndjson

IMPORTED = "(rtype IN ('Patient', 'EpisodeOfCare') OR id = 'team')"
TEAM = {"resourceType": "Organization", "id": "team", "name": "North Team"}


def rows(people: int) -> list[dict[str, Any]]:
    """The team, synthetic people (every third of the first 150 without an id, matched on its NHS number) and an
    involvement for every fifth person with an id; person 300 comes again after person 500, changed, and person 520
    after person 560 (a batch or so later: both may be in flight at once)."""
    found: list[dict[str, Any]] = [TEAM]
    again: dict[int, dict[str, Any]] = {}
    for number, record in enumerate(iter_population(people, seed=23)):
        body = to_fhir_patient(record)
        if number < 150 and number % 3 == 0 and body.get("identifier"):
            body.pop("id")
        found.append(body)
        if number in (300, 520):
            again[number] = {**body, "gender": "unknown", "birthDate": "2001-02-03"}  # new blocking keys too
        if number in (500, 560):
            found.append(again[number - 200 if number == 500 else number - 40])
        if number % 5 == 0 and "id" in body:
            found.append(episode(body["id"], "team", id=f"ep{number}"))
    return found


def holding_the_team(db: Path) -> Services:
    """A node on ``db`` holding the team already (so the file's team is an update) and no one."""
    services = build_services(Settings(store=f"sqlite:///{db}"))
    services.vocabularies.load_files()
    services.resources.update("Organization", "team", {**TEAM, "name": "North Team (before)"})
    return services


@pytest.fixture
def fresh_node(tmp_path: Path) -> Iterator[tuple[Services, Path]]:
    db = tmp_path / "node.db"
    services = holding_the_team(db)
    yield services, db
    services.close()


def imported(services: Services, path: Path, **options: Any) -> Importer:
    importer = Importer(
        services.resources, MemoryScratch(), conformance=person_index_conformance(services.validator()), **options
    )
    importer.run(Reading(path), lambda: Reading(path))
    return importer


def contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the import wrote (not the vocabularies and organisations each node made), named by resource rather
    than row number, the time of writing left out."""

    def body(packed: bytes) -> dict[str, Any]:
        resource: dict[str, Any] = orjson.loads(unpack(packed))
        resource["meta"].pop("lastUpdated")
        return resource

    with sqlite3.connect(db) as conn:
        return {
            "resource": sorted(
                (t, i, v, d, orjson.dumps(body(j), option=orjson.OPT_SORT_KEYS))
                for t, i, v, d, j in conn.execute(
                    f"SELECT rtype, id, vid, deleted, json FROM resource WHERE {IMPORTED}"
                )
            ),
            "sidx": sorted(
                conn.execute(
                    f"SELECT r.rtype, r.id, p, v, s, x, lo, hi FROM sidx JOIN resource r USING (rid)"
                    f" WHERE {IMPORTED} AND p NOT LIKE '%._lastUpdated'"
                ).fetchall(),
                key=repr,
            ),
            "person": sorted(
                conn.execute("SELECT id, nhs, birth, postcode, flags, names, keys FROM person").fetchall()
            ),
            "person_key": sorted(
                conn.execute("SELECT k.key, p.id FROM person_key k JOIN person p USING (rid)").fetchall()
            ),
        }


@pytest.mark.parametrize(
    ("bulk_from", "merged", "workers"),
    [(100, True, 1), (100, True, 2), (10**9, False, 1), (10**9, False, 2)],
    ids=[
        "a first load: rows staged by the worker and merged",
        "a first load: two workers, two batches in flight",
        "not a bulk load: indexes derived by the worker",
        "not a bulk load: two workers",
    ],
)
def test_a_worker_writes_what_the_importer_alone_writes(
    tmp_path: Path,
    fresh_node: tuple[Services, Path],
    monkeypatch: pytest.MonkeyPatch,
    bulk_from: int,
    merged: bool,
    workers: int,
) -> None:
    path = ndjson(tmp_path / "people.ndjson", rows(600))
    alone = tmp_path / "alone.db"
    services = holding_the_team(alone)
    try:
        by_itself = imported(services, path, batch=50, workers=0).report
    finally:
        services.close()
    node, db = fresh_node
    ahead: list[int] = []  # at each batch written, how many batches had been sent to the worker beyond it
    merges: list[bool] = []  # each staged batch: merged, or (a resource held already) written as any batch
    submit, stage, commit, merge = Deriving.submit, Deriving.stage, Importer._commit, sqlite_staging.merge

    def counted_submit(self: Deriving, bodies: Any) -> Any:
        ahead.append(-1)
        return submit(self, bodies)

    def counted_stage(self: Deriving, prepared: Any) -> Any:
        found = stage(self, prepared)
        if found is not None:
            ahead.append(-1)
        return found

    def counted_commit(self: Importer, batch: Any) -> None:
        ahead[ahead.index(-1)] = ahead.count(-1) - 1
        commit(self, batch)

    def counted_merge(*args: Any) -> bool:
        merges.append(merge(*args))
        return merges[-1]

    monkeypatch.setattr(Deriving, "submit", counted_submit)
    monkeypatch.setattr(Deriving, "stage", counted_stage)
    monkeypatch.setattr(Importer, "_commit", counted_commit)
    monkeypatch.setattr(sqlite_staging, "merge", counted_merge)
    with_worker = imported(node, path, batch=50, workers=workers, bulk_from=bulk_from).report
    monkeypatch.undo()
    assert 0 in ahead, ahead  # batches that waited for the ones before (rows without ids)
    assert max(ahead) == workers, ahead  # and batches derived while the ones before were written, one a worker
    if merged:  # the team's batch and the batches naming persons 300 and 520 again fell back; the others merged
        assert merges.count(False) == 3, merges
        assert merges.count(True) >= 10, merges
    else:
        assert merges == []
    assert with_worker.rejected == by_itself.rejected == []
    assert with_worker.imported == by_itself.imported
    assert with_worker.imported["Patient"] == 602
    expected, found = contents(alone), contents(db)
    assert len(found["person_key"]) > 600 * 5
    assert ("Organization", "team", 2) in [row[:3] for row in found["resource"]]
    assert [row[:3] for row in found["resource"] if row[2] == 2 and row[0] == "Patient"] != []
    for table in expected:
        assert found[table] == expected[table], table


def test_a_worker_that_dies_stops_the_import_with_what_to_do(tmp_path: Path) -> None:
    with Deriving(1) as deriving:
        first = deriving.submit([{"resourceType": "Organization", "id": "a"}])
        assert first is not None
        assert Deriving.result(first)[0].index == derive({"resourceType": "Organization", "id": "a"}).index
        pool = deriving._pool
        assert pool is not None
        for pid in list(pool._processes):  # the worker killed outright, as an out-of-memory killer would
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(Unavailable, match="run the same command again to resume"):
            _keep_deriving(deriving)


def _keep_deriving(deriving: Deriving) -> None:
    for _ in range(50):  # the pool learns of a death when it next looks
        later = deriving.submit([{"resourceType": "Organization", "id": "b"}])
        assert later is not None
        Deriving.result(later)


def test_without_workers_nothing_is_started_and_the_write_derives() -> None:
    with Deriving(0) as deriving:
        assert deriving.submit([{"resourceType": "Organization", "id": "a"}]) is None
    assert 1 <= default_workers() <= 8
