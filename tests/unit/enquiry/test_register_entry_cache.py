"""The requester's register entry is kept until an Organization is written (issue 17, the enquiry's own cost).

On a real SQLite store through the node's own services: the entry is read from the store once while nothing changes,
and a suspension, an activation or a new entry (written here or by another worker on the same file) is in force for
the very next look. The keeping itself (``KeptUntilChanged``, what the vocabularies in force use too) on both
adapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mais_node.clock import FixedClock
from mais_node.enquiry.records import RegisterDirectory
from mais_node.fhir.kept import KeptUntilChanged
from mais_node.register.model import Organisation
from mais_node.storage.port import Change, ResourceStore
from mais_node.wiring import build_services
from tests.unit.auth.support import ADMIN, World, make_world


@pytest.fixture
def world(tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    node = make_world(tmp_path, clock)
    yield node
    node.close()


class Counted(RegisterDirectory):
    """The directory with a count of its own reads of the store (``Organisations.registered``)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.auth.organisations)
        self.reads: list[str] = []

    def _registered(self, ods: str) -> Organisation | None:
        reads = self.reads
        organisations = self.organisations

        class Counting:
            resources = organisations.resources

            def registered(self, asked: str) -> Organisation | None:
                reads.append(asked)
                return organisations.registered(asked)

        self.organisations = Counting()  # type: ignore[assignment]
        try:
            return super()._registered(ods)
        finally:
            self.organisations = organisations


def test_the_entry_is_read_from_the_store_once_while_no_organization_changes(world: World) -> None:
    world.organisation("LA0001")
    directory = Counted(world)
    first = directory.requester("LA0001")
    again = [directory.requester("LA0001") for _ in range(3)]
    assert first is not None
    assert first.active
    assert again == [first] * 3
    assert directory.reads == ["LA0001"]


def test_a_suspension_is_in_force_for_the_very_next_look(world: World) -> None:
    world.organisation("LA0001")
    directory = Counted(world)
    before = directory.requester("LA0001")
    assert before is not None
    assert before.operational_status == "active"
    world.auth.organisations.suspend("LA0001", actor=ADMIN)
    after = directory.requester("LA0001")
    assert after is not None
    assert (after.operational_status, after.active) == ("suspended", False)
    world.auth.organisations.activate("LA0001", actor=ADMIN)
    assert directory.requester("LA0001") == before
    assert directory.reads == ["LA0001"] * 3


def test_an_organisation_registered_after_a_miss_is_found_next(world: World) -> None:
    directory = Counted(world)
    assert directory.requester("LA0002") is None
    assert directory.requester("LA0002") is None
    assert directory.reads == ["LA0002"]  # the miss is kept too, until an Organization is written
    world.organisation("LA0002", verified=False)
    found = directory.requester("LA0002")
    assert found is not None
    assert (found.ods, found.verified) == ("LA0002", False)


def test_a_change_made_by_another_worker_on_the_same_file_is_seen(world: World, clock: FixedClock) -> None:
    world.organisation("LA0001")
    directory = Counted(world)
    assert directory.requester("LA0001") is not None
    other = build_services(world.settings, clock=clock)  # another worker: its own connections and services
    try:
        other.auth.organisations.suspend("LA0001", actor=ADMIN)
    finally:
        other.close()
    after = directory.requester("LA0001")
    assert after is not None
    assert after.operational_status == "suspended"


def test_a_write_of_another_type_keeps_the_entry(world: World) -> None:
    world.organisation("LA0001")
    directory = Counted(world)
    directory.requester("LA0001")
    world.services.resources.create("Patient", {"resourceType": "Patient", "gender": "unknown"})
    directory.requester("LA0001")
    assert directory.reads == ["LA0001"]


def test_the_enquiry_gates_use_the_kept_entry_and_see_a_suspension_at_once(world: World) -> None:
    world.organisation("LA0001")
    directory = world.services.enquiries.gates.directory
    assert isinstance(directory, RegisterDirectory)
    kept = directory.requester("LA0001")
    assert kept is not None
    assert kept.active
    world.auth.organisations.suspend("LA0001", actor=ADMIN)
    suspended = directory.requester("LA0001")
    assert suspended is not None
    assert not suspended.active


def _write(store: ResourceStore, resource_type: str, id_: str, second: int) -> None:
    at = f"2026-11-26T09:30:{second:02d}.000000+00:00"
    store.write(Change("create", resource_type, id_, at, {"resourceType": resource_type, "id": id_}, (), 0))


def test_kept_until_changed_makes_the_value_again_only_when_its_types_are_written(store: ResourceStore) -> None:
    made: list[int] = []

    def make() -> int:
        made.append(len(made))
        return len(made)

    kept = KeptUntilChanged.of_types(store, ("Organization", "Endpoint"), make)
    assert (kept(), kept()) == (1, 1)
    _write(store, "Patient", "p1", 1)
    assert kept() == 1
    _write(store, "Organization", "o1", 2)
    assert (kept(), kept()) == (2, 2)
    _write(store, "Endpoint", "e1", 3)
    assert kept() == 3
    assert made == [0, 1, 2]


def test_kept_until_changed_trusts_its_value_for_check_every_seconds(store: ResourceStore) -> None:
    kept = KeptUntilChanged.of_types(store, ("Organization",), object, check_every=3600.0)
    first = kept()
    _write(store, "Organization", "o1", 1)
    assert kept() is first  # within the hour the store is not looked at
    kept.check_every = 0.0
    assert kept() is not first
