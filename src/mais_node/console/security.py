"""The console's response headers (issue 16, quality and security): what a browser may load, frame and keep.

The policy allows scripts and styles from the node only (no ``unsafe-inline``: GOV.UK Frontend's inline
``js-enabled`` snippet is a static file here), no framing, forms posting only back to the node. Every page says
``no-store``: nearly all of them show personal data or a session's CSRF token, and a page a shared computer's
browser keeps is a disclosure.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
PREFIX = "/console"
STATIC = "/console/static/"


class ConsoleHeaders:
    """Adds the headers to every response under ``/console`` (pages, redirects, errors and static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(STATIC)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                cache = b"public, max-age=3600" if static else b"no-store"
                message["headers"] = [*kept, *PAGE_HEADERS, (b"cache-control", cache)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
