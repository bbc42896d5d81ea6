"""The node's one settings object: the only module that reads the environment (``MAIS_*``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The national defaults (rules, vocabularies, profiles) ship inside the package, so an installed node starts.
DEFAULTS = Path(__file__).resolve().parent / "defaults"


class Settings(BaseSettings):
    """Settings from ``MAIS_*`` environment variables; CLI flags override them."""

    model_config = SettingsConfigDict(env_prefix="MAIS_", extra="ignore")

    store: str = Field("sqlite:///./var/mais.db", description="sqlite:///PATH or mongodb://…")
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = Field("", description="Public base URL of the node; derived from host and port when empty")
    node_org: str = Field("NODE01", description="ODS code of the organisation that runs this node")
    node_org_name: str = "Demo Safeguarding Partner Node"
    max_body_bytes: int = 1024 * 1024
    default_page_size: int = 20
    max_page_size: int = 200
    terminology_dir: Path = DEFAULTS / "terminology"
    profiles_dir: Path = DEFAULTS / "profiles"
    rules_dir: Path = DEFAULTS / "rules"
    log_level: str = "INFO"
    rate_limit_requests: int = Field(600, description="Requests one client may make per window (429 beyond)")
    rate_limit_window_seconds: int = 60
    refused_limit: int = Field(
        60, description="Refused token requests and bearer tokens one address may make per window (429 beyond)"
    )
    refused_window_seconds: int = 60
    checkpoint_every: int = Field(1000, description="Sign a checkpoint of the audit chain every N records")
    # The national register (issue 14): where this node imports it from, whose signature it trusts, how often.
    register_url: str = Field("", description="URL (https, or http to loopback) or file path of the national register")
    register_trust: Path | None = Field(None, description="JWKS file of the register authority's public keys")
    register_sync_seconds: float = Field(60.0, description="Seconds between background imports (0: none)")
    identity_keys: Path | None = Field(None, description="Directory of this node's private keys for asking others")
    register_timeout_seconds: float = Field(10.0, description="A register URL that has not answered by then is skipped")
    register_max_bytes: int = Field(32 * 1024 * 1024, description="Larger register documents are refused unread")
    # The single view (issue 15): how long a practitioner waits, how long referred rows are followed.
    single_view_seconds: float = Field(20.0, description="The live deadline of a single view")
    single_view_collection_seconds: float = Field(900.0, description="Referred rows are followed this long")
    single_view_follow_seconds: float = Field(
        1.0, gt=0, description="How often a worker claims referred rows due a poll (any worker of the node)"
    )
    identity_client_id: str = Field("", description="This node's client id in the register (found there when empty)")
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed"
    )
    header_timeout_seconds: float = Field(10.0, gt=0, description="Time to receive a request's headers (408 past)")
    body_timeout_seconds: float = Field(30.0, gt=0, description="Time to receive a request's body (408 past)")
    keep_alive_seconds: int = Field(5, gt=0, description="An idle keep-alive connection is closed after this")
    max_connections: int = Field(1000, gt=0, description="Connections one worker holds (503 beyond)")
    max_connections_per_address: int = Field(64, gt=0, description="Connections one address holds (503 beyond)")
    # The console's sign-in with the organisation's identity provider (issue 16 §2; console/oidc.py checks them).
    console_oidc_issuer: str = Field("", description="Issuer URL of the OpenID provider (none: local accounts only)")
    console_oidc_client_id: str = Field("", description="The console's client id at the OpenID provider")
    console_oidc_client_secret: str = Field("", description="Its client secret (empty: a public client, PKCE only)")
    console_oidc_role_claim: str = Field("roles", description="The ID token claim holding the person's roles")
    console_oidc_role_map: str = Field("", description="IdP role=console role, comma-separated (ig=ig-officer,...)")
    console_oidc_redirect_url: str = Field("", description="The callback URL registered at the provider")
    console_oidc_name: str = Field("", description="The provider's name on the sign-in button (the issuer's host)")
    console_sign_in_failures_per_minute: int = Field(
        10, gt=0, description="Failed password sign-ins one address may make per minute (429 beyond)"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ipaddress.ip_network(item.strip(), strict=False)  # a ValueError names the bad entry
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The reverse proxies in front of the node; none by default, so X-Forwarded-For is never believed."""
        items = (item.strip() for item in self.trusted_proxies.split(","))
        return tuple(ipaddress.ip_network(item, strict=False) for item in items if item)

    @property
    def public_base(self) -> str:
        """The URL partners use to reach this node, without the trailing slash."""
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def fhir_base(self) -> str:
        return f"{self.public_base}/fhir"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
