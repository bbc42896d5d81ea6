"""Fetch the national register from its URL with httpx (the ``RegisterSource`` port, issue 14 item 3).

A short timeout, no redirects, ``If-None-Match`` with the last ETag (a 304 costs the authority nothing), and a size
cap enforced while streaming, so a 50 MB answer is refused after the cap is read, not read whole. httpx errors never
leave this module.
"""

from __future__ import annotations

import httpx

from mais_node.errors import Unavailable
from mais_node.network.ports import Fetched, NotModified

DEFAULT_TIMEOUT = 10.0


class HttpRegisterSource:
    def __init__(
        self,
        url: str,
        *,
        max_bytes: int,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def fetch(self, etag: str | None) -> Fetched | NotModified:
        headers = {"Accept": "application/fhir+json, application/json"}
        if etag:
            headers["If-None-Match"] = etag
        try:
            with self._client.stream("GET", self.url, headers=headers) as response:
                if response.status_code == 304:
                    return NotModified()
                if response.status_code != 200:
                    raise Unavailable(f"the register URL answered {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise Unavailable(f"the register is larger than {self.max_bytes} bytes")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise Unavailable(f"the register is larger than {self.max_bytes} bytes")
                return Fetched(bytes(body), response.headers.get("etag"))
        except httpx.TimeoutException as exc:
            raise Unavailable("the register URL did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(f"the register URL could not be fetched ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._client.close()
