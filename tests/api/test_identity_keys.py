"""Issue 14 item 6: a node publishes its own outgoing identity at ``/.well-known/jwks.json`` (MAIS_IDENTITY_KEYS);
a new key is published before it signs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson

from mais_node.adapters.identity_keys import DEFAULT_LEAD_SECONDS, IdentityKeys
from mais_node.adapters.jose_keys import write_key_pair
from tests.api.conftest import make_node


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_node_publishes_every_identity_key_and_signs_only_with_one_published_long_enough(tmp_path: Path) -> None:
    keys = tmp_path / "identity"
    first, _, first_kid = write_key_pair(keys)
    for node in make_node(tmp_path, identity_keys=keys):
        published = node.http.get("/.well-known/jwks.json")
        assert published.status_code == 200
        assert "max-age" in published.headers["cache-control"]
        assert [k["kid"] for k in published.json()["keys"]] == [first_kid]
        assert all("d" not in k for k in published.json()["keys"])
        identity: IdentityKeys = node.services.extras["identity"]
        assert identity.signing_key()["kid"] == first_kid  # type: ignore[index]  # a first key signs at once

        _age(first, DEFAULT_LEAD_SECONDS + 60)
        second_dir = tmp_path / "next"
        second, _, second_kid = write_key_pair(second_dir)
        second.rename(keys / second.name)
        kids = {k["kid"] for k in node.http.get("/.well-known/jwks.json").json()["keys"]}
        assert kids == {first_kid, second_kid}  # the new key is published at once...
        assert identity.signing_key()["kid"] == first_kid  # type: ignore[index]  # ...but does not sign yet

        _age(keys / second.name, DEFAULT_LEAD_SECONDS + 1)
        assert identity.signing_key()["kid"] == second_kid  # type: ignore[index]
        assert orjson.loads((keys / second.name).read_bytes())["d"]  # the private half stays in the directory


def test_a_node_without_identity_keys_publishes_an_empty_set(tmp_path: Path) -> None:
    for node in make_node(tmp_path):
        assert node.http.get("/.well-known/jwks.json").json() == {"keys": []}
