"""The streamed import: every row checked before any is written, references found wherever they are in the file,
rows without an id matched on their identifier (never duplicated), and an interrupted import resumed from its
checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.fhir.bulk import Importer, MemoryScratch, Reading
from mais_node.validation.records import person_index_conformance
from mais_node.wiring import Services
from tests.builders import NHS, episode, patient
from tests.unit.fhir.bulk.conftest import ndjson

TEAM = {"resourceType": "Organization", "id": "team", "name": "North Team"}


def run(importer: Importer, path: Path) -> Importer:
    importer.run(Reading(path), lambda: Reading(path))
    return importer


def fresh(node: Services, **options: Any) -> Importer:
    return Importer(node.resources, MemoryScratch(), conformance=person_index_conformance(node.validator()), **options)


def count(node: Services, kind: str, *pairs: tuple[str, str]) -> int:
    return len(node.resources.search(kind, [*pairs, ("_count", "200")]).page.items)


def nhs(number: str) -> list[dict[str, str]]:
    return [{"system": NHS, "value": number}]


def test_an_involvement_may_come_before_its_person_and_team(node: Services, tmp_path: Path) -> None:
    path = ndjson(tmp_path / "f.ndjson", [episode("fwd1", "team", id="efwd"), patient(id="fwd1"), TEAM])
    report = run(fresh(node, batch=1), path).report
    assert report.rejected == []
    assert report.imported == {"EpisodeOfCare": 1, "Patient": 1, "Organization": 1}


def test_a_bad_row_anywhere_writes_nothing_and_is_reported_by_line(node: Services, tmp_path: Path) -> None:
    rows = [patient(id="none1"), episode("none1", "team"), TEAM, b"{not json", patient(id="none2", gender="robot"),
            episode("nobody", "team")]  # fmt: skip
    path = tmp_path / "f.ndjson"
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows))
    report = run(fresh(node, batch=2), path).report
    assert not report.written
    assert [(r.line, r.problems[0][:24]) for r in report.rejected] == [
        (4, "not valid JSON (characte"),
        (5, "'robot' is not allowed h"),
        (6, "patient names Patient/no"),
    ]
    assert node.resources.store.read("Patient", "none1") is None


def test_a_bundle_broken_half_way_is_reported_at_its_entry(node: Services, tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    whole = orjson.dumps({"resourceType": "Bundle", "type": "collection",
                          "entry": [{"resource": patient(id="half1")}, {"resource": patient(id="half2")}]})  # fmt: skip
    path.write_bytes(whole[: len(whole) - 30])
    report = run(fresh(node), path).report
    assert not report.written
    assert report.rejected[0].line == 2
    assert "not valid JSON" in report.rejected[0].problems[0]


def test_people_without_ids_are_matched_on_their_nhs_number_never_duplicated(node: Services, tmp_path: Path) -> None:
    held = node.resources.create("Patient", patient(identifier=nhs("4010232137"))).stored.id
    rows = [patient(identifier=nhs("4010232137"), gender="female"), patient(identifier=nhs("9990000018"))]
    path = ndjson(tmp_path / "f.ndjson", rows)
    for _ in range(2):
        assert run(fresh(node), path).report.imported == {"Patient": 2}
    assert count(node, "Patient", ("identifier", f"{NHS}|4010232137")) == 1
    assert count(node, "Patient", ("identifier", f"{NHS}|9990000018")) == 1
    assert node.resources.read("Patient", held).body["gender"] == "female"


def test_an_interrupted_import_resumes_after_its_last_batch(node: Services, tmp_path: Path) -> None:
    numbers = [f"{n:09d}" for n in range(900100, 900130)]
    rows = [patient(identifier=nhs(_check_digit(n))) for n in numbers if _check_digit(n)]
    path = ndjson(tmp_path / "f.ndjson", rows)
    batches = []

    def stop_after_two(phase: str, rows_: int, read: int, size: int, start: int) -> None:
        if phase == "importing":
            batches.append(rows_)
            if len(batches) == 2:
                raise KeyboardInterrupt

    first = fresh(node, batch=5, progress=stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        run(first, path)
    assert first.report.committed == 10
    told: list[tuple[str, int, int, int, int]] = []
    second = run(fresh(node, batch=5, progress=lambda *said: told.append(said)), path).report
    assert second.resumed_after == 10
    size = path.stat().st_size
    writing = [said for said in told if said[0] == "importing"]
    # The resumed run's rows and its time left count from the byte after line 10, where its writing began.
    begun = len(b"".join(path.read_bytes().splitlines(keepends=True)[:10]))
    assert {start for *_, start in writing} == {begun}
    assert writing[-1][1:4] == (len(rows) - 10, size, size)
    assert second.imported == {"Patient": len(rows) - 10}
    total = sum(count(node, "Patient", ("identifier", f"{NHS}|{r['identifier'][0]['value']}")) for r in rows)
    assert total == len(rows)
    assert run(fresh(node, batch=5), path).report.resumed_after == 0  # finished: a rerun starts afresh


def test_an_import_asked_to_stop_ends_at_a_batch_saying_what_the_store_holds(node: Services, tmp_path: Path) -> None:
    """``Importer.stop`` (the CLI's first SIGINT or SIGTERM) takes effect at the next batch: the report's count and
    its ``committed`` line are the store's, not a batch behind."""
    numbers = [f"{n:09d}" for n in range(900200, 900240)]
    rows = [patient(identifier=nhs(_check_digit(n))) for n in numbers if _check_digit(n)]
    path = ndjson(tmp_path / "f.ndjson", rows)
    importer: Importer

    def stop_in_the_third(phase: str, rows_: int, read: int, size: int, start: int) -> None:
        if phase == "importing" and rows_ >= 10:
            importer.stop()  # as the signal handler does, between two statements of the write

    importer = fresh(node, batch=5, progress=stop_in_the_third)
    with pytest.raises(KeyboardInterrupt):
        run(importer, path)
    held = sum(count(node, "Patient", ("identifier", f"{NHS}|{r['identifier'][0]['value']}")) for r in rows)
    assert importer.report.committed == int(node.resources.store.read_mark(importer.mark()) or 0) == 10
    assert importer.report.imported == {"Patient": held} == {"Patient": 10}


def _check_digit(nine: str) -> str:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    digit = 11 - total % 11
    return "" if digit == 10 else nine + str(digit % 11)
