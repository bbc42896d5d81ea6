"""Hostile bodies too large or too odd to keep as text in the corpus: made at test time from ``make = "name:arg"``."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from joserfc import jwt
from joserfc.jwk import ECKey

from mais_node.adapters.jose_keys import generate_private_jwk
from mais_node.client import client_assertion

TOKEN_URL = "http://127.0.0.1:8080/auth/token"


def nested_arrays(depth: int) -> bytes:
    """A Patient whose ``extension`` is ``depth`` arrays deep."""
    return b'{"resourceType":"Patient","extension":' + b"[" * depth + b"]" * depth + b"}"


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def sized_patient(size: int) -> bytes:
    """A valid Patient of exactly ``size`` bytes (the narrative pads it)."""

    def patient(pad: int) -> bytes:
        div = '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * pad + "</div>"
        return orjson.dumps({"resourceType": "Patient", "text": {"status": "generated", "div": div}})

    body = patient(size - len(patient(0)))
    assert len(body) == size
    return body


def long_family(length: int) -> bytes:
    return orjson.dumps({"resourceType": "Patient", "name": [{"family": "x" * length}], "gender": 1})


def unknown_elements(count: int) -> bytes:
    """A Patient with ``count`` unknown elements: one issue each, if nothing caps the answer."""
    return orjson.dumps({"resourceType": "Patient", **{f"k{i}": 1 for i in range(count)}})


def invalid_utf8(_: int) -> bytes:
    """A lone continuation byte and an overlong encoding of '/' inside a string."""
    return b'{"resourceType":"Patient","name":[{"family":"\x80\xc0\xaf"}]}'


def repeated_scope(count: int) -> bytes:
    """A token request repeating ``scope``: quadratic in a naive duplicate check."""
    return b"grant_type=client_credentials&" + b"scope=x&" * count


def foreign_assertion(_: int) -> bytes:
    """A token request whose client assertion is signed by a key the node has never seen."""
    assertion = client_assertion("no-such-client", TOKEN_URL, generate_private_jwk("ES384"))
    return (
        "grant_type=client_credentials&scope=system/*.cruds"
        "&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        f"&client_assertion={assertion}"
    ).encode()


MAKERS: dict[str, Callable[[int], bytes]] = {
    "nested-arrays": nested_arrays,
    "nested-objects": nested_objects,
    "sized-patient": sized_patient,
    "long-family": long_family,
    "unknown-elements": unknown_elements,
    "invalid-utf8": invalid_utf8,
    "repeated-scope": repeated_scope,
    "foreign-assertion": foreign_assertion,
}


def make(spec: str) -> bytes:
    name, _, arg = spec.partition(":")
    return MAKERS[name](int(arg or 0))


def foreign_token() -> str:
    """An access token shaped like the node's own, signed by a stranger's key."""
    key = ECKey.import_key(generate_private_jwk("ES384"))
    claims = {"iss": "http://127.0.0.1:8080", "aud": "http://127.0.0.1:8080/fhir", "client_id": "x", "org": "NODE01"}
    header = {"alg": "ES384", "kid": "node-1"}
    return jwt.encode(header, {**claims, "exp": 4_000_000_000}, key, algorithms=["ES384"])
