"""deploy/nginx: the reverse proxy agrees with the node it fronts (issue 13 items 3 and 4).

The proxy's body size is the node's, its timeouts are no longer than the node's, it closes reused connections
before the node would, it sets X-Forwarded-For itself, and the compose file makes its address, and only that, the
node's MAIS_TRUSTED_PROXIES. No Docker engine here (see test_deploy.py); where an nginx binary is found, the file
is also checked by ``nginx -t`` with a certificate made at test time.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mais_node.config import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
NGINX = DEPLOY / "nginx" / "nginx.conf"
COMPOSE = DEPLOY / "mongodb" / "compose.yaml"
UNITS = {"": 1, "k": 1024, "m": 1024**2}


def directives(text: str) -> list[tuple[str, str]]:
    """Every ``name args;`` of an nginx file, in order, comments removed (blocks are not told apart)."""
    text = re.sub(r"#[^\n]*", "", text)
    return [(m.group(1), m.group(2).strip()) for m in re.finditer(r"([a-z_0-9]+)\s+([^;{}]*);", text)]


@pytest.fixture(scope="module")
def conf() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, args in directives(NGINX.read_text()):
        found.setdefault(name, []).append(args)
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert match, value
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match.group(2)]


def size(value: str) -> int:
    match = re.fullmatch(r"(\d+)([km]?)", value.lower())
    assert match, value
    return int(match.group(1)) * UNITS[match.group(2)]


def test_the_proxy_takes_the_same_body_size_as_the_node_and_buffers_it(conf: dict[str, list[str]]) -> None:
    settings = Settings()
    assert [size(v) for v in conf["client_max_body_size"]] == [settings.max_body_bytes]
    assert size(conf["client_body_buffer_size"][0]) >= settings.max_body_bytes  # held in memory, not on disk
    assert conf["proxy_request_buffering"] == ["on"]  # a slow body never reaches the node


def test_the_proxy_gives_slow_callers_no_longer_than_the_node_does(conf: dict[str, list[str]]) -> None:
    settings = Settings()
    assert seconds(conf["client_header_timeout"][0]) <= settings.header_timeout_seconds
    assert seconds(conf["client_body_timeout"][0]) <= settings.body_timeout_seconds
    # keepalive_timeout appears twice: to callers (http block), then to the node (upstream block).
    to_callers, to_node = (seconds(v) for v in conf["keepalive_timeout"])
    assert to_callers <= settings.keep_alive_seconds
    assert to_node < settings.keep_alive_seconds  # else a request may go down a connection the node is closing


def test_the_proxy_limits_each_address_below_what_the_node_allows_one(conf: dict[str, list[str]]) -> None:
    zone = conf["limit_conn_zone"][0].split()
    assert zone[0] == "$binary_remote_addr"
    (limit,) = [v.split() for v in conf["limit_conn"]]
    assert limit[0] == zone[1].split("=")[1].split(":")[0]
    assert int(limit[1]) <= Settings().max_connections_per_address
    assert conf["limit_conn_status"] == ["503"]
    assert conf["limit_req_status"] == ["503"]


def test_the_proxy_sets_x_forwarded_for_itself(conf: dict[str, list[str]]) -> None:
    headers = dict(v.split(None, 1) for v in conf["proxy_set_header"])
    assert headers["X-Forwarded-For"] == "$remote_addr"  # not appended to the caller's own claim


def test_tls_only_the_current_protocols_and_plain_http_redirected(conf: dict[str, list[str]]) -> None:
    assert "443 ssl http2" in conf["listen"]
    assert conf["ssl_protocols"] == ["TLSv1.2 TLSv1.3"]
    assert conf["return"] == ["308 https://$host$request_uri"]
    for path in conf["ssl_certificate"] + conf["ssl_certificate_key"]:
        assert path.startswith("/etc/nginx/tls/")


def test_the_node_believes_forwarded_addresses_from_the_proxy_and_no_one_else(
    conf: dict[str, list[str]], compose: dict[str, Any]
) -> None:
    node, proxy = compose["node"], compose["proxy"]
    trusted = Settings(trusted_proxies=node["environment"]["MAIS_TRUSTED_PROXIES"]).trusted_proxy_networks
    proxy_address = ipaddress.ip_address(proxy["networks"]["edge"]["ipv4_address"])
    assert [str(n) for n in trusted] == [f"{proxy_address}/32"]
    assert "edge" in node["networks"]
    assert "ports" not in node  # partners reach the node only through the proxy
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    assert conf["server"] == ["node:8080"]  # the upstream: the compose service, on the port the image sets
    assert "MAIS_PORT=8080" in (DEPLOY / "Dockerfile").read_text()
    mounts = {m.split(":")[1]: m.split(":")[0] for m in proxy["volumes"]}
    assert (COMPOSE.parent / mounts["/etc/nginx/nginx.conf"]).resolve() == NGINX
    assert "/etc/nginx/tls" in mounts
    assert "tls/" in (COMPOSE.parent / ".gitignore").read_text().split()


def certificate(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mais.example.org")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not found: the file's syntax is not checked")
def test_nginx_accepts_the_file(tmp_path: Path) -> None:
    certificate(tmp_path)
    text = NGINX.read_text().replace("/etc/nginx/tls/", f"{tmp_path}/")
    text = text.replace("server node:8080;", "server 127.0.0.1:8080;")  # `node` resolves only inside compose
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # the distribution's own temp paths may be absent
    temp = " ".join(f"{kind}_temp_path {tmp_path}/{kind};" for kind in kinds)
    (tmp_path / "nginx.conf").write_text(text.replace("http {", "http {" + temp, 1))
    command = ["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run(
        [*command, "-g", "pid nginx.pid;"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
