"""Issue 12 item 12 end to end: a partner's own export (people, involvements, teams; NHS numbers traced but not
marked) imported with ``--nhs-verified`` answers an s47 enquiry at once with the team to call; without it, referred."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from mais_node.cli import app
from tests.api.conftest import Node
from tests.api.test_enquiry import ask, enquire, parameters, subject, values
from tests.builders import episode, patient

TEAM = {"resourceType": "Organization", "id": "team-north", "name": "North Team",
        "telecom": [{"system": "phone", "value": "0113 378 9000"}]}  # fmt: skip
PERSON = patient(
    id="p1",
    identifier=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    name=[{"use": "official", "family": "Okafor", "given": ["Amara"]}],
    birthDate="2015-04-12",
)


@pytest.mark.parametrize(("flags", "status"), [(["--nhs-verified"], 200), ([], 202)], ids=["stated", "not-stated"])
def test_an_s47_enquiry_about_imported_people_is_answered_when_their_numbers_are_stated_verified(
    node: Node, tmp_path: Path, flags: list[str], status: int
) -> None:
    node.organisation("LA0001")
    export = tmp_path / "export.json"
    rows = [TEAM, PERSON, episode("p1", "team-north")]
    export.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": r} for r in rows]}))  # fmt: skip
    result = CliRunner().invoke(app, ["person", "import", str(export), "--store", node.services.settings.store, *flags])
    assert result.exit_code == 0, result.output
    node.services.persons.refresh()
    answer = enquire(node, parameters(*ask("is-known", "is-open", "contact"), who=subject("9434765919")))
    assert answer.status_code == status, answer.text
    if status == 200:
        answered = values(answer.json())
        assert answered["match"]["valueBoolean"] is True
        assert answered["contact"]["resource"]["name"] == "North Team"
