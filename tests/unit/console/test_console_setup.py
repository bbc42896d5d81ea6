"""The console's set-up pieces: the demo's accounts (one per role, the same passwords on a second run) and the copy
of GOV.UK Frontend's built files into the package (the stylesheet's asset URLs made relative)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mais_node.config import Settings
from mais_node.console import assets
from mais_node.console.demo import demo_accounts
from mais_node.console.people import ROLES
from mais_node.console.store import open_accounts
from mais_node.wiring import build_services

DIST = Path(__file__).resolve().parents[3] / "node_modules" / "govuk-frontend" / "dist" / "govuk"


def test_the_demo_has_one_account_per_role_and_keeps_their_passwords(tmp_path: Path) -> None:
    services = build_services(Settings(store=f"sqlite:///{tmp_path / 'demo.db'}"))
    try:
        first = demo_accounts(services, tmp_path / "demo")
        again = demo_accounts(services, tmp_path / "demo")
        assert first == again
        assert len(first) == len(ROLES)
        accounts = open_accounts(services)
        assert {accounts.sign_in(name, password).role for name, _, password in first} == set(ROLES)
        mode = (tmp_path / "demo" / "console-accounts.json").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
    finally:
        services.close()


@pytest.mark.skipif(not DIST.exists(), reason="no node_modules/govuk-frontend: `make` installs it with npm")
def test_the_assets_are_copied_with_the_stylesheets_urls_made_relative(tmp_path: Path) -> None:
    assets.copy(DIST, tmp_path / "govuk")
    css = (tmp_path / "govuk" / "govuk-frontend.min.css").read_text()
    assert "url(/assets/" not in css
    assert "url(assets/fonts/" in css
    for font in (tmp_path / "govuk" / "assets" / "fonts").iterdir():
        assert f"url(assets/fonts/{font.name})" in css
    assert (tmp_path / "govuk" / "govuk-frontend.min.js").exists()
