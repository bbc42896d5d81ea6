"""Which URLs the register accepts for endpoints and JWKS: https, or plain http to this machine (tests, demos)."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_SPACE = re.compile(r"\s")


def _split(text: object) -> SplitResult | None:
    """The parts of an absolute http(s) URL with a host, or None."""
    if not isinstance(text, str) or _SPACE.search(text):
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    return parts if parts.scheme in ("https", "http") and host else None


def is_url(text: object) -> bool:
    """An absolute http(s) URL with a host."""
    return _split(text) is not None


def is_https_or_loopback(text: object) -> bool:
    """https, or http to the loopback interface (the host compared whole, so ``127.0.0.1.evil`` is not loopback)."""
    parts = _split(text)
    return parts is not None and (parts.scheme == "https" or (parts.hostname or "") in LOOPBACK)
