"""Issue 16 §2 in a real browser: Debian's headless Chromium signs in to a real ``mais serve`` through a real
OpenID provider's login page (npm oidc-provider), and axe-core checks the sign-in page that offers it.

Skipped, saying so, only where /usr/bin/chromium, axe-core, node or oidc-provider is absent. The screenshot goes to
a temporary folder; with MAIS_CONSOLE_SCREENSHOTS=1 it replaces docs/console/sign-in-oidc.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_console_browser import ARGS, AXE, CHROMIUM, axe
from tests.oidc.provider import CLIENT_ID, CLIENT_SECRET, MISSING, provider
from tests.processes import free_port, stop, wait_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: `make test` installs it as root"),
    pytest.mark.skipif(not AXE.exists(), reason="no node_modules/axe-core: `make test` installs it with npm"),
    pytest.mark.skipif(bool(MISSING), reason=MISSING or "-"),
]


@dataclass
class Node:
    base: str
    shots: Path


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("oidc-console")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with provider(free_port(), [f"{base}/console/oidc/callback"]) as issuer:
        env = {
            **os.environ,
            "MAIS_BASE_URL": base,
            "MAIS_CONSOLE_OIDC_ISSUER": issuer,
            "MAIS_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
            "MAIS_CONSOLE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "MAIS_CONSOLE_OIDC_ROLE_MAP": "ig=ig-officer,audit=auditor",
            "MAIS_CONSOLE_OIDC_NAME": "Test Council",
        }
        argv = [sys.executable, "-m", "mais_node", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*argv, "--store", f"sqlite:///{workdir / 'node.db'}"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_ready(port, process)
            yield Node(base, workdir / "shots")
        finally:
            stop(process)


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=30_000)
        # Only axe-core is injected past the policy.
        context = chromium.new_context(bypass_csp=True, viewport={"width": 1000, "height": 760})
        context.set_default_timeout(15_000)
        dialogs: list[str] = []
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        yield page
        context.close()
        chromium.close()
        assert not dialogs, f"a script ran: {dialogs}"


def test_a_person_signs_in_through_the_providers_login_page(page: Any, node: Node) -> None:
    page.goto(f"{node.base}/console/reviews")
    assert page.url.startswith(f"{node.base}/console/sign-in")
    axe(page, node, "sign-in-oidc")  # type: ignore[arg-type]
    page.click("a.govuk-button:has-text('Sign in with Test Council')")
    page.wait_for_selector("input[name=login]")  # the provider's own page
    assert not page.url.startswith(node.base)
    page.fill("input[name=login]", "ig.officer")
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{node.base}/console/reviews")
    assert "Ida Officer" in page.inner_text("body")
    axe(page, node, "review-queue-oidc")  # type: ignore[arg-type]
    cookies = {c["name"]: c for c in page.context.cookies(f"{node.base}/console/oidc/callback")}
    assert cookies["mais_console"]["httpOnly"]
    assert cookies["mais_console"]["sameSite"] == "Strict"
    assert "mais_console_oidc" not in cookies  # the flow's cookie is gone
