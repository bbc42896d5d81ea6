"""A node that is not a system in the national register cannot ask its partners, and says what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from mais_node.config import Settings
from mais_node.errors import Unavailable
from mais_node.wiring import build_services
from mais_node.wiring_single_view import own_client_id, single_views


def test_a_node_outside_the_register_refuses_to_ask_naming_what_to_set(tmp_path: Path) -> None:
    services = build_services(Settings(store=f"sqlite:///{tmp_path / 'node.db'}"))
    try:
        assert own_client_id(services) is None  # no client id set, none in the register for this node's JWKS URL
        with pytest.raises(Unavailable, match=r"not a system in the national register .*MAIS_IDENTITY_KEYS"):
            single_views(services)
    finally:
        services.close()


def test_with_its_client_id_set_the_node_builds_its_single_views_once(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'node.db'}", identity_client_id="la0001-node")
    services = build_services(settings)
    try:
        assert own_client_id(services) == "la0001-node"
        views = single_views(services)
        assert single_views(services) is views  # one per node: its breakers and follow-ups are shared
    finally:
        services.close()
