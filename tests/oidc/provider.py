"""Start the test OpenID provider (tests/oidc/provider.mjs, npm oidc-provider) on a free loopback port."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "provider.mjs"
CLIENT_ID, CLIENT_SECRET = "mais-console", "console-secret"
NODE = shutil.which("node")
MISSING = (
    "no node on PATH"
    if NODE is None
    else "no node_modules/oidc-provider: `make node_modules/.installed` installs it with npm"
    if not (ROOT / "node_modules" / "oidc-provider" / "package.json").exists()
    else ""
)


@contextmanager
def provider(port: int, redirects: list[str], timeout: float = 20) -> Iterator[str]:
    """The provider's issuer URL while it runs; stopped (by its PID) afterwards."""
    assert NODE is not None
    process = subprocess.Popen(
        [NODE, str(SCRIPT), str(port), ",".join(redirects)],
        cwd=ROOT,
        env={**os.environ, "NODE_ENV": "test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the OpenID provider exited: {process.stdout.read() if process.stdout else ''}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the OpenID provider did not start in time")
            time.sleep(0.2)
        yield issuer
    finally:
        stop(process)


def login_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the provider's (dev interaction) login form."""
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action, html
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return action.group(1), hidden
