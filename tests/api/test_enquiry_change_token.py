"""One look at the store's change token an enquiry (issue 17, the enquiry's own cost, third pass).

The vocabularies in force and the requester's register entry are kept by one change token (over CodeSystem,
ValueSet and Organization), read once when the enquiry pins its vocabularies. A suspension or a retired purpose,
written by this node or by another worker on the same file, is in force for the very next enquiry all the same.
On a real SQLite store with real signed tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.config import Settings
from mais_node.wiring import Services, build_services
from tests.api.conftest import ADMIN_ACTOR, Node, make_node
from tests.api.test_enquiry import ask, enquire, parameters, seed_world
from tests.api.test_terminology import MANAGER, concept_of, new_version, purpose_system, set_status


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Node]:
    for node in make_node(tmp_path):
        yield seed_world(node)


@pytest.fixture
def other_worker(tmp_path: Path, world: Node) -> Iterator[Services]:
    """A second worker of the same node: its own services and connections on the same SQLite file."""
    services = build_services(Settings(store=f"sqlite:///{tmp_path / 'node.db'}"))
    yield services
    services.close()


def counting_token_reads(node: Node, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every ``latest_change`` the node's store answers from now on, by the types asked."""
    reads: list[tuple[str, ...]] = []
    store: Any = node.services.store
    original = store.latest_change

    def latest_change(*types: str) -> str:
        reads.append(types)
        return str(original(*types))

    monkeypatch.setattr(store, "latest_change", latest_change)
    return reads


def ask_with(node: Node, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return node.http.post(
        "/fhir/Patient/$person-info-query",
        content=orjson.dumps(body),
        headers={"content-type": "application/fhir+json", **headers},
    )


def test_an_enquiry_reads_the_change_token_once(world: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    body = parameters(*ask("is-known", "is-open", "contact"))
    headers = world.as_("mais/enquiry", "LA0001")
    reads = counting_token_reads(world, monkeypatch)
    for _ in range(3):
        answer = ask_with(world, body, headers)
        assert answer.status_code == 200, answer.text
    # One read an enquiry, over every type the kept values depend on (was one for the vocabularies and one for the
    # register entry). The rules' own look at the sharing policies (every 2 s, over Contract) is not one of them.
    kept = {"CodeSystem", "ValueSet", "Organization"}
    reads = [types for types in reads if kept & set(types)]
    assert len(reads) == 3
    assert all(kept <= set(types) for types in reads)


def test_a_suspension_by_another_worker_is_in_force_for_the_next_enquiry(world: Node, other_worker: Services) -> None:
    body = parameters(*ask("is-known"))
    headers = world.as_("mais/enquiry", "LA0001")  # issued before the suspension: the gate must refuse it
    assert ask_with(world, body, headers).status_code == 200
    other_worker.auth.organisations.suspend("LA0001", actor=ADMIN_ACTOR)
    refused = ask_with(world, body, headers)
    assert refused.status_code == 403, refused.text
    assert "not active and verified in the register" in refused.json()["issue"][0]["diagnostics"]
    other_worker.auth.organisations.activate("LA0001", actor=ADMIN_ACTOR)
    assert ask_with(world, body, headers).status_code == 200


def test_a_purpose_retired_by_another_worker_is_refused_by_the_next_enquiry(
    world: Node, other_worker: Services
) -> None:
    s47 = "https://www.legislation.gov.uk/ukpga/1989/41/section/47"
    body = parameters(*ask("is-known"), reason={"name": "reason", "valueUri": s47})
    assert enquire(world, body).status_code == 200
    cs, etag = purpose_system(world, world.as_(MANAGER))
    code = next(c["code"] for c in cs["concept"] if any(p.get("valueString") == s47 for p in c["property"]))
    edited = new_version(cs, "9.0.0")
    set_status(concept_of(edited, code), "retired")
    version = int(etag.split('"')[1])
    other_worker.resources.update("CodeSystem", cs["id"], edited, if_match=version)
    refused = enquire(world, body)
    assert refused.status_code == 422, refused.text
    assert "retired" in refused.text


def test_a_vocabulary_edit_does_not_keep_an_old_register_entry(world: Node, other_worker: Services) -> None:
    """Both kept values see the one token: a suspension after a vocabulary write is not hidden by it."""
    body = parameters(*ask("is-known"))
    headers = world.as_("mais/enquiry", "LA0001")
    assert ask_with(world, body, headers).status_code == 200
    cs, etag = purpose_system(world, world.as_(MANAGER))
    other_worker.resources.update("CodeSystem", cs["id"], new_version(cs, "9.0.1"), if_match=int(etag.split('"')[1]))
    assert ask_with(world, body, headers).status_code == 200
    other_worker.auth.organisations.suspend("LA0001", actor=ADMIN_ACTOR)
    assert ask_with(world, body, headers).status_code == 403
