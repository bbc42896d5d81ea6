"""``mais demo``'s printed PERMIT example must be a person the node will match certainly, on every run.

CI once saw the PERMIT command referred for review: the example person was picked in episode-id order (random ids),
and some synthetic people have an estimated date of birth, which can grade at most probable.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from mais_node.config import Settings
from mais_node.demo import commands, open_people, seed
from mais_node.policy import MatchGrade
from mais_node.wiring import Services, build_services

ACCURACY = "https://mais.example.org/fhir/StructureDefinition/mais-birth-date-accuracy"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Services, Path]]:
    services = build_services(Settings(store=f"sqlite:///{tmp_path / 'demo.db'}"))
    try:
        yield services, tmp_path
    finally:
        services.close()


def options(command: str) -> dict[str, str]:
    argv = shlex.split(command)
    return {argv[i].removeprefix("--"): argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def test_the_permit_example_is_matched_certainly_and_is_the_same_on_every_run(demo: tuple[Services, Path]) -> None:
    services, directory = demo
    clients = seed(services, directory / "var", people=300)
    first = dict(commands(services, clients, "http://node"))
    again = dict(commands(services, clients, "http://node"))
    assert first == again
    sent = options(first["PERMIT"])
    subject = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": sent["nhs-number"]}],
        "name": [{"family": sent["family"], "given": [sent["given"]]}],
        "birthDate": sent["birth-date"],
    }
    match = services.persons.match(subject)
    assert (match.grade, match.ambiguous) == (MatchGrade.CERTAIN, False)
    assert match.person_id in open_people(services)
    assert options(first["DENY"])["nhs-number"] == sent["nhs-number"]
    assert options(first["REVIEW"])["family"] == sent["family"]


def test_a_person_with_an_estimated_date_of_birth_is_never_the_permit_example(demo: tuple[Services, Path]) -> None:
    services, directory = demo
    clients = seed(services, directory / "var", people=300)
    *estimated, kept = sorted(open_people(services))
    for person_id in estimated:
        body = services.resources.read("Patient", person_id).body
        body["_birthDate"] = {"extension": [{"url": ACCURACY, "valueCode": "EEE"}]}
        services.resources.update("Patient", person_id, body)
    chosen = services.resources.read("Patient", kept).body
    nhs = next(i["value"] for i in chosen["identifier"] if i["system"].endswith("nhs-number"))
    assert options(dict(commands(services, clients, "http://node"))["PERMIT"])["nhs-number"] == nhs
