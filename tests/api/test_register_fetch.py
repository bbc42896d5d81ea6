"""Issue 14, bad input over HTTP: a 50 MB answer is refused by size without being read whole, a register URL that
does not answer in time leaves the last good register in force, and the node keeps serving. A real HTTP server on
127.0.0.1 stands for the authority."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.client import client_assertion
from mais_node.network.sync import ImportRefused
from tests.api.conftest import make_node
from tests.registers import Authority, a_system, an_organisation

FIFTY_MB = 50 * 1024 * 1024
SYSTEM_KEY = generate_private_jwk("ES384")
CHUNK = 64 * 1024


class AuthorityHandler(BaseHTTPRequestHandler):
    document: ClassVar[bytes] = b""
    mode: ClassVar[str] = "good"
    sent: ClassVar[int] = 0

    def do_GET(self) -> None:
        if self.path == "/jwks":
            body = orjson.dumps(public_jwks(SYSTEM_KEY))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "max-age=60")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.mode == "slow":
            time.sleep(2.0)
        if self.mode == "big":
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            try:
                while type(self).sent < FIFTY_MB:
                    self.wfile.write(b" " * CHUNK)
                    type(self).sent += CHUNK
            except (BrokenPipeError, ConnectionResetError):
                return
            return
        etag = '"1"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        try:
            self.wfile.write(self.document)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), AuthorityHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/register"
    httpd.shutdown()
    httpd.server_close()
    AuthorityHandler.mode, AuthorityHandler.sent = "good", 0


def test_a_50_mb_answer_is_refused_by_size_and_a_slow_one_by_time(server: str, tmp_path: Path) -> None:
    authority = Authority()
    key = generate_private_jwk("ES384")
    content = authority.content(1, [an_organisation()], [a_system("cms-1", "LA0001", key)])
    AuthorityHandler.document = orjson.dumps(authority.signed(content))
    settings = {
        "register_url": server,
        "register_trust": authority.write_trust(tmp_path),
        "register_sync_seconds": 0,
        "register_timeout_seconds": 0.5,
        "register_max_bytes": 4 * 1024 * 1024,
    }
    for node in make_node(tmp_path, **settings):
        assert node.services.network is not None
        assert node.services.network.importer is not None
        importer = node.services.network.importer
        assert importer.sync().applied
        assert not importer.sync().applied  # a 304 to If-None-Match: nothing read, nothing done

        AuthorityHandler.mode = "big"
        with pytest.raises(ImportRefused, match="larger than 4194304 bytes"):
            importer.sync()
        assert AuthorityHandler.sent < FIFTY_MB  # refused while streaming, not after reading it all

        AuthorityHandler.mode = "slow"
        started = time.monotonic()
        with pytest.raises(ImportRefused, match="did not answer in time"):
            importer.sync()
        assert time.monotonic() - started < 1.9
        assert node.services.network.store.national_serial() == 1  # the last good register stays
        assert node.http.get("/readyz").json()["register"]["serial"] == 1  # and the node keeps serving
        refusals = [
            r.event["outcomeDesc"]
            for r in node.services.audit.scan()
            if any(c.get("code") == "register-import" for c in r.event.get("subtype", [])) and r.event["outcome"] == "8"
        ]
        assert len(refusals) == 2


def test_a_national_system_with_a_jwks_url_gets_a_token_with_keys_fetched_from_it(server: str, tmp_path: Path) -> None:
    authority = Authority()
    jwks_uri = server.replace("/register", "/jwks")
    system = replace(a_system("cms-url", "LA0001"), jwks=None, jwks_uri=jwks_uri)
    AuthorityHandler.document = orjson.dumps(authority.signed(authority.content(1, [an_organisation()], [system])))
    settings = {"register_url": server, "register_trust": authority.write_trust(tmp_path), "register_sync_seconds": 0}
    for node in make_node(tmp_path, **settings):
        assert node.services.network is not None
        assert node.services.network.importer is not None
        node.services.network.importer.sync()
        answer = node.http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "scope": "mais/enquiry",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client_assertion("cms-url", node.services.auth.token_url, SYSTEM_KEY),
            },
        )
        assert answer.status_code == 200, answer.text
