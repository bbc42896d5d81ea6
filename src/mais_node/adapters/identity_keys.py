"""The node's outgoing identity (issue 14 item 6): the private keys it signs client assertions with when it asks
other nodes, read from ``MAIS_IDENTITY_KEYS`` (a directory of ``private-*.jwk.json`` files, as ``mais keys generate``
writes them), and their public halves, which ``/.well-known/jwks.json`` publishes.

Rotation without a gap: every key in the directory is published at once, but a key signs only once it has been
published for ``lead`` (longer than partners cache a JWKS), so no partner sees a signature before the key.
The newest such key signs; remove an old file once no partner can hold an assertion it signed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from joserfc.jwk import ECKey, RSAKey

from mais_node.adapters.jose_keys import public_jwks

DEFAULT_LEAD_SECONDS = 600.0


class IdentityKeys:
    def __init__(self, directory: Path | None, *, lead_seconds: float = DEFAULT_LEAD_SECONDS) -> None:
        self.directory = directory
        self.lead_seconds = lead_seconds

    def _keys(self) -> list[tuple[float, dict[str, Any]]]:
        if self.directory is None or not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("private-*.jwk.json")):
            try:
                jwk = orjson.loads(path.read_bytes())
                (ECKey if jwk.get("kty") == "EC" else RSAKey).import_key(jwk)
            except (OSError, ValueError, TypeError, KeyError):
                continue  # an unreadable file is not published and never signs
            found.append((path.stat().st_mtime, jwk))
        return found

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwks(jwk)["keys"][0] for _, jwk in self._keys()]}

    def signing_key(self) -> dict[str, Any] | None:
        """The newest key published for at least the lead time (or the only key there is), or None."""
        keys = self._keys()
        ready = [(mtime, jwk) for mtime, jwk in keys if time.time() - mtime >= self.lead_seconds]
        if not ready and len(keys) == 1:
            return keys[0][1]  # a node's first key: nothing to roll over from
        return max(ready, key=lambda pair: pair[0])[1] if ready else None
