"""Issue 4 over HTTP: the terminology operations, profile validation, a terminology manager's edits of the
purpose vocabulary (draft → active → retired, If-Match, scope, no removal, audit) and the CapabilityStatement."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.config import DEFAULTS
from tests.api.conftest import Node

ROOT = Path(__file__).resolve().parents[2]
FHIR = {"content-type": "application/fhir+json"}
BASE = "https://mais.example.org/fhir"
PURPOSE = f"{BASE}/CodeSystem/request-asserted-purpose"
PURPOSE_VS = f"{BASE}/ValueSet/request-asserted-purpose"
ORG_TYPE = f"{BASE}/CodeSystem/organisation-type"
ORG_TYPE_VS = f"{BASE}/ValueSet/organisation-type"
PROFILE_BASE = f"{BASE}/StructureDefinition"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
READER = "system/CodeSystem.rs system/ValueSet.rs"
MANAGER = "system/CodeSystem.rus system/ValueSet.rus mais/terminology-manager"
NEW_CODE = "s175-education-safeguarding"
EDUCATION: dict[str, Any] = {
    "code": NEW_CODE,
    "display": "Education safeguarding enquiry (Education Act 2002 s175)",
    "definition": "An enquiry by a local authority or school exercising its duty to safeguard pupils.",
    "property": [
        {"code": "status", "valueCode": "draft"},
        {"code": "legislation", "valueString": "https://www.legislation.gov.uk/ukpga/2002/32/section/175"},
        {"code": "gdpr-condition", "valueString": "UK GDPR Art 6(1)(e); Art 9(2)(g); DPA 2018 Sch 1 para 18"},
    ],
}


def files(pattern: str) -> list[dict[str, Any]]:
    return [json.loads(f.read_text()) for f in sorted((DEFAULTS / "terminology").glob(pattern))]


def concepts(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from concepts(item.get("concept", []))


def out(parameters: dict[str, Any]) -> dict[str, Any]:
    """Output Parameters as name → value (value[x] of the first parameter of that name)."""
    found: dict[str, Any] = {}
    for p in parameters["parameter"]:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        found.setdefault(p["name"], value)
    return found


def properties(parameters: dict[str, Any]) -> dict[str, Any]:
    """The ``property`` parts of a $lookup answer as code → value."""
    found: dict[str, Any] = {}
    for p in parameters["parameter"]:
        if p["name"] == "property":
            parts = {part["name"]: part for part in p["part"]}
            found[parts["code"]["valueCode"]] = next(v for k, v in parts["value"].items() if k.startswith("value"))
    return found


def post(node: Node, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return node.http.post(path, content=orjson.dumps(body), headers={**FHIR, **headers})


@pytest.fixture
def reader(node: Node) -> dict[str, str]:
    return node.as_(READER)


# -- the terminology operations ----------------------------------------------------------------------------------


def test_every_code_of_every_code_system_round_trips_through_lookup(node: Node, reader: dict[str, str]) -> None:
    checked = 0
    for cs in files("CodeSystem-*.json"):
        for concept in concepts(cs["concept"]):
            answer = node.http.get(
                "/fhir/CodeSystem/$lookup", params={"system": cs["url"], "code": concept["code"]}, headers=reader
            )
            assert answer.status_code == 200, (cs["url"], concept["code"], answer.text)
            got = out(answer.json())
            assert got["name"] == cs["name"]
            assert got["version"] == cs["version"]
            assert got.get("display") == concept.get("display")
            expected = {
                p["code"]: next(v for k, v in p.items() if k.startswith("value")) for p in concept.get("property", [])
            }
            expected.setdefault("status", "active")
            assert properties(answer.json()) == expected, (cs["url"], concept["code"])
            checked += 1
    assert checked >= 40


def test_the_purpose_codes_carry_their_legal_basis(node: Node, reader: dict[str, str]) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "coding", "valueCoding": {"system": PURPOSE, "code": "s47-enquiry"}}],
    }
    answer = post(node, "/fhir/CodeSystem/$lookup", body, reader)
    assert answer.status_code == 200, answer.text
    got = properties(answer.json())
    assert got["legislation"] == "https://www.legislation.gov.uk/ukpga/1989/41/section/47"
    assert "Sch 1 para 18" in got["gdpr-condition"]
    assert got["status"] == "active"


def test_lookup_of_an_unknown_code_or_without_a_code_is_refused(node: Node, reader: dict[str, str]) -> None:
    unknown = node.http.get("/fhir/CodeSystem/$lookup", params={"system": PURPOSE, "code": "fishing"}, headers=reader)
    assert unknown.status_code == 404
    assert "fishing" in unknown.json()["issue"][0]["diagnostics"]
    missing = node.http.get("/fhir/CodeSystem/$lookup", params={"system": PURPOSE}, headers=reader)
    assert missing.status_code == 400
    assert missing.json()["issue"][0]["expression"] == ["code"]
    anonymous = node.http.get("/fhir/CodeSystem/$lookup", params={"system": PURPOSE, "code": "s47-enquiry"})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("code", "result", "says"),
    [
        ("s47-enquiry", True, None),
        ("s46-police-protection", False, "draft"),
        ("fishing", False, "not in"),
    ],
)
def test_validate_code_on_the_purpose_code_system_and_value_set(
    node: Node, reader: dict[str, str], code: str, result: bool, says: str | None
) -> None:
    answers = [
        node.http.get("/fhir/CodeSystem/$validate-code", params={"url": PURPOSE, "code": code}, headers=reader),
        node.http.get(
            "/fhir/ValueSet/$validate-code",
            params={"url": PURPOSE_VS, "system": PURPOSE, "code": code},
            headers=reader,
        ),
        post(
            node,
            "/fhir/CodeSystem/$validate-code",
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "url", "valueUri": PURPOSE}, {"name": "code", "valueCode": code}],
            },
            reader,
        ),
        post(
            node,
            "/fhir/ValueSet/$validate-code",
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "url", "valueUri": PURPOSE_VS},
                    {"name": "coding", "valueCoding": {"system": PURPOSE, "code": code}},
                ],
            },
            reader,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        got = out(answer.json())
        assert got["result"] is result
        if says:
            assert says in got["message"]


def test_validate_code_refuses_a_wrong_display_and_names_the_right_one(node: Node, reader: dict[str, str]) -> None:
    answer = node.http.get(
        "/fhir/ValueSet/$validate-code",
        params={"url": PURPOSE_VS, "code": "s47-enquiry", "display": "Fishing trip"},
        headers=reader,
    )
    got = out(answer.json())
    assert got["result"] is False
    assert "Children Act 1989 s47" in got["display"]
    unknown = node.http.get(
        "/fhir/ValueSet/$validate-code", params={"url": f"{BASE}/ValueSet/nothing", "code": "x"}, headers=reader
    )
    assert unknown.status_code == 404


def test_expand_pages_and_filters_the_organisation_types(node: Node, reader: dict[str, str]) -> None:
    every = [c["code"] for c in concepts(files("CodeSystem-organisation-type.json")[0]["concept"])]
    whole = node.http.get("/fhir/ValueSet/$expand", params={"url": ORG_TYPE_VS}, headers=reader).json()
    assert whole["expansion"]["total"] == len(every)
    assert [c["code"] for c in whole["expansion"]["contains"]] == every
    assert "compose" not in whole
    paged: list[str] = []
    for offset in range(0, len(every), 4):
        page = node.http.get(
            "/fhir/ValueSet/$expand", params={"url": ORG_TYPE_VS, "count": "4", "offset": str(offset)}, headers=reader
        ).json()["expansion"]
        assert page["offset"] == offset
        assert len(page["contains"]) <= 4
        paged += [c["code"] for c in page["contains"]]
    assert paged == every
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": ORG_TYPE_VS},
            {"name": "filter", "valueString": "social care"},
            {"name": "count", "valueInteger": 1},
        ],
    }
    filtered = post(node, "/fhir/ValueSet/$expand", body, reader).json()["expansion"]
    assert filtered["total"] == 2
    assert [c["code"] for c in filtered["contains"]] == ["la-childrens-social-care"]
    bad = node.http.get("/fhir/ValueSet/$expand", params={"url": ORG_TYPE_VS, "count": "-1"}, headers=reader)
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ("health", "gp", "subsumes"),
        ("camhs", "health", "subsumed-by"),
        ("police", "police", "equivalent"),
        ("local-authority", "police", "not-subsumed"),
    ],
)
def test_subsumes_follows_the_organisation_type_hierarchy(
    node: Node, reader: dict[str, str], a: str, b: str, outcome: str
) -> None:
    got = node.http.get(
        "/fhir/CodeSystem/$subsumes", params={"system": ORG_TYPE, "codeA": a, "codeB": b}, headers=reader
    )
    assert got.status_code == 200, got.text
    assert out(got.json())["outcome"] == outcome
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": ORG_TYPE},
            {"name": "codeA", "valueCode": a},
            {"name": "codeB", "valueCode": b},
        ],
    }
    assert out(post(node, "/fhir/CodeSystem/$subsumes", body, reader).json())["outcome"] == outcome


# -- $validate against the published profiles ------------------------------------------------------------------

EXAMPLES = sorted((DEFAULTS / "profiles" / "examples").glob("*.json"))


def profile_of(example: Path) -> tuple[str, bool]:
    valid = "-valid" in example.stem
    return f"{PROFILE_BASE}/{example.stem.split('-valid' if valid else '-invalid')[0]}", valid


def errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


@pytest.mark.parametrize("example", EXAMPLES, ids=[f.stem for f in EXAMPLES])
def test_validate_judges_every_example_as_its_name_says(node: Node, example: Path) -> None:
    resource = json.loads(example.read_text())
    profile, valid = profile_of(example)
    answer = node.http.post(
        f"/fhir/{resource['resourceType']}/$validate",
        params={"profile": profile},
        content=example.read_bytes(),
        headers={**FHIR, **node.as_()},
    )
    assert answer.status_code == 200, answer.text
    found = errors(answer.json())
    if valid:
        assert found == []
    else:
        assert found, "an invalid example must be refused"
        assert all(i.get("expression") for i in found)
        direct = [i for i in node.services.validator().validate(resource, profile) if i.severity == "error"]
        assert len(found) == len(direct)


def test_validate_lists_every_issue_not_only_the_first(node: Node) -> None:
    task = json.loads((DEFAULTS / "profiles/examples/mais-enquiry-valid-nhs-number.json").read_text())
    task["intent"] = "proposal"
    task["reasonCode"]["coding"][0]["code"] = "fishing"
    task["contained"][0]["identifier"][0]["value"] = "9434765918"
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": task},
            {"name": "profile", "valueUri": f"{PROFILE_BASE}/mais-enquiry"},
        ],
    }
    answer = post(node, "/fhir/Task/$validate", body, node.as_())
    assert answer.status_code == 200, answer.text
    found = errors(answer.json())
    text = " ".join(f"{i['diagnostics']} {' '.join(i['expression'])}" for i in found)
    assert "intent" in text
    assert "fishing" in text
    assert "9434765918" in text or "NHS" in text
    assert len(found) >= 3


def test_a_parameters_resource_is_validated_as_the_body_or_wrapped_in_resource(node: Node) -> None:
    bad = json.loads((DEFAULTS / "profiles/examples/mais-person-info-query-in-invalid-reason.json").read_text())
    profile = f"{PROFILE_BASE}/mais-person-info-query-in"
    direct = node.http.post(
        "/fhir/Parameters/$validate",
        params={"profile": profile},
        content=orjson.dumps(bad),
        headers={**FHIR, **node.as_()},
    )
    wrapped = post(
        node,
        "/fhir/Parameters/$validate",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": bad}, {"name": "profile", "valueUri": profile}],
        },
        node.as_(),
    )
    assert direct.status_code == wrapped.status_code == 200
    assert errors(direct.json()) == errors(wrapped.json()) != []


def test_validate_with_an_unknown_profile_is_not_found(node: Node) -> None:
    example = DEFAULTS / "profiles/examples/mais-enquiry-valid-nhs-number.json"
    answer = node.http.post(
        "/fhir/Task/$validate",
        params={"profile": f"{PROFILE_BASE}/no-such-profile"},
        content=example.read_bytes(),
        headers={**FHIR, **node.as_()},
    )
    assert answer.status_code == 404
    assert answer.json()["issue"][0]["expression"] == ["profile"]


# -- a terminology manager edits the purpose vocabulary --------------------------------------------------------


def purpose_system(node: Node, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The stored purpose CodeSystem and its ETag, found by its canonical url."""
    found = node.http.get("/fhir/CodeSystem", params={"url": PURPOSE}, headers=headers).json()
    assert len(found["entry"]) == 1
    cs_id = found["entry"][0]["resource"]["id"]
    answer = node.http.get(f"/fhir/CodeSystem/{cs_id}", headers=headers)
    return answer.json(), answer.headers["etag"]


def new_version(cs: dict[str, Any], version: str) -> dict[str, Any]:
    edited = copy.deepcopy(cs)
    edited.pop("meta", None)
    edited["version"] = version
    return edited


def concept_of(cs: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in cs["concept"] if c["code"] == code)


def set_status(concept: dict[str, Any], status: str) -> None:
    next(p for p in concept["property"] if p["code"] == "status")["valueCode"] = status


def put(node: Node, cs: dict[str, Any], headers: dict[str, str], etag: str | None = None) -> Any:
    extra = {"If-Match": etag} if etag else {}
    return node.http.put(f"/fhir/CodeSystem/{cs['id']}", content=orjson.dumps(cs), headers={**FHIR, **headers, **extra})


def enquire(node: Node, code: str) -> Any:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "resource",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": NHS, "value": "9434765919"}],
                    "name": [{"use": "official", "family": "Okafor", "given": ["Amara"]}],
                    "birthDate": "2015-04-12",
                },
            },
            {"name": "reason", "valueCoding": {"system": PURPOSE, "code": code}},
            {"name": "requestedItem", "valueCode": "is-known"},
        ],
    }
    return post(node, "/fhir/Patient/$person-info-query", body, node.as_("mais/enquiry", "LA0001"))


def reaches_the_rules(answer: Any) -> bool:
    """The enquiry passed the vocabulary gate: the decision rules answered it (permit, review, or deny)."""
    if answer.status_code == 403:
        return bool(answer.json()["issue"][0]["diagnostics"] == "The enquiry is not permitted")
    return answer.status_code in (200, 202)


def vocabulary_changes(node: Node) -> list[dict[str, str]]:
    """Each vocabulary-change AuditEvent as its target and before / after versions."""
    changes = []
    for record in node.services.audit.scan():
        event = record.event
        if "vocabulary-change" not in [c["code"] for c in event.get("subtype", [])]:
            continue
        entity = event["entity"][0]
        detail = {d["type"]: d["valueString"] for d in entity.get("detail", [])}
        changes.append({"what": entity["what"]["reference"], **detail})
    return changes


def test_a_terminology_manager_adds_a_draft_purpose_and_activates_it(node: Node) -> None:
    node.organisation("LA0001")
    manager = node.as_(MANAGER)
    cs, etag = purpose_system(node, manager)
    assert cs["version"] == "0.2.0"
    assert etag == 'W/"1"'

    draft = new_version(cs, "0.3.0")
    draft["concept"].append(copy.deepcopy(EDUCATION))
    draft["count"] = len(draft["concept"])
    answer = put(node, draft, manager, etag)
    assert answer.status_code == 200, answer.text
    etag = answer.headers["etag"]
    assert etag == 'W/"2"'

    lookup = node.http.get("/fhir/CodeSystem/$lookup", params={"system": PURPOSE, "code": NEW_CODE}, headers=manager)
    assert out(lookup.json())["version"] == "0.3.0"
    assert properties(lookup.json())["status"] == "draft"
    refused = enquire(node, NEW_CODE)
    assert refused.status_code == 422, refused.text
    assert "draft" in refused.json()["issue"][0]["diagnostics"]

    active = new_version(answer.json(), "0.4.0")
    set_status(concept_of(active, NEW_CODE), "active")
    answer = put(node, active, manager, etag)
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == 'W/"3"'

    verdict = node.http.get(
        "/fhir/ValueSet/$validate-code", params={"url": PURPOSE_VS, "code": NEW_CODE}, headers=manager
    )
    assert out(verdict.json())["result"] is True
    assert reaches_the_rules(enquire(node, NEW_CODE))

    history = node.http.get(f"/fhir/CodeSystem/{cs['id']}/_history", headers=manager).json()
    assert [e["resource"]["version"] for e in history["entry"]] == ["0.4.0", "0.3.0", "0.2.0"]
    assert vocabulary_changes(node) == [
        {"what": f"CodeSystem/{cs['id']}/_history/2", "before-version": "1", "after-version": "2"},
        {"what": f"CodeSystem/{cs['id']}/_history/3", "before-version": "2", "after-version": "3"},
    ]


def test_an_older_version_stays_answerable_by_its_version(node: Node) -> None:
    manager = node.as_(MANAGER)
    cs, etag = purpose_system(node, manager)
    edited = new_version(cs, "0.3.0")
    edited["concept"].append(copy.deepcopy(EDUCATION))
    assert put(node, edited, manager, etag).status_code == 200
    old = node.http.get(
        "/fhir/CodeSystem/$lookup",
        params={"system": PURPOSE, "code": "s47-enquiry", "version": "0.2.0"},
        headers=manager,
    )
    assert old.status_code == 200, old.text
    assert out(old.json())["version"] == "0.2.0"
    absent = node.http.get(
        "/fhir/CodeSystem/$lookup",
        params={"system": PURPOSE, "code": NEW_CODE, "version": "0.2.0"},
        headers=manager,
    )
    assert absent.status_code == 404


def test_a_stale_if_match_is_refused_and_changes_nothing(node: Node) -> None:
    manager = node.as_(MANAGER)
    cs, etag = purpose_system(node, manager)
    first = new_version(cs, "0.3.0")
    assert put(node, first, manager, etag).status_code == 200
    stale = new_version(cs, "0.3.1")
    stale["concept"].append(copy.deepcopy(EDUCATION))
    answer = put(node, stale, manager, etag)
    assert answer.status_code == 412, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    current, now = purpose_system(node, manager)
    assert (current["version"], now) == ("0.3.0", 'W/"2"')
    assert len(vocabulary_changes(node)) == 1


def test_an_edit_without_the_terminology_manager_scope_is_forbidden(node: Node) -> None:
    operator = node.as_("system/*.cruds")
    cs, etag = purpose_system(node, operator)
    edited = new_version(cs, "0.3.0")
    edited["concept"].append(copy.deepcopy(EDUCATION))
    answer = put(node, edited, operator, etag)
    assert answer.status_code == 403, answer.text
    assert "terminology-manager" in answer.text
    assert purpose_system(node, operator) == (cs, etag)
    assert vocabulary_changes(node) == []


def test_removing_a_code_is_refused_naming_it(node: Node) -> None:
    manager = node.as_(MANAGER)
    cs, etag = purpose_system(node, manager)
    edited = new_version(cs, "0.3.0")
    edited["concept"] = [c for c in edited["concept"] if c["code"] not in ("already-open", "s17-child-in-need")]
    answer = put(node, edited, manager, etag)
    assert answer.status_code == 422, answer.text
    text = " ".join(i["diagnostics"] for i in answer.json()["issue"])
    assert "already-open" in text
    assert "s17-child-in-need" in text
    assert purpose_system(node, manager)[1] == etag
    assert vocabulary_changes(node) == []


def test_a_code_cannot_move_back_from_active_or_retired(node: Node) -> None:
    manager = node.as_(MANAGER)
    cs, etag = purpose_system(node, manager)
    retiring = new_version(cs, "0.3.0")
    set_status(concept_of(retiring, "already-open"), "retired")
    answer = put(node, retiring, manager, etag)
    assert answer.status_code == 200, answer.text
    back = new_version(answer.json(), "0.4.0")
    set_status(concept_of(back, "already-open"), "active")
    set_status(concept_of(back, "s47-enquiry"), "draft")
    refused = put(node, back, manager, answer.headers["etag"])
    assert refused.status_code == 422, refused.text
    text = " ".join(i["diagnostics"] for i in refused.json()["issue"])
    assert "'already-open' cannot move from retired back to active" in text
    assert "'s47-enquiry' cannot move from active back to draft" in text


def test_a_retired_purpose_is_refused_at_once_naming_its_replacement(node: Node) -> None:
    node.organisation("LA0001")
    manager = node.as_(MANAGER)
    assert reaches_the_rules(enquire(node, "general-safeguarding"))
    cs, etag = purpose_system(node, manager)
    edited = new_version(cs, "0.3.0")
    successor = copy.deepcopy(concept_of(edited, "general-safeguarding"))
    successor["code"] = "s11-safeguarding"
    edited["concept"].append(successor)
    retired = concept_of(edited, "general-safeguarding")
    set_status(retired, "retired")
    retired["property"].append({"code": "replaced-by", "valueCode": "s11-safeguarding"})
    assert put(node, edited, manager, etag).status_code == 200

    refused = enquire(node, "general-safeguarding")
    assert refused.status_code == 422, refused.text
    diagnostics = refused.json()["issue"][0]["diagnostics"]
    assert "retired" in diagnostics
    assert "s11-safeguarding" in diagnostics
    verdict = node.http.get(
        "/fhir/CodeSystem/$validate-code", params={"url": PURPOSE, "code": "general-safeguarding"}, headers=manager
    )
    assert out(verdict.json())["result"] is False
    assert "s11-safeguarding" in out(verdict.json())["message"]
    assert reaches_the_rules(enquire(node, "s11-safeguarding"))


def test_an_enquiry_reads_the_vocabularies_in_force_once(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinned per enquiry: one look at the store's newest versions, however many times the steps ask."""
    node.organisation("LA0001")
    vocabularies = node.services.vocabularies
    looks = []
    original = vocabularies.fingerprint

    def counted() -> str:
        looks.append(1)
        return original()

    monkeypatch.setattr(vocabularies, "fingerprint", counted)
    for _ in range(3):
        assert reaches_the_rules(enquire(node, "s47-enquiry"))
    assert len(looks) == 3
    with vocabularies.pinned() as pinned:
        assert vocabularies() is pinned
        with vocabularies.pinned() as inner:
            assert inner is pinned
    assert len(looks) == 4
    vocabularies()
    assert len(looks) == 5  # outside an enquiry every use looks again


# -- the CapabilityStatement --------------------------------------------------------------------------------------


def published_profiles() -> dict[str, str]:
    """Every profile under profiles/ that constrains a resource (extensions are not listed), url → type."""
    found = {}
    for f in (DEFAULTS / "profiles").glob("StructureDefinition-*.json"):
        definition = json.loads(f.read_text())
        if definition["kind"] == "resource":
            found[definition["url"]] = definition["type"]
    return found


def statement(node: Node) -> dict[str, dict[str, Any]]:
    answer = node.http.get("/fhir/metadata")
    assert answer.status_code == 200
    return {r["type"]: r for r in answer.json()["rest"][0]["resource"]}


def test_metadata_lists_the_profiles_of_the_stored_types_and_the_operations(node: Node) -> None:
    resources = statement(node)
    stored = {url: rtype for url, rtype in published_profiles().items() if rtype in resources}
    assert set(stored.values()) == {"Task", "Patient", "Organization", "AuditEvent", "Parameters", "Bundle", "Device"}
    for url, rtype in stored.items():
        assert url in resources[rtype].get("supportedProfile", []), (rtype, url)
    for rtype, name in [
        ("CodeSystem", "lookup"),
        ("CodeSystem", "validate-code"),
        ("CodeSystem", "subsumes"),
        ("ValueSet", "validate-code"),
        ("ValueSet", "expand"),
        ("Task", "validate"),
        ("Patient", "validate"),
        ("Organization", "validate"),
        ("Patient", "person-info-query"),
    ]:
        assert name in [o["name"] for o in resources[rtype].get("operation", [])], (rtype, name)


def test_metadata_lists_every_published_profile_with_its_validate_operation(node: Node) -> None:
    resources = statement(node)
    for url, rtype in published_profiles().items():
        entry = resources.get(rtype, {})
        assert url in entry.get("supportedProfile", []), (rtype, url)
        assert "validate" in [o["name"] for o in entry.get("operation", [])], (rtype, "validate")
