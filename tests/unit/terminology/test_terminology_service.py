"""Behaviour of the terminology service over the node's vocabularies (issue 4, items 1-3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import NotFound
from mais_node.terminology import (
    CANONICAL_BASE,
    PURPOSE_OF_USE_MAP,
    PURPOSE_SYSTEM,
    PURPOSE_VALUESET,
    TerminologyService,
    load_directory,
)

FOLDER = DEFAULTS / "terminology"
RESOURCES = load_directory(FOLDER)
ORG_TYPE = f"{CANONICAL_BASE}/CodeSystem/organisation-type"
ORG_TYPE_VS = f"{CANONICAL_BASE}/ValueSet/organisation-type"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


@pytest.fixture(scope="module")
def terminology() -> TerminologyService:
    return TerminologyService(RESOURCES)


def _codes(concepts: list[dict[str, Any]]) -> list[str]:
    return [c["code"] for c in concepts] + [code for c in concepts for code in _codes(c.get("concept", []))]


EVERY_CODE = [
    (cs["url"], code) for cs in RESOURCES if cs["resourceType"] == "CodeSystem" for code in _codes(cs["concept"])
]


def purpose_version(version: str, status: str, retire: dict[str, str | None]) -> dict[str, Any]:
    """A new version of the purpose CodeSystem with some codes retired (code → replacement)."""
    cs = copy.deepcopy(next(r for r in RESOURCES if r.get("url") == PURPOSE_SYSTEM))
    cs["version"], cs["status"] = version, status
    for concept in cs["concept"]:
        if concept["code"] in retire:
            concept["property"][0]["valueCode"] = "retired"
            if retire[concept["code"]]:
                concept["property"].append({"code": "replaced-by", "valueCode": retire[concept["code"]]})
    return cs


def test_every_resource_lives_under_the_canonical_base() -> None:
    assert {r["resourceType"] for r in RESOURCES} == {"CodeSystem", "ValueSet", "ConceptMap"}
    assert all(r["url"].startswith(CANONICAL_BASE + "/") for r in RESOURCES)
    code_systems = {r["url"] for r in RESOURCES if r["resourceType"] == "CodeSystem"}
    value_sets = {r["url"] for r in RESOURCES if r["resourceType"] == "ValueSet"}
    assert {url.replace("/CodeSystem/", "/ValueSet/") for url in code_systems} <= value_sets


@pytest.mark.parametrize(("system", "code"), EVERY_CODE, ids=[f"{s.rsplit('/', 1)[1]}|{c}" for s, c in EVERY_CODE])
def test_every_code_round_trips_through_lookup(terminology: TerminologyService, system: str, code: str) -> None:
    found = terminology.lookup(system, code)
    assert (found.system, found.code) == (system, code)
    assert found.display
    assert ("status", found.status) in found.properties


def test_purpose_lookup_carries_its_legal_basis(terminology: TerminologyService) -> None:
    found = terminology.lookup(PURPOSE_SYSTEM, "s47-enquiry")
    properties = dict(found.properties)
    assert properties["legislation"] == "https://www.legislation.gov.uk/ukpga/1989/41/section/47"
    assert "DPA 2018 Sch 1 para 18" in str(properties["gdpr-condition"])
    names = [p["name"] for p in found.to_parameters()["parameter"]]
    assert names[:3] == ["name", "version", "display"]
    assert names.count("property") == 3


def test_lookup_of_an_unknown_code_or_system_is_not_found(terminology: TerminologyService) -> None:
    with pytest.raises(NotFound):
        terminology.lookup(PURPOSE_SYSTEM, "curiosity")
    with pytest.raises(NotFound):
        terminology.lookup(f"{CANONICAL_BASE}/CodeSystem/nope", "x")


def test_active_purpose_is_valid_in_the_value_set(terminology: TerminologyService) -> None:
    verdict = terminology.validate_code(PURPOSE_VALUESET, "s47-enquiry", system=PURPOSE_SYSTEM)
    assert verdict.result
    assert verdict.to_parameters()["parameter"][0] == {"name": "result", "valueBoolean": True}


def test_draft_purpose_is_not_yet_usable(terminology: TerminologyService) -> None:
    verdict = terminology.validate_code(PURPOSE_VALUESET, "s46-police-protection")
    assert not verdict.result
    assert verdict.message == "code 's46-police-protection' is a draft, not yet in use"


def test_unknown_code_wrong_display_and_unknown_value_set(terminology: TerminologyService) -> None:
    assert terminology.validate_code(PURPOSE_SYSTEM, "curiosity").message == (
        f"code 'curiosity' is not in {PURPOSE_SYSTEM}; the codes in use are already-open, general-safeguarding,"
        " s17-child-in-need, s42-adult-safeguarding, s47-enquiry"
    )
    assert "(did you mean 's47-enquiry'?)" in (terminology.validate_code(PURPOSE_SYSTEM, "s74-enquiry").message or "")
    wrong = terminology.validate_code(PURPOSE_SYSTEM, "s47-enquiry", display="Section 47")
    assert not wrong.result
    assert "display 'Section 47'" in (wrong.message or "")
    with pytest.raises(NotFound):
        terminology.validate_code(f"{CANONICAL_BASE}/ValueSet/nope", "x")


def test_grouping_concept_is_not_for_use(terminology: TerminologyService) -> None:
    assert not terminology.validate_code(ORG_TYPE_VS, "health").result
    assert terminology.validate_code(ORG_TYPE_VS, "la-childrens-social-care").result


def test_retired_purpose_is_refused_naming_its_replacement() -> None:
    service = TerminologyService(
        [*RESOURCES, purpose_version("0.3.0", "active", {"already-open": "general-safeguarding", "s47-enquiry": None})]
    )
    verdict = service.validate_code(PURPOSE_VALUESET, "already-open")
    assert not verdict.result
    assert verdict.message == "code 'already-open' is retired; use 'general-safeguarding'"
    assert verdict.replaced_by == "general-safeguarding"
    assert service.validate_code(PURPOSE_SYSTEM, "s47-enquiry").message == "code 's47-enquiry' is retired"
    assert service.validate_code(PURPOSE_SYSTEM, "already-open", version="0.2.0").result
    assert service.lookup(PURPOSE_SYSTEM, "already-open").status == "retired"


def test_latest_active_version_is_current_and_drafts_wait() -> None:
    draft = purpose_version("0.4.0", "draft", {"general-safeguarding": None})
    service = TerminologyService([*RESOURCES, draft, purpose_version("0.3.0", "active", {})])
    assert service.current_version(PURPOSE_SYSTEM) == "0.3.0"
    assert service.validate_code(PURPOSE_VALUESET, "general-safeguarding").result
    assert service.lookup(PURPOSE_SYSTEM, "general-safeguarding", version="0.4.0").status == "retired"
    only_drafts = TerminologyService([purpose_version("0.10.0", "draft", {}), purpose_version("0.9.0", "draft", {})])
    assert only_drafts.current_version(PURPOSE_SYSTEM) == "0.10.0"


def test_expand_lists_every_code_with_abstract_groups(terminology: TerminologyService) -> None:
    expansion = terminology.expand(ORG_TYPE_VS)["expansion"]
    assert expansion["total"] == 15
    assert {"system": ORG_TYPE, "version": "0.1.0", "code": "health", "display": "Health", "abstract": True} in (
        expansion["contains"]
    )


def test_expand_filters_and_pages(terminology: TerminologyService) -> None:
    first = terminology.expand(ORG_TYPE_VS, filter="SOCIAL", count=1)
    second = terminology.expand(ORG_TYPE_VS, filter="social", count=1, offset=1)
    assert first["expansion"]["total"] == second["expansion"]["total"] == 2
    assert [c["code"] for c in first["expansion"]["contains"]] == ["la-childrens-social-care"]
    assert [c["code"] for c in second["expansion"]["contains"]] == ["la-adults-social-care"]
    assert second["expansion"]["offset"] == 1
    assert "compose" not in second
    assert terminology.expand(ORG_TYPE_VS, offset=50)["expansion"]["contains"] == []


def test_expand_active_only_hides_drafts(terminology: TerminologyService) -> None:
    everything = terminology.expand(PURPOSE_VALUESET)["expansion"]["contains"]
    usable = terminology.expand(PURPOSE_VALUESET, active_only=True)["expansion"]["contains"]
    assert len(everything) == 6
    assert [c["code"] for c in usable] == [
        "s47-enquiry",
        "general-safeguarding",
        "already-open",
        "s17-child-in-need",
        "s42-adult-safeguarding",
    ]


def test_expand_refuses_unknown_value_set_and_negative_paging(terminology: TerminologyService) -> None:
    with pytest.raises(NotFound):
        terminology.expand(f"{CANONICAL_BASE}/ValueSet/nope")
    with pytest.raises(Exception, match="must not be negative"):
        terminology.expand(ORG_TYPE_VS, count=-1)


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ("police", "police", "equivalent"),
        ("criminal-justice", "youth-justice", "subsumes"),
        ("camhs", "health", "subsumed-by"),
        ("school", "gp", "not-subsumed"),
        ("health", "local-authority", "not-subsumed"),
    ],
)
def test_subsumes_follows_the_hierarchy(terminology: TerminologyService, a: str, b: str, outcome: str) -> None:
    assert terminology.subsumes(ORG_TYPE, a, b) == outcome


def test_subsumes_refuses_unknown_codes(terminology: TerminologyService) -> None:
    with pytest.raises(NotFound):
        terminology.subsumes(ORG_TYPE, "police", "pirates")


def test_purposes_translate_to_hl7_purpose_of_use(terminology: TerminologyService) -> None:
    by_map = terminology.translate(PURPOSE_OF_USE_MAP, "s47-enquiry")
    by_system = terminology.translate(PURPOSE_SYSTEM, "already-open")
    assert [(t.system, t.code, t.equivalence) for t in by_map] == [(ACT_REASON, "THREAT", "equivalent")]
    # By source system, every map from the purposes answers: purpose of use, and the organisation types a single
    # view asks (ConceptMap-purpose-to-organisation-type.json), each exactly.
    assert [t.code for t in by_system if t.system == ACT_REASON] == ["GOV"]
    assert {t.code for t in by_system if t.system != ACT_REASON} == {
        "la-childrens-social-care",
        "la-adults-social-care",
    }
    s17 = terminology.translate(PURPOSE_SYSTEM, "s17-child-in-need")
    assert {t.code for t in s17 if t.system == ACT_REASON} == {"GOV", "PUBHLTH"}
    assert {t.code for t in s17 if t.system != ACT_REASON} == {
        "health-visiting",
        "gp",
        "camhs",
        "school",
        "la-childrens-social-care",
        "housing",
    }
    assert terminology.translate(PURPOSE_SYSTEM, "curiosity") == ()
    assert terminology.translate("urn:nothing", "s47-enquiry") == ()


@pytest.mark.parametrize(
    "reason",
    [
        "https://www.legislation.gov.uk/ukpga/1989/41/section/47",
        "http://www.legislation.gov.uk/ukpga/1989/41/section/47/",
        "https://www.legislation.gov.uk/ukpga/1989/41/section/47/enacted",
    ],
)
def test_reason_uri_resolves_to_its_purpose(terminology: TerminologyService, reason: str) -> None:
    found = terminology.purpose_for_legislation(reason)
    assert found is not None
    assert found.to_coding()["code"] == "s47-enquiry"


def test_unknown_reason_resolves_to_nothing(terminology: TerminologyService) -> None:
    assert terminology.purpose_for_legislation("https://www.legislation.gov.uk/ukpga/1989/41/section/4") is None
    assert terminology.purpose_for_legislation("https://example.org/because") is None
