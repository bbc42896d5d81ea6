"""One contract for every storage adapter: the same behaviour on SQLite and on MongoDB."""

from __future__ import annotations

import pytest

from mais_node.clock import FixedClock
from mais_node.errors import Gone, InvalidRequest, NotFound, PreconditionFailed, VersionConflict
from mais_node.fhir.search.dates import render
from mais_node.fhir.search.extract import index_entries
from mais_node.fhir.search.query import Criterion, Query, ReferenceValue, TokenValue
from mais_node.fhir.service import ResourceService
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import Change, ResourceStore
from tests.builders import NHS, episode, organization, patient


@pytest.fixture
def service(store: ResourceStore, clock: FixedClock) -> ResourceService:
    return ResourceService(store, clock)


def ids(service: ResourceService, rtype: str, *pairs: tuple[str, str]) -> list[str]:
    return [s.id for s in service.search(rtype, list(pairs)).page.items]


def test_create_then_read_gives_version_one(service: ResourceService) -> None:
    written = service.create("Patient", patient())
    assert written.created
    stored = service.read("Patient", written.stored.id)
    assert stored.version == 1
    assert stored.body["meta"]["versionId"] == "1"
    assert stored.body["meta"]["lastUpdated"] == "2026-11-26T09:30:00.000Z"
    assert stored.body["name"][0]["family"] == "Smith"


def test_update_makes_a_new_version_and_keeps_the_old(service: ResourceService, clock: FixedClock) -> None:
    pid = service.create("Patient", patient()).stored.id
    clock.advance(minutes=1)
    service.update("Patient", pid, patient(id=pid, gender="female"), if_match=1)
    assert service.read("Patient", pid).body["gender"] == "female"
    assert service.vread("Patient", pid, "1").body["gender"] == "male"
    assert service.read("Patient", pid).version == 2


def test_update_with_a_stale_version_is_refused_and_changes_nothing(service: ResourceService) -> None:
    pid = service.create("Patient", patient()).stored.id
    service.update("Patient", pid, patient(id=pid, gender="female"))
    with pytest.raises(PreconditionFailed):
        service.update("Patient", pid, patient(id=pid, gender="other"), if_match=1)
    assert service.read("Patient", pid).body["gender"] == "female"
    assert service.read("Patient", pid).version == 2


def test_update_of_an_unknown_id_creates_it(service: ResourceService) -> None:
    written = service.update("Patient", "p-1", patient(id="p-1"))
    assert written.created
    assert service.read("Patient", "p-1").version == 1


def test_store_refuses_a_concurrent_writer_of_the_same_version(store: ResourceStore) -> None:
    body = patient(id="p-2")
    store.write(Change("create", "Patient", "p-2", render_now(), dict(body), index_entries(body), 0))
    with pytest.raises(VersionConflict):
        store.write(Change("create", "Patient", "p-2", render_now(), dict(body), index_entries(body), 0))
    assert store.read("Patient", "p-2") is not None


def render_now() -> str:
    from datetime import UTC, datetime

    return render(datetime(2026, 1, 1, tzinfo=UTC))


def test_delete_leaves_a_tombstone_version(service: ResourceService) -> None:
    pid = service.create("Patient", patient()).stored.id
    service.delete("Patient", pid)
    with pytest.raises(Gone):
        service.read("Patient", pid)
    with pytest.raises(Gone):
        service.vread("Patient", pid, "2")
    assert service.vread("Patient", pid, "1").body["gender"] == "male"
    assert ids(service, "Patient") == []
    service.delete("Patient", pid)  # deleting again succeeds and adds nothing
    assert [s.version for s in service.history("Patient", pid, None, None).items] == [2, 1]


def test_read_of_an_unknown_resource_is_not_found(service: ResourceService) -> None:
    with pytest.raises(NotFound):
        service.read("Patient", "nope")
    with pytest.raises(NotFound):
        service.vread("Patient", "nope", "1")


def test_history_is_newest_first_and_pages_with_a_cursor(service: ResourceService, clock: FixedClock) -> None:
    pid = service.create("Patient", patient()).stored.id
    for gender in ("female", "other", "unknown"):
        clock.advance(seconds=1)
        service.update("Patient", pid, patient(id=pid, gender=gender))
    first = service.history("Patient", pid, 2, None)
    assert [s.version for s in first.items] == [4, 3]
    second = service.history("Patient", pid, 2, first.next_after)
    assert [s.version for s in second.items] == [2, 1]
    assert second.next_after is None
    assert len(service.history("Patient", None, 10, None).items) == 4
    assert len(service.history(None, None, 10, None).items) == 4


def test_history_since_keeps_the_versions_written_at_or_after_it(service: ResourceService, clock: FixedClock) -> None:
    pid = service.create("Patient", patient()).stored.id
    clock.advance(hours=1)
    middle = service.update("Patient", pid, patient(id=pid, gender="female")).stored.last_updated
    clock.advance(hours=1)
    service.update("Patient", pid, patient(id=pid, gender="other"))
    since = fhir_instant(middle)
    assert [s.version for s in service.history("Patient", pid, None, None, since=since).items] == [3, 2]
    assert [s.version for s in service.history(None, None, None, None, since=since).items] == [3, 2]
    first = service.history("Patient", None, 1, None, since=since)
    assert [s.version for s in first.items] == [3]
    assert [s.version for s in service.history("Patient", None, 1, first.next_after, since=since).items] == [2]


def test_a_query_marked_selective_finds_what_the_planner_finds(service: ResourceService, store: ResourceStore) -> None:
    org = service.create("Organization", organization()).stored.id
    pid, other = (service.create("Patient", patient()).stored.id for _ in range(2))
    for status, owner in (("finished", pid), ("active", pid), ("active", other), ("active", pid)):
        service.create("EpisodeOfCare", {**episode(owner, org), "status": status})
    parsed = service.search("EpisodeOfCare", [("patient", f"Patient/{pid}"), ("status", "active"), ("_sort", "_id")])
    for selective in (0, 1):
        query = Query(
            "EpisodeOfCare",
            (
                Criterion("patient", (ReferenceValue(f"Patient/{pid}"),)),
                Criterion("status", (TokenValue(None, "active"),)),
            ),
            selective=selective,
        )
        assert [s.id for s in store.search(query).items] == [s.id for s in parsed.page.items]
    assert len(parsed.page.items) == 2


def test_latest_change_moves_with_every_write_of_its_type_only(service: ResourceService, store: ResourceStore) -> None:
    assert store.latest_change("Patient") == ""
    pid = service.create("Patient", patient()).stored.id
    seen = {store.latest_change("Patient")}
    service.create("Organization", {"resourceType": "Organization", "name": "Elsewhere"})
    assert store.latest_change("Patient") in seen
    service.update("Patient", pid, patient(id=pid, gender="other"))
    seen.add(store.latest_change("Patient"))
    service.delete("Patient", pid)
    seen.add(store.latest_change("Patient"))
    assert len(seen) == 3
    assert "" not in seen
    both = store.latest_change("Patient", "Organization")
    service.create("Organization", {"resourceType": "Organization", "name": "Another"})
    assert store.latest_change("Patient", "Organization") != both
    assert store.latest_change("Patient") in seen


def test_conditional_create_returns_the_existing_match(service: ResourceService) -> None:
    first = service.create("Patient", patient())
    again = service.create("Patient", patient(), if_none_exist=f"identifier={NHS}|9434765919")
    assert not again.created
    assert again.stored.id == first.stored.id
    other = service.create("Patient", patient(), if_none_exist=f"identifier={NHS}|0000000000")
    assert other.created


def test_string_search_is_prefix_case_and_accent_insensitive(service: ResourceService) -> None:
    a = service.create("Patient", patient(name=[{"family": "Ébért", "given": ["Zoë"]}])).stored.id
    b = service.create("Patient", patient(name=[{"family": "Ebbs", "given": ["Ann"]}])).stored.id
    assert sorted(ids(service, "Patient", ("family", "eb"))) == sorted([a, b])
    assert ids(service, "Patient", ("family", "EBER")) == [a]
    assert ids(service, "Patient", ("given", "zoe")) == [a]
    assert ids(service, "Patient", ("family:exact", "Ébért")) == [a]
    assert ids(service, "Patient", ("family:exact", "ebert")) == []
    assert ids(service, "Patient", ("name:contains", "bb")) == [b]


def test_token_search_with_system_not_and_missing(service: ResourceService) -> None:
    a = service.create("Patient", patient()).stored.id
    b = service.create(
        "Patient", patient(identifier=[{"system": "urn:local", "value": "9434765919"}], gender="female")
    ).stored.id
    c = service.create("Patient", patient(identifier=None, gender=None)).stored.id
    assert ids(service, "Patient", ("identifier", f"{NHS}|9434765919")) == [a]
    assert sorted(ids(service, "Patient", ("identifier", "9434765919"))) == sorted([a, b])
    assert ids(service, "Patient", ("identifier", "urn:local|")) == [b]
    assert sorted(ids(service, "Patient", ("gender:not", "male"))) == sorted([b, c])
    assert ids(service, "Patient", ("gender:missing", "true")) == [c]
    assert sorted(ids(service, "Patient", ("gender:missing", "false"))) == sorted([a, b])
    assert sorted(ids(service, "Patient", ("gender", "male,female"))) == sorted([a, b])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-05-01", {"may1"}),
        ("1990-05", {"may1", "may31"}),
        ("eq1990", {"may1", "may31", "dec"}),
        ("ne1990-05", {"dec", "y2000"}),
        ("gt1990-05-31", {"dec", "y2000"}),
        ("ge1990-05-31", {"may31", "dec", "y2000"}),
        ("lt1990-05-31", {"may1"}),
        ("le1990-05-31", {"may1", "may31"}),
        ("sa1990", {"y2000"}),
        ("eb1990-12", {"may1", "may31"}),
        ("ap1990-05-15", {"may1", "may31", "dec"}),
    ],
)
def test_date_search_prefixes(service: ResourceService, value: str, expected: set[str]) -> None:
    for name, born in (("may1", "1990-05-01"), ("may31", "1990-05-31"), ("dec", "1990-12-25"), ("y2000", "2000-01-01")):
        service.update("Patient", name, patient(id=name, birthDate=born))
    assert set(ids(service, "Patient", ("birthdate", value))) == expected


def test_reference_search_and_includes(service: ResourceService) -> None:
    org = service.create("Organization", organization()).stored.id
    pid = service.create("Patient", patient()).stored.id
    other = service.create("Patient", patient()).stored.id
    eoc = service.create("EpisodeOfCare", episode(pid, org)).stored.id
    assert ids(service, "EpisodeOfCare", ("patient", f"Patient/{pid}")) == [eoc]
    assert ids(service, "EpisodeOfCare", ("patient", pid)) == [eoc]
    assert ids(service, "EpisodeOfCare", ("patient", other)) == []
    result = service.search(
        "EpisodeOfCare", [("_include", "EpisodeOfCare:patient"), ("_include", "EpisodeOfCare:organization")]
    )
    assert {(s.resource_type, s.id) for s in result.included} == {("Patient", pid), ("Organization", org)}
    rev = service.search("Patient", [("_id", pid), ("_revinclude", "EpisodeOfCare:patient")])
    assert [s.id for s in rev.included] == [eoc]


def test_sort_on_several_keys_and_keyset_paging(service: ResourceService) -> None:
    people = [("Adams", "1990"), ("Brown", "1985"), ("Adams", "1980"), ("Clark", "1970"), ("Brown", "1995")]
    for i, (family, year) in enumerate(people):
        service.update("Patient", f"p{i}", patient(id=f"p{i}", name=[{"family": family}], birthDate=f"{year}-01-01"))
    seen: list[str] = []
    pairs = [("_sort", "family,-birthdate"), ("_count", "2")]
    result = service.search("Patient", pairs)
    seen += [s.id for s in result.page.items]
    while result.page.next_after is not None:
        from mais_node.fhir.search.parse import encode_cursor

        result = service.search("Patient", [*pairs, ("_cursor", encode_cursor(result.page.next_after))])
        seen += [s.id for s in result.page.items]
    assert seen == ["p0", "p2", "p4", "p1", "p3"]


def test_total_and_summary_count(service: ResourceService) -> None:
    for _ in range(3):
        service.create("Patient", patient())
    assert service.search("Patient", [("_count", "1"), ("_total", "accurate")]).page.total == 3
    counted = service.search("Patient", [("_summary", "count")])
    assert counted.page.total == 3
    assert counted.page.items == []


def test_last_updated_search(service: ResourceService, clock: FixedClock) -> None:
    old = service.create("Patient", patient()).stored.id
    clock.advance(days=2)
    new = service.create("Patient", patient()).stored.id
    assert ids(service, "Patient", ("_lastUpdated", "gt2026-11-27")) == [new]
    assert ids(service, "Patient", ("_lastUpdated", "lt2026-11-27")) == [old]


def test_unknown_parameters_are_reported_or_refused_in_strict_mode(service: ResourceService) -> None:
    service.create("Patient", patient())
    lenient = service.search("Patient", [("shoe-size", "9")])
    assert lenient.request.ignored == ["shoe-size"]
    assert len(lenient.page.items) == 1
    with pytest.raises(InvalidRequest):
        service.search("Patient", [("shoe-size", "9")], strict=True)


def test_a_refused_write_changes_nothing(service: ResourceService) -> None:
    pid = service.create("Patient", patient()).stored.id
    with pytest.raises(InvalidRequest):
        service.update("Patient", pid, patient(id="other"))
    with pytest.raises(InvalidRequest):
        service.update("Patient", pid, {**patient(id=pid), "birthDate": "1990-13-45"})
    assert service.read("Patient", pid).version == 1
    assert len(service.history(None, None, 10, None).items) == 1


def test_a_code_by_its_system_and_a_reference_by_this_servers_url(store: ResourceStore, clock: FixedClock) -> None:
    base = "https://node.example/fhir"
    service = ResourceService(store, clock, base=base)
    org = service.create("Organization", organization()).stored.id
    relative = service.create("Patient", patient(managingOrganization={"reference": f"Organization/{org}"})).stored.id
    absolute = service.create(
        "Patient", patient(gender="female", managingOrganization={"reference": f"{base}/Organization/{org}"})
    ).stored.id
    for value in (f"Organization/{org}", f"{base}/Organization/{org}", org):
        assert sorted(ids(service, "Patient", ("organization", value))) == sorted([relative, absolute]), value
    assert ids(service, "Patient", ("organization", f"https://elsewhere.example/fhir/Organization/{org}")) == []
    assert ids(service, "Patient", ("gender", "http://hl7.org/fhir/administrative-gender|female")) == [absolute]
    assert ids(service, "Patient", ("gender", "http://example.org/not-gender|female")) == []


def test_include_and_revinclude_follow_references_by_this_servers_url(store: ResourceStore, clock: FixedClock) -> None:
    base = "https://node.example/fhir"
    service = ResourceService(store, clock, base=base)
    org = service.create("Organization", organization()).stored.id
    pid = service.create("Patient", patient(managingOrganization={"reference": f"{base}/Organization/{org}"})).stored.id
    included = service.search("Patient", [("_id", pid), ("_include", "Patient:organization")]).included
    assert [s.id for s in included] == [org]
    revincluded = service.search("Organization", [("_id", org), ("_revinclude", "Patient:organization")]).included
    assert [s.id for s in revincluded] == [pid]
