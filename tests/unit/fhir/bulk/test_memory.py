"""The import's memory does not grow with the file: the peak of what Python allocates while importing a file five
times larger (the scratch space in its temporary SQLite file, the node's real SQLite store) stays within a small
margin of the smaller file's.
Reading the whole file first, as the import did before, holds the 4,400 more rows (several MB) and fails it."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import orjson
import pytest

from mais_node.config import Settings
from mais_node.fhir.bulk import Importer, Reading
from mais_node.matching import normalise
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic import iter_population
from mais_node.storage.sqlite_scratch import SqliteScratch
from mais_node.validation.records import person_index_conformance
from mais_node.wiring import build_services

MARGIN = 2 * 1024 * 1024
BATCH = 200  # both files fill many batches: a batch's rows are what the import holds at once


def peak(tmp_path: Path, people: int) -> int:
    path = tmp_path / f"people-{people}.ndjson"
    with path.open("wb") as out:
        for number, record in enumerate(iter_population(people, seed=5)):
            out.write(orjson.dumps(to_fhir_patient(record)) + b"\n")
            if number % 10 == 0:
                episode = {"resourceType": "EpisodeOfCare", "status": "active",
                           "patient": {"reference": f"Patient/{record.id}"}}  # fmt: skip
                out.write(orjson.dumps(episode) + b"\n")
    services = build_services(Settings(store=f"sqlite:///{tmp_path / f'node-{people}.db'}"))
    services.vocabularies.load_files()
    scratch = SqliteScratch(tmp_path)
    conformance = person_index_conformance(services.validator())
    importer = Importer(services.resources, scratch, conformance=conformance, batch=BATCH)
    # Both runs start alike, whatever the tests before them in this process left: the name caches (bounded, at
    # 65,536 names each) empty, and no garbage waiting for the collector.
    for remembered in (normalise.normalise_name, normalise.fold, normalise.soundex):
        remembered.cache_clear()
    gc.collect()
    try:
        tracemalloc.start()
        importer.run(Reading(path), lambda: Reading(path))
        _, highest = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        scratch.close()
        services.close()
    assert importer.report.rejected == []
    assert importer.report.imported["Patient"] == people
    return highest


@pytest.mark.slow
def test_a_file_five_times_larger_takes_no_more_memory(tmp_path: Path) -> None:
    small, large = peak(tmp_path, 1_000), peak(tmp_path, 5_000)
    assert large < small + MARGIN, (small, large)
