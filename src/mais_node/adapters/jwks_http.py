"""Fetch a client's JWK Set from its JWKS URL with httpx (SMART Backend Services: keys by URL).

A short timeout, no redirects, a size cap; the response may be cached for its ``Cache-Control: max-age`` and no
longer (``no-store`` / ``no-cache`` / none: not at all). httpx errors never leave this module.
"""

from __future__ import annotations

import re

import httpx
import orjson

from mais_node.auth.ports import FetchedJwks
from mais_node.errors import Unavailable

MAX_BYTES = 64 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)\s*(?:,|$)", re.IGNORECASE)


def max_age(cache_control: str | None) -> int:
    """Seconds a response may be reused according to its Cache-Control header (RFC 9111 §5.2.2)."""
    value = (cache_control or "").lower()
    if "no-store" in value or "no-cache" in value:
        return 0
    match = _MAX_AGE.search(value)
    return int(match.group(1)) if match else 0


class HttpJwksFetcher:
    def __init__(self, *, timeout: float = 3.0, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def fetch(self, url: str) -> FetchedJwks:
        try:
            response = self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Unavailable(f"the JWKS URL could not be fetched ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise Unavailable(f"the JWKS URL answered {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise Unavailable("the JWKS document is too large")
        try:
            jwks = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise Unavailable("the JWKS URL did not answer JSON") from exc
        if not isinstance(jwks, dict):
            raise Unavailable("the JWKS URL did not answer a JSON object")
        return FetchedJwks(jwks, max_age(response.headers.get("cache-control")))

    def close(self) -> None:
        self._client.close()
