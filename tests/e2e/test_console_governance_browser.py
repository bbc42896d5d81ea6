"""Issue 16 §6 in a real browser (Debian's headless Chromium, Playwright) against a real ``mais demo``: the register
page (suspend a system through its confirmation page and reactivate it, without JavaScript help) and the rules page,
each checked with axe-core (no serious or critical violation), and a practitioner refused both with the 403 page.
Screenshots as tests/e2e/test_console_browser.py keeps them (MAIS_CONSOLE_SCREENSHOTS=1 replaces docs/console/*.png).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.test_console_browser import (  # noqa: F401 (browser, demo and page are fixtures)
    Demo,
    axe,
    browser,
    demo,
    page,
    pytestmark,
    sign_in,
)


def test_an_administrator_suspends_a_system_after_confirming_and_reactivates_it(page: Any, demo: Demo) -> None:  # noqa: F811
    sign_in(page, demo, "admin")
    page.click("nav a[href='/console/register']")
    axe(page, demo, "register")
    row = page.locator("tr", has_text=demo.la_client)
    assert "active" in row.inner_text()
    row.locator("button:has-text('Suspend')").click()
    assert "Are you sure you want to suspend this system?" in page.inner_text("h1")
    axe(page, demo, "register-confirm")
    page.click("button:has-text('Yes, suspend it')")
    assert "suspended" in page.inner_text(".govuk-notification-banner")
    row = page.locator("tr", has_text=demo.la_client)
    assert "revoked" in row.inner_text() or "suspended" in row.inner_text()
    row.locator("button:has-text('Reactivate')").click()
    assert "reactivated" in page.inner_text(".govuk-notification-banner")
    assert "Suspend" in page.locator("tr", has_text=demo.la_client).inner_text()


def test_an_ig_officer_sees_the_rules_in_force_and_the_policy_tests(page: Any, demo: Demo) -> None:  # noqa: F811
    sign_in(page, demo, "ig")
    page.click("nav a[href='/console/rules']")
    text = page.inner_text("main")
    assert "sha256:" in text
    assert "national.cedar" in text
    assert " 0 failed" in text
    axe(page, demo, "rules")


def test_a_practitioner_gets_the_403_page_for_both(page: Any, demo: Demo) -> None:  # noqa: F811
    sign_in(page, demo, "practitioner")
    for path in ("/console/register", "/console/rules"):
        answer = page.goto(f"{demo.base}{path}")
        assert answer is not None
        assert answer.status == 403
        assert "You cannot open this page" in page.inner_text("h1")
