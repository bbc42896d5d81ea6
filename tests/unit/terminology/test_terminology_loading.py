"""Loading vocabularies from a folder and composing ValueSets (issue 4, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mais_node.errors import InvalidRequest
from mais_node.terminology import TerminologyService, load_directory

SYSTEM = "https://mais.example.org/fhir/CodeSystem/t"


def codesystem() -> dict[str, object]:
    return {
        "resourceType": "CodeSystem",
        "url": SYSTEM,
        "version": "1",
        "status": "active",
        "concept": [
            {"code": "a", "display": "A", "concept": [{"code": "a1", "display": "A one"}]},
            {"code": "b", "display": "B", "property": [{"code": "colour", "valueString": "blue"}]},
        ],
    }


def valueset(name: str, compose: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "ValueSet", "url": f"https://mais.example.org/fhir/ValueSet/{name}", "compose": compose}


def test_load_directory_reads_every_json_file(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(codesystem()))
    (tmp_path / "a.json").write_text(json.dumps(valueset("all", {"include": [{"system": SYSTEM}]})))
    (tmp_path / "notes.txt").write_text("ignored")
    assert [r["resourceType"] for r in load_directory(tmp_path)] == ["ValueSet", "CodeSystem"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not JSON"),
        ('{"resourceType": "Patient"}', "is not a CodeSystem"),
        ('{"resourceType": "ValueSet"}', "no url"),
    ],
)
def test_load_directory_refuses_bad_files(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(InvalidRequest, match=problem):
        load_directory(tmp_path)


def test_value_set_compose_filters_and_excludes() -> None:
    service = TerminologyService(
        [
            codesystem(),
            valueset(
                "is-a",
                {"include": [{"system": SYSTEM, "filter": [{"property": "concept", "op": "is-a", "value": "a"}]}]},
            ),
            valueset(
                "below",
                {
                    "include": [
                        {"system": SYSTEM, "filter": [{"property": "concept", "op": "descendent-of", "value": "a"}]}
                    ]
                },
            ),
            valueset(
                "blue",
                {"include": [{"system": SYSTEM, "filter": [{"property": "colour", "op": "=", "value": "blue"}]}]},
            ),
            valueset("listed", {"include": [{"system": SYSTEM, "concept": [{"code": "b"}, {"code": "zz"}]}]}),
            valueset(
                "but-a", {"include": [{"system": SYSTEM}], "exclude": [{"system": SYSTEM, "concept": [{"code": "a"}]}]}
            ),
            valueset("nested", {"include": [{"valueSet": ["https://mais.example.org/fhir/ValueSet/but-a"]}]}),
        ]
    )

    def codes(name: str) -> list[str]:
        expansion = service.expand(f"https://mais.example.org/fhir/ValueSet/{name}")["expansion"]
        return [c["code"] for c in expansion["contains"]]

    assert codes("is-a") == ["a", "a1"]
    assert codes("below") == ["a1"]
    assert codes("blue") == ["b"]
    assert codes("listed") == ["b"]
    assert codes("but-a") == ["a1", "b"]
    assert codes("nested") == ["a1", "b"]


def test_unsupported_filter_is_refused() -> None:
    odd = valueset(
        "odd", {"include": [{"system": SYSTEM, "filter": [{"property": "concept", "op": "regex", "value": "a"}]}]}
    )
    with pytest.raises(InvalidRequest, match="unsupported ValueSet filter"):
        TerminologyService([codesystem(), odd])
