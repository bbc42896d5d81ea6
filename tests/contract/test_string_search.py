"""Issue 13: the FHIR string search is blind to what the person matcher is blind to. ``Patient?name=Sanjay`` finds a
stored "San\\u200bjay" and the reverse; and a store whose index was written by the old normalisation is found the
same way after a restart (the index values are made again at start)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import mongomock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mais_node.clock import FixedClock
from mais_node.fhir.search.text import normalise
from mais_node.fhir.service import ResourceService
from mais_node.matching.normalise import normalise_name
from mais_node.storage.mongo import MongoResourceStore
from mais_node.storage.port import ResourceStore
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
from tests.builders import patient

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e"]


@pytest.fixture
def service(store: ResourceStore, clock: FixedClock) -> ResourceService:
    return ResourceService(store, clock)


def named(given: str, family: str = "Patel") -> dict[str, object]:
    return patient(name=[{"use": "official", "family": family, "given": [given]}])


def found(service: ResourceService, *pairs: tuple[str, str]) -> list[str]:
    return [s.id for s in service.search("Patient", list(pairs)).page.items]


@pytest.mark.parametrize("invisible", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_a_name_with_an_invisible_character_is_found_by_the_plain_name_and_the_reverse(
    service: ResourceService, invisible: str
) -> None:
    hidden = service.create("Patient", named(f"San{invisible}jay")).stored.id
    plain = service.create("Patient", named("Sanjay", "Shah")).stored.id
    assert sorted(found(service, ("given", "Sanjay"))) == sorted([hidden, plain])
    assert sorted(found(service, ("given", f"San{invisible}jay"))) == sorted([hidden, plain])
    assert sorted(found(service, ("name", f"San{invisible}"))) == sorted([hidden, plain])
    assert found(service, ("given:contains", f"n{invisible}ja"), ("family", "Patel")) == [hidden]


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("\uff33\uff41\uff4e\uff4a\uff41\uff59", "Sanjay"),  # fullwidth (NFKC)
        ("Łukasz", "Lukasz"),  # a stroke Unicode does not decompose
        ("O\u2019Brien", "O'Brien"),  # typographic and typewriter apostrophes
        ("Mary-Jane", "Mary Jane"),
        ("Zoë", "ZOE"),
    ],
)
def test_a_search_finds_what_the_matcher_takes_for_the_same_name(
    service: ResourceService, stored: str, asked: str
) -> None:
    assert normalise_name(stored) == normalise_name(asked)  # the matcher's view
    pid = service.create("Patient", named(stored)).stored.id
    assert found(service, ("given", asked)) == [pid]
    assert found(service, ("given", stored)) == [pid]


def test_a_prefix_search_still_finds_longer_names(service: ResourceService) -> None:
    pid = service.create("Patient", named("Sanjay", "McDonald")).stored.id
    assert found(service, ("family", "Mc")) == [pid]  # the matcher's Mc/Mac rule is not a search rule
    assert found(service, ("family", "McD")) == [pid]


@pytest.mark.parametrize("value", ["\u200b", "-", "'", "\u00ad\u200d", ".*"])
@pytest.mark.parametrize("modifier", ["", ":contains"])
def test_a_search_value_with_nothing_to_search_for_matches_nothing(
    service: ResourceService, value: str, modifier: str
) -> None:
    service.create("Patient", named("Sanjay"))
    service.create("Patient", named("O'Brien", "-"))
    assert found(service, (f"given{modifier}", value)) == []  # not every resource, as the empty fold would
    assert found(service, (f"family{modifier}", value)) == []


letters = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéüñçŁøABCZ"), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(name=letters, hidden=st.lists(st.tuples(st.integers(0, 12), st.sampled_from(INVISIBLE)), max_size=4))
def test_invisible_characters_never_change_what_a_search_value_is(name: str, hidden: list[tuple[int, str]]) -> None:
    dirty = name
    for at, char in hidden:
        dirty = dirty[:at] + char + dirty[at:]
    assert normalise(dirty) == normalise(name)
    assert all(unicodedata.category(c) != "Cf" for c in normalise(dirty))
    assert normalise_name(dirty).replace("mac", "mc") == normalise(dirty).replace("mac", "mc")


def _before_issue_13(text: str) -> str:
    """The search normalisation stores held before: format characters and strokes were kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def test_a_sqlite_index_written_by_the_old_normalisation_is_made_again_at_start(
    tmp_path: Path, clock: FixedClock
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = SqliteDatabase(url)
    pid = ResourceService(SqliteResourceStore(db), clock).create("Patient", named("San\u200bjay")).stored.id
    with db.transaction() as conn:  # as a node before this change left it
        rows = conn.execute("SELECT rowid, x FROM sidx WHERE x IS NOT NULL").fetchall()
        conn.executemany("UPDATE sidx SET v = ? WHERE rowid = ?", [(_before_issue_13(x), r) for r, x in rows])
        conn.execute("DELETE FROM store_meta")
    db.close()
    reopened = SqliteDatabase(url)
    assert found(ResourceService(SqliteResourceStore(reopened), clock), ("given", "Sanjay")) == [pid]
    reopened.close()


def test_a_mongo_index_written_by_the_old_normalisation_is_made_again_at_start(clock: FixedClock) -> None:
    database = mongomock.MongoClient().get_database("mais")
    pid = ResourceService(MongoResourceStore(database), clock).create("Patient", named("San\u200bjay")).stored.id
    doc = database["resource"].find_one({"_id": f"Patient/{pid}"})
    assert doc is not None
    old = [{**e, "v": _before_issue_13(e["x"])} if "x" in e else e for e in doc["ix"]]
    database["resource"].update_one({"_id": doc["_id"]}, {"$set": {"ix": old}})
    database["store_meta"].delete_many({})
    assert found(ResourceService(MongoResourceStore(database), clock), ("given", "Sanjay")) == [pid]
