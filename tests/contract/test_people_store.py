"""The console's people-store contract (DESIGN §8, §12): accounts and sessions behave the same on every adapter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import mongomock
import pytest

from mais_node.console.people import PeopleStore, Person, Session
from mais_node.errors import VersionConflict
from tests.conftest import STORES

NOW = 1_800_000_000.0


@pytest.fixture(params=STORES)
def people(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PeopleStore]:
    if request.param == "sqlite":
        from mais_node.storage.sqlite import SqliteDatabase
        from mais_node.storage.sqlite_people import SqlitePeopleStore

        db = SqliteDatabase(f"sqlite:///{tmp_path / 'people.db'}")
        yield SqlitePeopleStore(db)
        db.close()
        return
    from mais_node.storage.mongo import connect
    from mais_node.storage.mongo_people import MongoPeopleStore

    if request.param == "mongo":
        yield MongoPeopleStore(mongomock.MongoClient().get_database("mais"))
        return
    database = connect(os.environ["MAIS_TEST_MONGODB_URI"].rstrip("/") + f"/mais_people_{os.getpid()}")
    yield MongoPeopleStore(database)
    database.client.drop_database(database.name)


def a_person(name: str = "olu", role: str = "ig-officer") -> Person:
    return Person(name, role, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "2026-12-01T09:00:00+00:00", "Olu A")


def a_session(key: str = "k1", last_seen: float = NOW) -> Session:
    return Session(key, "olu", "csrf-token", NOW, last_seen, NOW + 8 * 3600)


def test_an_account_round_trips(people: PeopleStore) -> None:
    people.put_person(a_person(), expected_version=0)
    assert people.get_person("olu") == a_person()
    assert people.get_person("nobody") is None


def test_an_account_name_is_taken_once(people: PeopleStore) -> None:
    people.put_person(a_person(), expected_version=0)
    with pytest.raises(VersionConflict):
        people.put_person(a_person(role="auditor"), expected_version=0)


def test_an_account_update_needs_the_current_version(people: PeopleStore) -> None:
    people.put_person(a_person(), expected_version=0)
    counted = replace(a_person(), failures=1, version=2)
    people.put_person(counted, expected_version=1)
    assert people.get_person("olu") == counted
    with pytest.raises(VersionConflict):  # a second replica counting on the version it read: it must read again
        people.put_person(replace(a_person(), failures=1, version=2), expected_version=1)


def test_accounts_are_listed_by_name(people: PeopleStore) -> None:
    for name in ("pat", "ade", "olu"):
        people.put_person(a_person(name), expected_version=0)
    assert [p.name for p in people.list_people()] == ["ade", "olu", "pat"]


def test_a_session_round_trips_is_replaced_and_removed(people: PeopleStore) -> None:
    people.put_session(a_session())
    assert people.get_session("k1") == a_session()
    people.put_session(a_session(last_seen=NOW + 60))
    got = people.get_session("k1")
    assert got is not None
    assert got.last_seen == NOW + 60
    people.delete_session("k1")
    assert people.get_session("k1") is None
    people.delete_session("k1")  # removing twice is no error


def test_expired_sessions_are_purged_when_another_is_written(people: PeopleStore) -> None:
    people.put_session(a_session("old"))
    people.put_session(a_session("new", last_seen=NOW + 9 * 3600))
    assert people.get_session("old") is None
    assert people.get_session("new") is not None
