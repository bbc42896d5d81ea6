"""Issue 12 item 12: ``mais person import`` takes the teams with the people (validated, idempotent), refuses an
involvement whose team is neither in the file nor held, and lets the operator state that the file's NHS numbers were
traced against the spine (``--nhs-verified``), recorded on each record and in the import's AuditEvent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from mais_node.cli import app
from mais_node.config import Settings
from mais_node.wiring import Services, build_services
from tests.builders import ODS, episode, organization, patient

VERIFICATION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
TEAM = {
    "resourceType": "Organization",
    "id": "team-north",
    "identifier": [{"system": "https://example.org/la/team", "value": "north"}],
    "name": "Children's Social Work Service, North Team",
    "telecom": [{"system": "phone", "value": "0113 378 9000"}],
}


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A node's store as ``mais serve`` leaves it: the commands refuse one that does not exist."""
    url = f"sqlite:///{tmp_path / 'people.db'}"
    build_services(Settings(store=url)).close()
    return url


def mais(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def bundle(tmp_path: Path, *resources: dict[str, Any], name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection",
                                   "entry": [{"resource": r} for r in resources]}))  # fmt: skip
    return path


def _all(services: Services, kind: str) -> list[dict[str, Any]]:
    return [s.body for s in services.resources.search(kind, [("_count", "200")]).page.items]


def test_a_partners_export_with_its_teams_is_imported_and_gives_the_contact(tmp_path: Path, store: str) -> None:
    export = bundle(tmp_path, patient(id="p1"), episode("p1", "team-north"), TEAM)
    code, output = mais("person", "import", str(export), "--store", store)
    assert code == 0, output
    assert "imported 1 EpisodeOfCare, 1 Organization, 1 Patient; rejected 0" in output
    from mais_node.enquiry.records import EpisodeInvolvements

    with _open(store) as services:
        is_open, contact = EpisodeInvolvements(services.resources).open_episode_contact("p1")
    assert is_open
    assert contact is not None
    assert contact.organization["name"] == TEAM["name"]


def test_importing_the_same_export_twice_changes_nothing(tmp_path: Path, store: str) -> None:
    south = {"name": "South Team", "identifier": [{"system": ODS, "value": "X26S"}]}
    nameless_id = {k: v for k, v in TEAM.items() if k != "id"} | south
    export = bundle(tmp_path, patient(id="p1"), episode("p1", "team-north", id="e1"), TEAM, nameless_id)
    for _ in range(2):
        code, output = mais("person", "import", str(export), "--store", store)
        assert code == 0, output
    with _open(store) as services:
        teams = [o for o in _all(services, "Organization") if o.get("name", "").endswith("Team")]
        assert sorted(o["name"] for o in teams) == ["Children's Social Work Service, North Team", "South Team"]
        assert len(_all(services, "Patient")) == 1
        assert len(_all(services, "EpisodeOfCare")) == 1


def test_a_transaction_style_bundle_with_uuid_names_is_imported_idempotently(tmp_path: Path, store: str) -> None:
    team_url, person_url = (
        "urn:uuid:7f1c2a3e-0000-4000-8000-000000000001",
        "urn:uuid:7f1c2a3e-0000-4000-8000-00000000000a",
    )
    team = {k: v for k, v in TEAM.items() if k != "id"}
    person = {k: v for k, v in patient().items() if k != "id"}
    involvement = episode("x") | {"patient": {"reference": person_url}, "managingOrganization": {"reference": team_url}}
    path = tmp_path / "transaction.json"
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": team_url, "resource": team}, {"fullUrl": person_url, "resource": person},
        {"resource": involvement}]}))  # fmt: skip
    for _ in range(2):
        code, output = mais("person", "import", str(path), "--store", store)
        assert code == 0, output
    with _open(store) as services:
        (stored_team,) = [o for o in _all(services, "Organization") if o.get("name") == TEAM["name"]]
        assert stored_team["id"] == team_url.removeprefix("urn:uuid:")
        assert len(_all(services, "Patient")) == 1
        episodes = _all(services, "EpisodeOfCare")
        assert episodes[0]["managingOrganization"]["reference"] == f"Organization/{stored_team['id']}"


@pytest.mark.parametrize(
    ("rows", "wanted"),
    [
        ([patient(id="p1"), episode("p1", "team-west")], "managingOrganization names Organization/team-west"),
        ([patient(id="p1"), episode("p1", "team-north"), {**TEAM, "name": None}], "a team needs a name"),
        ([patient(id="p1"), episode("p1", "team-north"), {**TEAM, "telecom": [{"system": "telephone"}]}],
         "'telephone' is not allowed here"),
        ([organization("LA0009", meta={"profile": ["https://mais.example.org/fhir/StructureDefinition/mais-organisation"]})],
         "operationalStatus is required"),
        ([patient(id="p1", identifier=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "943 476 5919"}])],
         "mais-nhs-2"),
    ],
    ids=["team-missing", "team-nameless", "team-bad-telecom", "register-entry", "spaced-nhs-number"],
)  # fmt: skip
def test_a_bad_team_or_a_dangling_involvement_is_refused_with_its_line(
    tmp_path: Path, store: str, rows: list[dict[str, Any]], wanted: str
) -> None:
    code, output = mais("person", "import", str(bundle(tmp_path, *rows)), "--store", store)
    assert code == 1, output
    assert wanted in output
    assert "nothing imported" in output
    assert "Traceback" not in output


def test_nhs_verified_is_stated_by_the_operator_recorded_on_each_record_and_audited(tmp_path: Path, store: str) -> None:
    stated = {"url": VERIFICATION, "valueCodeableConcept": {"coding": [{"code": "number-present-but-not-traced"}]}}
    own = patient(id="p2", identifier=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765870",
                                        "extension": [stated]}])  # fmt: skip
    export = bundle(tmp_path, patient(id="p1"), own)
    code, output = mais("person", "import", str(export), "--store", store)
    assert code == 0, output
    with _open(store) as services:
        assert "extension" not in services.resources.read("Patient", "p1").body["identifier"][0]
    code, output = mais("person", "import", str(export), "--store", store, "--nhs-verified")
    assert code == 0, output
    assert "1 NHS number(s) marked verified" in output
    with _open(store) as services:
        (mark,) = services.resources.read("Patient", "p1").body["identifier"][0]["extension"]
        assert mark["url"] == VERIFICATION
        assert mark["valueCodeableConcept"]["coding"][0]["code"] == "number-present-and-verified"
        assert services.resources.read("Patient", "p2").body["identifier"][0]["extension"] == [stated]
        imports = [r.event for r in services.audit.scan() if r.event["type"]["code"] == "110107"]
    assert [[c["code"] for c in e["subtype"]] for e in imports] == [
        ["person-import", "nhs-as-recorded"],
        ["person-import", "nhs-verified"],
    ]
    details = {d["type"]: d["valueString"] for d in imports[1]["entity"][0]["detail"]}
    assert details["nhs-verified"] == "true"
    assert details["marked"] == "1"
    assert json.dumps(imports[0]).count("export.json") == 1


@contextmanager
def _open(store: str) -> Iterator[Services]:
    services = build_services(Settings(store=store))
    try:
        yield services
    finally:
        services.close()
