"""Issue 16 §7 in a real browser (Debian's headless Chromium, Playwright): a practitioner fills the single-view form
with the keyboard alone, lands on the view's page and sees the rows fill in (the page's script under the console's
real Content-Security-Policy, no reload), or, without JavaScript, by the Refresh link; axe-core on the form, its
error summary and the view (no serious or critical violation). The node is served over real HTTP by uvicorn in this
process (real SQLite, Cedar, sessions and CSRF); its partners are the in-memory ``Peers`` (the real network between
nodes is tests/e2e/test_single_view.py's). Screenshots as tests/e2e/test_console_browser.py keeps them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mais_node.app import create_app
from mais_node.config import Settings
from mais_node.network.peers_fake import FakePeers, Scripted
from mais_node.wiring import build_services
from mais_node.wiring_single_view import EXTRA
from tests.api.test_console_review import PASSWORD
from tests.api.test_console_single_view_pages import fake_single_views
from tests.api.test_single_view import PARTNER_TASK, known_with_contact, on_hold, referred
from tests.e2e.test_console_browser import (  # noqa: F401 (browser and page are fixtures)
    axe,
    browser,
    page,
    pytestmark,
    tab_to,
)
from tests.processes import free_port, serving_in_thread
from tests.unit.network.test_fan_out import DENIED, DOWN, match
from tests.unit.network.test_targets import Listing

PARTNERS = {
    "POL001": ("police", "West Yorkshire Police", Scripted(known_with_contact(), delay=0.2)),
    "GP0001": ("gp", "Chapel Allerton Surgery", Scripted(match(False), delay=0.3)),
    "SCH001": ("school", "Park Lane Primary School", Scripted(DENIED, delay=0.1)),
    "HV0001": ("health-visiting", "Leeds Health Visiting Service", Scripted(DOWN)),
    "LA0002": ("la-childrens-social-care", "Bradford Children's Services", Scripted(referred())),
    "LA0001": ("la-childrens-social-care", "Wakefield Children's Services", Scripted(match(False), delay=30)),
    "HOU001": ("housing", "Leeds Housing Options", Scripted(match(False))),
}
ROW = "#single-view-rows tbody tr"


@dataclass
class Served:
    base: str
    shots: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The node on its own loopback port (uvicorn in a thread), one practitioner account, partners scripted."""
    workdir = tmp_path_factory.mktemp("svbrowser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = Settings(
        store=f"sqlite:///{workdir / 'node.db'}",
        base_url=base,
        node_org_name="Leeds Children's Services",
        single_view_follow_seconds=0.2,
    )
    services = build_services(config)
    app = create_app(config, services=services)
    app.state.console.accounts.add("priya", "practitioner", PASSWORD, display_name="Priya Shah")
    listing = Listing()
    for ods, (kind, name, _) in PARTNERS.items():
        listing.add(ods, kind, name=name)
    peers = FakePeers(
        queries={ods: script for ods, (_, _, script) in PARTNERS.items()},
        tasks={PARTNER_TASK: [Scripted(on_hold())]},  # the partner's IG officer has not decided yet
    )
    services.extras[EXTRA] = fake_single_views(services, peers, listing, live_seconds=1.0, follow_first=0.2)
    try:
        with serving_in_thread(app, port):
            yield Served(base, workdir / "shots")
    finally:
        services.close()


def sign_in(tab: Any, served: Served) -> None:
    tab.goto(f"{served.base}/console")
    tab.fill("#name", "priya")
    tab.fill("#password", PASSWORD)
    tab.click("button:has-text('Sign in')")
    tab.wait_for_url(f"{served.base}/console")


def shown(tab: Any, served: Served, shot: str) -> None:
    axe(tab, served, shot)  # type: ignore[arg-type]  # axe reads only .shots


def states(tab: Any) -> dict[str, str]:
    found = {}
    for row in tab.locator(ROW).all():
        ods = row.locator("th .govuk-body-s").inner_text().removeprefix("ODS ").strip()
        found[ods] = row.locator(".govuk-tag").inner_text().strip()
    return found


def test_the_form_by_keyboard_and_the_rows_filling_in_under_the_real_policy(browser: Any, served: Served) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1000, "height": 760})  # the console's CSP in force
    context.set_default_timeout(15_000)
    tab = context.new_page()
    dialogs: list[str] = []
    refused: list[str] = []

    def dialog(shown: Any) -> None:
        dialogs.append(shown.message)
        shown.dismiss()

    def said(message: Any) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    tab.on("dialog", dialog)
    tab.on("console", said)
    try:
        sign_in(tab, served)
        tab.click("nav a[href='/console/single-view']")
        tab_to(tab, "#nhs_number")
        tab.keyboard.type("999 131 6825")
        tab_to(tab, "#purpose")
        for _ in range(20):
            if tab.eval_on_selector("#purpose", "s => s.value") == "s47-enquiry":
                break
            tab.keyboard.press("ArrowDown")
        assert tab.eval_on_selector("#purpose", "s => s.value") == "s47-enquiry"
        tab_to(tab, "main form button[type=submit]")
        tab.keyboard.press("Enter")
        tab.wait_for_url(f"{served.base}/console/single-view/*")
        tab.evaluate("window.stillThisPage = true")
        tab.wait_for_selector(f"{ROW} >> text=ODS POL001")  # brought by the script: the tab was not reloaded
        assert tab.evaluate("window.stillThisPage") is True
        found = states(tab)
        assert found["POL001"] == "KNOWN"
        assert found["LA0002"] == "PENDING_REVIEW"
        assert found["HOU001"] == "NOT_ASKED"
        assert "Police Safeguarding Hub" in tab.inner_text("#single-view-rows")
        assert "Updated:" in tab.inner_text("#single-view-status")
    finally:
        context.close()
    assert not dialogs
    assert not refused, refused


def test_the_form_its_errors_and_the_view_pass_axe(page: Any, served: Served) -> None:  # noqa: F811
    sign_in(page, served)
    page.goto(f"{served.base}/console/single-view")
    shown(page, served, "single-view-form")
    page.click("main form button[type=submit]")  # nothing given
    assert "There is a problem" in page.inner_text(".govuk-error-summary")
    shown(page, served, "single-view-errors")
    page.click(".govuk-error-summary a[href='#nhs_number']")
    assert page.evaluate("document.activeElement.id") == "nhs_number"
    page.fill("#nhs_number", "9991316825")
    page.select_option("#purpose", "s47-enquiry")
    page.click("main form button[type=submit]")
    page.wait_for_selector(f"{ROW} >> text=ODS LA0001", timeout=15_000)  # the slow partner's row: the live deadline
    assert states(page)["LA0001"] == "TIMED_OUT"
    page.set_viewport_size({"width": 1100, "height": 1280})
    shown(page, served, "single-view")


def test_without_javascript_the_refresh_link_brings_the_rows(browser: Any, served: Served) -> None:  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 760})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        sign_in(tab, served)
        tab.goto(f"{served.base}/console/single-view")
        tab.fill("#family", "Rogers")
        tab.fill("#given", "Chantelle")
        tab.fill("#birth_day", "2")
        tab.fill("#birth_month", "3")
        tab.fill("#birth_year", "2015")
        tab.select_option("#purpose", "s47-enquiry")
        tab.click("main form button[type=submit]")
        tab.wait_for_url(f"{served.base}/console/single-view/*")
        for _ in range(40):
            if "POL001" in states(tab):
                break
            time.sleep(0.25)
            tab.click("a:has-text('Refresh the rows')")
        assert states(tab)["POL001"] == "KNOWN"
        assert "Chantelle Rogers" in tab.inner_text("main")
    finally:
        context.close()
