"""The console's sign-in, sessions, CSRF and lockout, in process (httpx over ASGITransport) on a fixed clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from mais_node.app import create_app
from mais_node.audit.query import parse_audit_query
from mais_node.clock import FixedClock
from mais_node.config import Settings
from mais_node.console.web import Console
from mais_node.errors import AuditUnavailable
from mais_node.wiring import Services, build_services

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery"
BASE = "http://127.0.0.1:8080"


class Browser:
    """A client that keeps cookies like a browser and reads the CSRF token out of the last form."""

    def __init__(self, http: httpx.AsyncClient, services: Services, clock: FixedClock) -> None:
        self.http, self.services, self.clock = http, services, clock

    @property
    def console(self) -> Console:
        console: Console = self.http._transport.app.state.console  # type: ignore[attr-defined]
        return console

    async def csrf(self, path: str) -> str:
        page = await self.http.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    async def sign_in(self, name: str = "olu", password: str = PASSWORD, code: str = "") -> httpx.Response:
        token = await self.csrf("/console/sign-in")
        form = {"csrf": token, "name": name, "password": password, "code": code, "next": "/console"}
        return await self.http.post("/console/sign-in", data=form)

    def audit(self, *pairs: tuple[str, str]) -> list[dict[str, object]]:
        return [r.event for r in self.services.audit.search(parse_audit_query(pairs)).records]


async def _browser(tmp_path: Path, **settings: object) -> AsyncIterator[Browser]:
    config = Settings(store=f"sqlite:///{tmp_path / 'node.db'}", **settings)  # type: ignore[arg-type]
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    services = build_services(config, clock=clock)
    app = create_app(config, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=config.public_base) as http:
        browser = Browser(http, services, clock)
        # Cheap hashes keep these tests fast; the default parameters are the CLI tests' (tests/e2e/test_console_cli.py).
        browser.console.accounts.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        browser.console.accounts.add("olu", "ig-officer", PASSWORD, display_name="Olu Adebayo")
        browser.console.accounts.add("pat", "practitioner", PASSWORD)
        yield browser
    services.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async for b in _browser(tmp_path):
        yield b


async def test_every_console_page_has_the_security_headers(browser: Browser) -> None:
    for path in ("/console/sign-in", "/console", "/console/reviews", "/console/nowhere"):
        page = await browser.http.get(path)
        csp = page.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"


async def test_a_page_needs_a_sign_in_and_returns_there_after_it(browser: Browser) -> None:
    page = await browser.http.get("/console/reviews")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/sign-in?next=/console/reviews"


async def test_signing_in_sets_a_strict_httponly_cookie_and_audits_the_person(browser: Browser) -> None:
    signed = await browser.sign_in()
    assert signed.status_code == 303
    cookie = next(v for k, v in signed.headers.multi_items() if k == "set-cookie" and v.startswith("mais_console="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # loopback: a browser would not send a Secure cookie over http://127.0.0.1
    home = await browser.http.get("/console")
    assert home.status_code == 200
    assert "Olu Adebayo" in home.text
    [login] = browser.audit(("subtype", "110122"), ("outcome", "0"), ("agent", "olu"))
    assert login["agent"][0]["name"] == "Olu Adebayo"  # type: ignore[index]


async def test_the_session_cookie_is_secure_off_loopback(tmp_path: Path) -> None:
    async for browser in _browser(tmp_path, base_url="https://node.example.org"):
        signed = await browser.sign_in()
        cookie = next(v for k, v in signed.headers.multi_items() if k == "set-cookie" and v.startswith("mais_console="))
        assert "Secure" in cookie


async def test_signing_in_starts_a_new_session_and_ends_the_old_one(browser: Browser) -> None:
    await browser.sign_in()
    first = browser.http.cookies["mais_console"]
    await browser.sign_in()
    second = browser.http.cookies["mais_console"]
    assert first != second
    stale = httpx.AsyncClient(transport=browser.http._transport, base_url=BASE, cookies={"mais_console": first})
    async with stale:
        assert (await stale.get("/console")).status_code == 303


async def test_a_planted_cookie_never_becomes_a_session(browser: Browser) -> None:
    browser.http.cookies.set("mais_console", "chosen-by-an-attacker", domain="127.0.0.1", path="/console")
    await browser.sign_in()
    assert browser.http.cookies["mais_console"] != "chosen-by-an-attacker"


async def test_sign_in_without_the_forms_token_is_refused(browser: Browser) -> None:
    form = {"name": "olu", "password": PASSWORD, "next": "/console"}
    refused = await browser.http.post("/console/sign-in", data=form)
    assert refused.status_code == 403
    assert "mais_console" not in browser.http.cookies
    assert browser.audit(("subtype", "110122"), ("outcome", "4"), ("agent", "olu"))


async def test_a_form_without_the_sessions_csrf_token_is_refused_and_audited(browser: Browser) -> None:
    await browser.sign_in()
    refused = await browser.http.post("/console/sign-out", data={"csrf": "not-the-token"})
    assert refused.status_code == 403
    assert "This form cannot be accepted" in refused.text
    assert (await browser.http.get("/console")).status_code == 200  # still signed in
    assert browser.audit(("subtype", "https://mais.example.org/fhir/CodeSystem/audit-event-subtype|csrf-refused"))


async def test_signing_out_ends_the_session(browser: Browser) -> None:
    await browser.sign_in()
    token = await browser.csrf("/console")
    out = await browser.http.post("/console/sign-out", data={"csrf": token})
    assert out.status_code == 303
    assert (await browser.http.get("/console")).status_code == 303
    assert browser.audit(("subtype", "110123"), ("agent", "olu"))


async def test_an_idle_session_ends(browser: Browser) -> None:
    await browser.sign_in()
    browser.clock.advance(minutes=14)
    assert (await browser.http.get("/console")).status_code == 200
    browser.clock.advance(minutes=14)  # 14 minutes since the last page: still within the idle time
    assert (await browser.http.get("/console")).status_code == 200
    browser.clock.advance(minutes=15)
    assert (await browser.http.get("/console")).status_code == 303


async def test_a_busy_session_still_ends_at_its_absolute_timeout(browser: Browser) -> None:
    await browser.sign_in()
    for _ in range(47):  # a page every 10 minutes for 7 h 50 min
        browser.clock.advance(minutes=10)
        assert (await browser.http.get("/console")).status_code == 200
    browser.clock.advance(minutes=10)
    assert (await browser.http.get("/console")).status_code == 303


async def test_repeated_failures_lock_the_account_for_a_while(browser: Browser) -> None:
    for _ in range(4):
        assert (await browser.sign_in(password="wrong password!")).status_code == 401
    locked = await browser.sign_in(password="wrong password!")
    assert "locked" in locked.text
    refused = await browser.sign_in()  # the right password, while locked
    assert refused.status_code == 401
    assert "locked" in refused.text
    browser.clock.advance(minutes=16)
    assert (await browser.sign_in()).status_code == 303
    assert len(browser.audit(("subtype", "110122"), ("outcome", "4"), ("agent", "olu"))) == 6


async def test_an_unknown_name_is_told_what_a_wrong_password_is(browser: Browser) -> None:
    unknown = await browser.sign_in(name="nobody")
    wrong = await browser.sign_in(password="wrong password!")
    assert unknown.status_code == wrong.status_code == 401
    assert "The name, password or code is not right" in unknown.text
    assert "The name, password or code is not right" in wrong.text


async def test_an_account_with_a_second_factor_needs_its_code(browser: Browser) -> None:
    person = browser.console.accounts.add("tomi", "auditor", PASSWORD, totp=True)
    assert person.totp_secret
    assert (await browser.sign_in("tomi")).status_code == 401
    code = pyotp.TOTP(person.totp_secret).at(browser.clock.now())
    assert (await browser.sign_in("tomi", code=code)).status_code == 303


async def test_after_sign_in_only_a_console_page_is_a_destination(browser: Browser) -> None:
    token = await browser.csrf("/console/sign-in")
    form = {"csrf": token, "name": "olu", "password": PASSWORD, "next": "//evil.example/console"}
    signed = await browser.http.post("/console/sign-in", data=form)
    assert signed.headers["location"] == "/console"


async def test_a_practitioner_gets_a_403_page_at_the_review_queue(browser: Browser) -> None:
    await browser.sign_in("pat")
    page = await browser.http.get("/console/reviews")
    assert page.status_code == 403
    assert "You cannot open this page" in page.text
    assert browser.audit(("subtype", "https://mais.example.org/fhir/CodeSystem/audit-event-subtype|refused"))


async def test_a_session_started_on_one_replica_is_served_by_another(browser: Browser, tmp_path: Path) -> None:
    await browser.sign_in()
    config = Settings(store=f"sqlite:///{tmp_path / 'node.db'}")
    other = build_services(config, clock=browser.clock)
    try:
        transport = httpx.ASGITransport(app=create_app(config, services=other))
        cookies = {"mais_console": browser.http.cookies["mais_console"]}
        async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=cookies) as second:
            page = await second.get("/console")
        assert page.status_code == 200
        assert "Olu Adebayo" in page.text
    finally:
        other.close()


async def test_an_unknown_console_path_is_a_404_page_with_the_headers(browser: Browser) -> None:
    await browser.sign_in()
    page = await browser.http.get("/console/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    api = await browser.http.get("/fhir/NoSuchType")  # the API still answers with an OperationOutcome
    assert api.headers["content-type"].startswith("application/fhir+json")


async def test_sign_in_fails_closed_when_the_audit_trail_cannot_be_written(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(event: object) -> None:
        raise AuditUnavailable("the audit trail cannot be written")

    token = await browser.csrf("/console/sign-in")
    monkeypatch.setattr(browser.services.checkpointer, "append", unavailable)
    form = {"csrf": token, "name": "olu", "password": PASSWORD, "next": "/console"}
    refused = await browser.http.post("/console/sign-in", data=form)
    assert refused.status_code == 503
    assert "Sorry, the service is unavailable" in refused.text
    assert "mais_console" not in browser.http.cookies
