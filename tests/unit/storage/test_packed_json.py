"""Resource JSON packed against a preset dictionary in the SQLite store: smaller, read back byte for byte, and rows
written before packing still read as they were."""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from pathlib import Path

import orjson
import pytest

from mais_node.config import Settings
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic import iter_population
from mais_node.storage.packed_json import DICTIONARY, PACKED, pack, unpack
from mais_node.wiring import build_services

# Every packed row in every store needs this very dictionary to be read: it can never change.
DICTIONARY_SHA256 = "b850a4bede684194ccad54b39192984a92c79559195a7f8af34e6b9e99cf9176"


def test_the_dictionary_is_the_one_every_packed_row_was_made_with() -> None:
    assert hashlib.sha256(DICTIONARY).hexdigest() == DICTIONARY_SHA256


def test_people_pack_to_a_fraction_and_read_back_byte_for_byte() -> None:
    people = [orjson.dumps(to_fhir_patient(record)) for record in iter_population(500, seed=3)]
    packed = [pack(json) for json in people]
    assert [unpack(value) for value in packed] == people
    assert all(value[:1] == PACKED for value in packed)
    assert sum(map(len, packed)) < 0.3 * sum(map(len, people))


def test_a_copied_primed_compressor_makes_the_bytes_a_freshly_primed_one_makes() -> None:
    people = [orjson.dumps(to_fhir_patient(record)) for record in iter_population(300, seed=5)]
    for json in people:
        fresh = zlib.compressobj(1, zlib.DEFLATED, -13, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        assert pack(json) == PACKED + fresh.compress(json) + fresh.flush()


def test_short_json_a_deletion_and_a_resource_larger_than_the_window_round_trip() -> None:
    large = orjson.dumps({"resourceType": "Bundle", "entry": [{"fullUrl": f"urn:uuid:{n:032x}"} for n in range(3000)]})
    assert len(large) > 64 * 1024
    for json in (b"", b'{"resourceType":"Basic"}', large):
        assert unpack(pack(json)) == json
    assert pack(b"") == b""


def test_a_packed_value_cut_short_is_an_error_not_a_shorter_resource() -> None:
    packed = pack(orjson.dumps(to_fhir_patient(next(iter_population(1, seed=4)))))
    with pytest.raises(zlib.error):
        unpack(packed[: len(packed) // 2])


def test_a_store_reads_rows_written_before_packing_and_packs_them_when_written_again(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    services = build_services(Settings(store=f"sqlite:///{db}"))
    try:
        resources = services.resources
        patient = {**to_fhir_patient(next(iter_population(1, seed=5))), "id": "p1"}
        first = resources.update("Patient", "p1", patient).stored
        with sqlite3.connect(db) as conn:  # as a node before packing wrote it: the JSON itself, in both tables
            (packed,) = conn.execute("SELECT json FROM resource WHERE id = 'p1'").fetchone()
            assert packed[:1] == PACKED
            conn.execute("UPDATE resource SET json = ? WHERE id = 'p1'", (first.json,))
            conn.execute("UPDATE resource_version SET json = ? WHERE id = 'p1'", (first.json,))
        assert resources.read("Patient", "p1").json == first.json
        assert services.persons.rows.rebuild() == 1  # the person index is made from the rows as they are
        changed = resources.update("Patient", "p1", {**patient, "gender": "other"}).stored
        assert resources.vread("Patient", "p1", "1").json == first.json
        assert resources.read("Patient", "p1").json == changed.json
        with sqlite3.connect(db) as conn:
            stored = dict(conn.execute("SELECT vid, json FROM resource_version WHERE id = 'p1'").fetchall())
        assert stored[1] == first.json
        assert stored[2][:1] == PACKED
        assert unpack(stored[2]) == changed.json
    finally:
        services.close()
