"""A node's services for the bulk import's tests (real SQLite, the shipped vocabularies and profiles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mais_node.config import Settings
from mais_node.fhir.bulk import Importer, MemoryScratch
from mais_node.validation.records import person_index_conformance
from mais_node.wiring import Services, build_services


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    services = build_services(Settings(store=f"sqlite:///{tmp_path_factory.mktemp('bulk') / 'node.db'}"))
    services.vocabularies.load_files()
    yield services
    services.close()


@pytest.fixture
def importer(node: Services) -> Importer:
    return Importer(node.resources, MemoryScratch(), conformance=person_index_conformance(node.validator()))


def ndjson(path: Path, rows: list[object]) -> Path:
    import orjson

    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path
