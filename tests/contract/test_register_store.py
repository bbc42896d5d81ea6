"""The register-store contract (DESIGN §8): clients, the replay cache, rate counters and node keys behave the same
on every adapter; the replay cache and the counters are shared by every worker using the same store.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.auth.ports import NodeKey
from mais_node.auth.services import RegisterStore
from mais_node.errors import VersionConflict
from mais_node.network.ports import AppliedRegister, NetworkStore, Published, RegisterChanges
from mais_node.register.model import Client
from mais_node.storage.sqlite import SqliteDatabase
from mais_node.storage.sqlite_register import SqliteRegisterStore

NOW = 1_800_000_000.0


def a_client(client_id: str = "c1", org: str = "LA0001", created: str = "2026-01-01T00:00:00+00:00") -> Client:
    return Client(client_id, org, ("system/Patient.rs",), created, jwks={"keys": [{"kty": "EC", "kid": "k"}]})


def test_a_client_round_trips(register_store: RegisterStore) -> None:
    register_store.put_client(a_client(), expected_version=0)
    assert register_store.get_client("c1") == a_client()
    assert register_store.get_client("nobody") is None


def test_a_client_id_is_registered_once(register_store: RegisterStore) -> None:
    register_store.put_client(a_client(), expected_version=0)
    with pytest.raises(VersionConflict):
        register_store.put_client(a_client(), expected_version=0)


def test_a_client_update_needs_the_current_version(register_store: RegisterStore) -> None:
    register_store.put_client(a_client(), expected_version=0)
    revoked = replace(a_client(), status="revoked", version=2)
    register_store.put_client(revoked, expected_version=1)
    assert register_store.get_client("c1") == revoked
    with pytest.raises(VersionConflict):
        register_store.put_client(replace(revoked, version=3), expected_version=1)


def test_clients_are_listed_oldest_first_and_by_organisation(register_store: RegisterStore) -> None:
    register_store.put_client(a_client("b", "LA0002", "2026-01-02T00:00:00+00:00"), expected_version=0)
    register_store.put_client(a_client("a", "LA0001", "2026-01-03T00:00:00+00:00"), expected_version=0)
    register_store.put_client(a_client("c", "LA0001", "2026-01-01T00:00:00+00:00"), expected_version=0)
    assert [c.client_id for c in register_store.list_clients()] == ["c", "b", "a"]
    assert [c.client_id for c in register_store.list_clients("LA0001")] == ["c", "a"]


def test_a_jti_is_accepted_once_per_issuer_within_its_lifetime(register_store: RegisterStore) -> None:
    assert register_store.first_use("c1", "j1", NOW + 300, NOW)
    assert not register_store.first_use("c1", "j1", NOW + 300, NOW + 10)
    assert register_store.first_use("c2", "j1", NOW + 300, NOW)
    assert register_store.first_use("c1", "j1", NOW + 900, NOW + 301)


def test_rate_counters_count_per_key_and_window(register_store: RegisterStore) -> None:
    assert [register_store.hit("client:a", 7, NOW) for _ in range(3)] == [1, 2, 3]
    assert register_store.hit("client:b", 7, NOW) == 1
    assert register_store.hit("client:a", 8, NOW + 60) == 1


def test_node_keys_keep_their_status(register_store: RegisterStore) -> None:
    key = NodeKey("k1", "ES384", {"kty": "EC", "d": "secret"}, "2026-01-01T00:00:00+00:00")
    register_store.add_node_key(key)
    register_store.add_node_key(key)  # a second worker racing to add the same key changes nothing
    register_store.add_node_key(replace(key, kid="k2", created="2026-01-02T00:00:00+00:00"))
    register_store.set_node_key_status("k1", "previous", "2026-01-02T00:00:00+00:00")
    keys = register_store.node_keys()
    assert [(k.kid, k.status) for k in keys] == [("k1", "previous"), ("k2", "active")]
    assert keys[0].jwk == {"kty": "EC", "d": "secret"}
    assert keys[0].status_since == "2026-01-02T00:00:00+00:00"


def test_two_workers_on_one_sqlite_file_share_the_replay_cache_and_counters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SqliteDatabase(url), SqliteDatabase(url)
    try:
        one, two = SqliteRegisterStore(first), SqliteRegisterStore(second)
        assert one.first_use("c1", "j1", NOW + 300, NOW)
        assert not two.first_use("c1", "j1", NOW + 300, NOW + 1)
        assert one.hit("client:a", 1, NOW) == 1
        assert two.hit("client:a", 1, NOW) == 2
    finally:
        first.close()
        second.close()


# -- the network's records (DESIGN §11): the applied national register, local suspensions, the published register --
def changes(serial: int, **entries: bytes | None) -> RegisterChanges:
    """Serial ``serial``'s write: ``Device_c1=b"..."`` is the entry ``Device/c1`` (None: removed)."""
    written = {ref.replace("_", "/", 1): state for ref, state in entries.items()}
    return RegisterChanges(serial, b'{"serial": %d}' % serial, written, f"digest-{serial}", "2026-12-01T00:00:00+00:00")


def test_the_national_register_is_replaced_only_over_the_serial_it_was_compared_with(register_store: Any) -> None:
    store: NetworkStore = register_store
    assert store.national() is None
    assert store.national_serial() is None
    store.put_national(changes(1, Device_c1=b"one"), expected_serial=None)
    with pytest.raises(VersionConflict):
        store.put_national(changes(2, Device_c1=b"lost"), expected_serial=None)  # a second worker's first import
    store.put_national(changes(3, Device_c1=b"three"), expected_serial=1)
    with pytest.raises(VersionConflict):
        store.put_national(changes(4, Device_c1=b"stale", Device_c2=b"stale"), expected_serial=1)
    assert store.national() == AppliedRegister(
        3, b'{"serial": 3}', {"Device/c1": b"three"}, "digest-3", "2026-12-01T00:00:00+00:00"
    )
    assert store.national_serial() == 3


def test_a_serial_writes_only_its_changes_over_the_entries_kept(register_store: Any) -> None:
    store: NetworkStore = register_store
    first = {"Organization_LA0001": b"org", "Endpoint_ep-1": b"ep", "Device_c1": b"c1", "Device_c2": b"c2"}
    store.put_national(changes(1, **first), expected_serial=None)
    store.put_national(changes(2, Device_c1=b"c1 suspended", Device_c2=None, Device_c3=b"c3"), expected_serial=1)
    applied = store.national()
    assert applied is not None
    assert (applied.serial, applied.header, applied.digest) == (2, b'{"serial": 2}', "digest-2")
    assert applied.entries == {
        "Organization/LA0001": b"org",
        "Endpoint/ep-1": b"ep",
        "Device/c1": b"c1 suspended",
        "Device/c3": b"c3",
    }


def test_a_write_that_loses_the_race_changes_no_entry(register_store: Any) -> None:
    store: NetworkStore = register_store
    store.put_national(changes(1, Device_c1=b"one", Device_c2=b"two"), expected_serial=None)
    store.put_national(changes(2, Device_c1=b"won"), expected_serial=1)
    with pytest.raises(VersionConflict):
        store.put_national(changes(2, Device_c1=b"lost", Device_c2=None, Device_c9=b"lost"), expected_serial=1)
    applied = store.national()
    assert applied is not None
    assert applied.entries == {"Device/c1": b"won", "Device/c2": b"two"}


def test_local_suspensions_are_set_kept_and_lifted(register_store: Any) -> None:
    store: NetworkStore = register_store
    store.set_local_suspension("Organization/LA0001", "2026-12-01T00:00:00+00:00")
    store.set_local_suspension("Organization/LA0001", "2026-12-02T00:00:00+00:00")  # the first time stays
    store.set_local_suspension("Device/c1", "2026-12-03T00:00:00+00:00")
    assert store.local_suspensions() == {
        "Organization/LA0001": "2026-12-01T00:00:00+00:00",
        "Device/c1": "2026-12-03T00:00:00+00:00",
    }
    store.set_local_suspension("Organization/LA0001", None)
    assert store.local_suspensions() == {"Device/c1": "2026-12-03T00:00:00+00:00"}


def test_the_published_register_only_moves_forward(register_store: Any) -> None:
    store: NetworkStore = register_store
    assert store.published() is None
    store.put_published(Published(2, '"2-a"', b"two"))
    with pytest.raises(VersionConflict):
        store.put_published(Published(2, '"2-b"', b"two again"))
    with pytest.raises(VersionConflict):
        store.put_published(Published(1, '"1"', b"one"))
    store.put_published(Published(5, '"5"', b"five"))
    assert store.published() == Published(5, '"5"', b"five")
    assert store.published_serial() == 5


def _whole_register() -> tuple[bytes, bytes]:
    """A register as it was kept before entries were kept one by one: the whole state and the signed document."""
    from tests.registers import Authority, a_system, an_organisation

    authority = Authority()
    content = authority.content(7, [an_organisation("LA0001")], [a_system("c1")])
    return orjson.dumps(content.state()), orjson.dumps(authority.signed(content))


def _check_converted(store: NetworkStore, document: bytes) -> None:
    applied = store.national()
    assert applied is not None
    assert applied.serial == 7  # no rollback across the change of form
    assert sorted(applied.entries) == ["Device/c1", "Endpoint/ep-LA0001", "Organization/LA0001"]
    assert applied.digest == hashlib.sha256(document).hexdigest()
    store.put_national(changes(8, Device_c1=None), expected_serial=7)
    after = store.national()
    assert after is not None
    assert sorted(after.entries) == ["Endpoint/ep-LA0001", "Organization/LA0001"]


def test_a_register_kept_whole_on_sqlite_is_converted_at_start(tmp_path: Path) -> None:
    import sqlite3

    state, document = _whole_register()
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE national_register (id INTEGER PRIMARY KEY CHECK (id = 1), serial INTEGER NOT NULL, "
            "applied TEXT NOT NULL, state BLOB NOT NULL, document BLOB NOT NULL)"
        )
        conn.execute(
            "INSERT INTO national_register VALUES (1, 7, '2026-12-01T00:00:00+00:00', ?, ?)", (state, document)
        )
    conn.close()
    db = SqliteDatabase(f"sqlite:///{path}")
    try:
        _check_converted(SqliteRegisterStore(db), document)
    finally:
        db.close()


def test_a_register_kept_whole_on_mongodb_is_read_and_converted_by_the_next_import() -> None:
    import mongomock

    from mais_node.storage.mongo_register import MongoRegisterStore

    state, document = _whole_register()
    database = mongomock.MongoClient().get_database("mais")
    legacy = {"_id": "applied", "serial": 7, "applied": "2026-12-01T00:00:00+00:00", "state": state}
    database.get_collection("national_register").insert_one(legacy | {"document": document})
    _check_converted(MongoRegisterStore(database), document)


def test_an_entry_back_to_an_earlier_state_is_written_again(register_store: Any) -> None:
    store: NetworkStore = register_store
    store.put_national(changes(1, Device_c1=b"one"), expected_serial=None)
    store.put_national(changes(2, Device_c1=b"two"), expected_serial=1)
    store.put_national(changes(3, Device_c1=b"one"), expected_serial=2)  # a state MongoDB already holds by its hash
    applied = store.national()
    assert applied is not None
    assert applied.entries == {"Device/c1": b"one"}


def test_on_mongodb_a_loser_whose_states_are_written_leaves_the_winners_register() -> None:
    """Two workers race past the serial check; the second's states are written, its pointer is not."""
    import mongomock

    from mais_node.storage.mongo_register import MongoRegisterStore

    store = MongoRegisterStore(mongomock.MongoClient().get_database("mais"))
    store.put_national(changes(1, Device_c1=b"one", Device_c2=b"two"), expected_serial=None)
    write_states = store._put_entries

    def winner_first(states: dict[str, bytes]) -> None:
        write_states(states)
        store._put_entries = write_states  # type: ignore[method-assign]
        store.put_national(changes(2, Device_c1=b"won"), expected_serial=1)

    store._put_entries = winner_first  # type: ignore[method-assign]
    with pytest.raises(VersionConflict):
        store.put_national(changes(2, Device_c1=b"lost", Device_c2=None, Device_c9=b"lost"), expected_serial=1)
    applied = store.national()
    assert applied is not None
    assert (applied.serial, applied.entries) == (2, {"Device/c1": b"won", "Device/c2": b"two"})


def test_the_areas_an_organisation_serves_are_kept_with_its_entry_and_changed_by_a_later_serial(
    register_store: Any,
) -> None:
    from mais_node.network.model import entry_states, from_entries, header_state
    from tests.registers import Authority, an_organisation

    store: NetworkStore = register_store
    authority = Authority()
    first = authority.content(1, [an_organisation("POL001", type="police", areas=("E08000035", "E08000032"))])
    store.put_national(
        RegisterChanges(1, header_state(first), dict(entry_states(first)), "d1", "2026-12-01T00:00:00+00:00"),
        expected_serial=None,
    )
    applied = store.national()
    assert applied is not None
    assert from_entries(applied.header, applied.entries).organisations["POL001"].areas == ("E08000035", "E08000032")
    second = authority.content(2, [an_organisation("POL001", type="police", areas=("E08000032",))])
    entry = {"Organization/POL001": entry_states(second)["Organization/POL001"]}
    store.put_national(
        RegisterChanges(2, header_state(second), entry, "d2", "2026-12-02T00:00:00+00:00"), expected_serial=1
    )
    applied = store.national()
    assert applied is not None
    assert from_entries(applied.header, applied.entries).organisations["POL001"].areas == ("E08000032",)
