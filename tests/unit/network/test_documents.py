"""Reading a national register and its signature: each malformed part is refused, naming what is wrong."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.errors import InvalidRequest
from mais_node.network import bundle
from mais_node.network.signature import SignatureRefused, TrustedKeys, verify
from tests.registers import Authority, a_system, an_organisation

AUTHORITY = Authority()
Json = dict[str, Any]


def document() -> Json:
    content = AUTHORITY.content(7, [an_organisation("LA0001")], [a_system("s1")])
    return AUTHORITY.signed(content)


def resource(doc: Json, kind: str) -> Json:
    return next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == kind)


def test_a_good_register_reads_back_as_it_was_written() -> None:
    doc = document()
    assert verify(doc, TrustedKeys.from_jwks(AUTHORITY.trust)) == AUTHORITY.private["kid"]
    content = bundle.parse(doc)
    assert (content.serial, list(content.organisations), list(content.systems)) == (7, ["LA0001"], ["s1"])
    assert content.endpoints_of("LA0001")[0].address == "https://la0001.example/fhir"
    assert content.authority == "Test Authority"


def _set(path: Callable[[Json], Json], key: str, value: Any) -> Callable[[Json], None]:
    def edit(doc: Json) -> None:
        path(doc)[key] = value

    return edit


def _drop(path: Callable[[Json], Json], key: str) -> Callable[[Json], None]:
    def edit(doc: Json) -> None:
        path(doc).pop(key)

    return edit


ORG: Callable[[Json], Json] = lambda doc: resource(doc, "Organization")  # noqa: E731
ENDPOINT: Callable[[Json], Json] = lambda doc: resource(doc, "Endpoint")  # noqa: E731
DEVICE: Callable[[Json], Json] = lambda doc: resource(doc, "Device")  # noqa: E731
BUNDLE: Callable[[Json], Json] = lambda doc: doc  # noqa: E731

MALFORMED = {
    "not a collection": (_set(BUNDLE, "type", "transaction"), "Bundle of type collection"),
    "a serial that is not a number": (lambda d: d["identifier"].update(value="seven"), "serial"),
    "no expiry": (lambda d: d["identifier"].pop("period"), "period.end"),
    "an issue time without a zone": (_set(BUNDLE, "timestamp", "2026-12-01T09:00:00"), "time zone"),
    "no entries": (_drop(BUNDLE, "entry"), "no entries"),
    "a Patient among the entries": (
        lambda d: d["entry"].append({"resource": {"resourceType": "Patient"}}),
        "Organization, Endpoint or Device",
    ),
    "an Organization without an ODS code": (_set(ORG, "identifier", []), "no ODS code"),
    "an ODS code that is not one": (lambda d: ORG(d)["identifier"][0].update(value="L!"), "not an ODS code"),
    "an Organization whose id is not its code": (_set(ORG, "id", "other"), "its id must be"),
    "an Organization without a name": (_set(ORG, "name", " "), "needs a name"),
    "an unknown status": (lambda d: ORG(d)["extension"][0].update(valueCode="sleeping"), "is not known"),
    "an Endpoint naming no organisation": (
        _set(ENDPOINT, "managingOrganization", {"reference": "Organization/ZZ9"}),
        "its organisation",
    ),
    "an Endpoint of another connection type": (
        _set(ENDPOINT, "connectionType", {"code": "hl7-fhir-msg"}),
        "hl7-fhir-rest",
    ),
    "an Endpoint of an unknown status": (_set(ENDPOINT, "status", "sleeping"), "status"),
    "an Organization naming an absent Endpoint": (
        _set(ORG, "endpoint", [{"reference": "Endpoint/gone"}]),
        "absent Endpoint",
    ),
    "a system without a client id": (_set(DEVICE, "identifier", []), "national client id"),
    "a system without scopes": (
        lambda d: DEVICE(d).update(extension=[e for e in DEVICE(d)["extension"] if not e["url"].endswith("scope")]),
        "scope",
    ),
    "a system with an unknown scope": (
        lambda d: DEVICE(d)["extension"].append({"url": bundle.SYSTEM_SCOPE, "valueString": "root"}),
        "not a scope",
    ),
    "a system with two key sources": (
        lambda d: DEVICE(d)["extension"].append({"url": bundle.SYSTEM_JWKS_URI, "valueUrl": "https://x.example/j"}),
        "one of them",
    ),
    "a system whose inline JWKS is not JSON": (
        lambda d: next(e for e in DEVICE(d)["extension"] if e["url"] == bundle.SYSTEM_JWKS).update(valueString="{"),
        "not JSON",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_register_is_refused_naming_what_is_wrong(case: str) -> None:
    edit, message = MALFORMED[case]
    doc = copy.deepcopy(document())
    edit(doc)
    with pytest.raises(bundle.Malformed, match=message):
        bundle.parse(doc)


def _with_data(data: str) -> Json:
    doc = document()
    doc["signature"]["data"] = data
    return doc


SIGNATURES = {
    "no signature": ({k: v for k, v in document().items() if k != "signature"}, "no application/jose signature"),
    "not base64": (_with_data("***"), "not base64"),
    "not detached": (_with_data(base64.b64encode(b"a.b.c").decode()), "not a detached compact JWS"),
    "a header that is not JSON": (_with_data(base64.b64encode(b"bm90anNvbg..c2ln").decode()), "not JSON"),
    "an extra header parameter": (
        _with_data(
            base64.b64encode(
                base64.urlsafe_b64encode(
                    orjson.dumps({"alg": "ES384", "kid": AUTHORITY.private["kid"], "b64": False})
                ).rstrip(b"=")
                + b"..c2ln"
            ).decode()
        ),
        "does not understand",
    ),
}


@pytest.mark.parametrize("case", list(SIGNATURES), ids=list(SIGNATURES))
def test_a_signature_that_is_not_one_is_refused(case: str) -> None:
    doc, message = SIGNATURES[case]
    with pytest.raises(SignatureRefused, match=message):
        verify(doc, TrustedKeys.from_jwks(AUTHORITY.trust))


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({"keys": []}, "JWKS with keys"),
        ({"keys": [{"kty": "EC"}]}, "own 'kid'"),
        ({"keys": [generate_private_jwk("ES384")]}, "private key material"),
        ({"keys": [public_jwks(generate_private_jwk("RS384"))["keys"][0]]}, "not an EC key"),
    ],
    ids=["empty", "no kid", "private", "RSA"],
)
def test_the_trust_is_public_p384_keys_each_with_a_kid(jwks: Json, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        TrustedKeys.from_jwks(jwks)
