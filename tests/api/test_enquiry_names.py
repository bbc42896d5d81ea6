"""Issue 13 §1: a person the node holds, asked about with their verified NHS number and exact date of birth, is never
answered "not known" because of how the given name was written: invisible characters do not count, a space inside
the name does not count, and a name that truly disagrees refers the enquiry for review."""

from __future__ import annotations

import orjson
import pytest

from tests.api.conftest import Node
from tests.api.test_enquiry import FHIR, KNOWN, ask, enquire, parameters, person, subject, values

ZERO_WIDTH_SPACE, ZERO_WIDTH_JOINER, WORD_JOINER, SOFT_HYPHEN = "\u200b", "\u200d", "\u2060", "\u00ad"


@pytest.fixture
def world(node: Node) -> Node:
    """A node with a local authority (LA0001) and one known person (verified NHS number) with an open episode."""
    node.organisation("LA0001")
    admin = {**FHIR, **node.as_("system/*.cruds mais/admin")}
    team = {"resourceType": "Organization", "name": "North Team", "telecom": [{"system": "phone", "value": "0113 1"}]}
    team_id = node.http.post("/fhir/Organization", content=orjson.dumps(team), headers=admin).json()["id"]
    pid = node.http.post("/fhir/Patient", content=orjson.dumps(person(*KNOWN.values())), headers=admin).json()["id"]
    episode = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "patient": {"reference": f"Patient/{pid}"},
        "managingOrganization": {"reference": f"Organization/{team_id}"},
    }
    node.http.post("/fhir/EpisodeOfCare", content=orjson.dumps(episode), headers=admin)
    node.services.persons.refresh()
    return node


def named(given: str) -> dict[str, object]:
    return subject(name=[{"use": "official", "family": KNOWN["family"], "given": [given]}])


@pytest.mark.parametrize(
    "given",
    [
        f"Am{ZERO_WIDTH_SPACE}ara",
        f"Am{ZERO_WIDTH_JOINER}ara",
        f"Am{WORD_JOINER}ara",
        f"Am{SOFT_HYPHEN}ara",
        "Am ara",
        "Am  ara",
        f"{ZERO_WIDTH_SPACE}Amara{WORD_JOINER}",
        "Ama\u0301ra",  # a combining acute accent: accent-blind
        "\uff21mara",  # a fullwidth A: compatibility form (NFKC)
    ],
    ids=[
        "zero-width-space",
        "zero-width-joiner",
        "word-joiner",
        "soft-hyphen",
        "space",
        "two-spaces",
        "edges",
        "combining-accent",
        "fullwidth",
    ],
)
def test_the_same_name_written_with_hidden_characters_or_a_space_is_the_known_person(world: Node, given: str) -> None:
    answer = enquire(world, parameters(*ask("is-known", "is-open"), who=named(given)))
    assert answer.status_code == 200, answer.text
    got = values(answer.json())
    assert got["match"]["valueBoolean"] is True
    assert got["open"]["valueBoolean"] is True
    assert got["matchGrade"]["valueCode"] == "certain"


@pytest.mark.parametrize("given", ["Sam", "Zed", "Amy", "X"])
def test_a_given_name_that_disagrees_with_a_verified_nhs_number_and_birth_date_is_referred_not_denied(
    world: Node, given: str
) -> None:
    answer = enquire(world, parameters(*ask("is-known", "is-open"), who=named(given)))
    assert answer.status_code == 202, answer.text
    task = answer.json()
    assert task["status"] == "on-hold"
    assert task["businessStatus"]["coding"][0]["code"] == "review"


def test_a_family_name_that_disagrees_as_well_is_still_referred(world: Node) -> None:
    stranger_names = subject(name=[{"use": "official", "family": "Nobody", "given": ["Zed"]}])
    answer = enquire(world, parameters(*ask("is-known", "is-open"), who=stranger_names))
    assert answer.status_code == 202, answer.text


def without(patient: dict[str, object], *fields: str) -> dict[str, object]:
    return {key: value for key, value in patient.items() if key not in fields}


@pytest.mark.parametrize(
    ("who", "status", "known"),
    [
        # docs/decisions.md "Not known with a held NHS number": the number and one more identifier referred ...
        (subject(birthDate="2016-09-30"), 202, None),  # the whole name agrees, the date of birth does not
        (named("Zed"), 202, None),  # the date of birth agrees, the given name does not
        (without(subject(), "name", "birthDate"), 202, None),  # the number alone: nothing else agrees or disagrees
        # ... and the number alone against what disagrees with it: a sibling's or parent's number, "not known".
        (subject(birthDate="2016-09-30", name=[{"family": KNOWN["family"], "given": ["Zed"]}]), 200, False),
        (without(named("Zed"), "birthDate"), 200, False),
        # a number that fails its check digit is refused, never answered "not known"
        (subject("9434765918"), 422, None),
        (subject("943 476 5919"), 422, None),
    ],
    ids=[
        "name-agrees",
        "birth-date-agrees",
        "number-alone",
        "sibling-number",
        "number-and-other-name",
        "bad-check",
        "spaced",
    ],
)
def test_what_a_held_nhs_number_answers_when_the_rest_disagrees(
    world: Node, who: dict[str, object], status: int, known: bool | None
) -> None:
    answer = enquire(world, parameters(*ask("is-known", "is-open"), who=who))
    assert answer.status_code == status, answer.text[:300]
    if known is not None:
        assert values(answer.json())["match"]["valueBoolean"] is known
