"""Which URLs the register accepts for endpoints and JWKS: https, or plain http to this machine (tests, demos)."""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def is_url(text: object) -> bool:
    """An absolute http(s) URL with a host."""
    if not isinstance(text, str) or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def is_https_or_loopback(text: object) -> bool:
    """https, or http to the loopback interface (the host compared whole, so ``127.0.0.1.evil`` is not loopback)."""
    if not is_url(text):
        return False
    parts = urlsplit(str(text))
    return parts.scheme == "https" or (parts.hostname or "") in LOOPBACK
