"""The node's signing keys for access tokens: one active key, earlier keys still published (rotation without downtime).

Keys live in the store (private JWKs; see docs/decisions.md), so every worker and replica signs and verifies with the
same ring. ``rotate`` makes a new key active and keeps the old one published as ``previous`` until no token it signed
can still be valid; then ``retire`` stops publishing it. Each worker re-reads the ring every few seconds.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey

from mais_node.auth.ports import NodeKey, NodeKeyStore
from mais_node.clock import Clock

ALGORITHM = "ES384"
REFRESH_SECONDS = 5.0


def new_node_key(now: datetime) -> NodeKey:
    key = ECKey.generate_key("P-384", private=True)
    kid = key.thumbprint()
    return NodeKey(kid, ALGORITHM, key.as_dict(private=True) | {"kid": kid, "alg": ALGORITHM}, now.isoformat())


class NodeKeyRing:
    def __init__(
        self,
        store: NodeKeyStore,
        clock: Clock,
        *,
        retire_after: timedelta = timedelta(minutes=10),
        read_only: bool = False,
    ) -> None:
        """``read_only``: verify with the keys held, never make the first one (a command that only reads)."""
        self.store = store
        self.read_only = read_only
        self.clock = clock
        self.retire_after = retire_after
        self._lock = threading.Lock()
        self._keys: dict[str, ECKey] = {}
        self._active: tuple[str, ECKey] | None = None
        self._published: list[dict[str, Any]] = []
        self._loaded_at = float("-inf")

    def _load(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < REFRESH_SECONDS:
            return
        records = self.store.node_keys()
        if not self.read_only and not any(r.status == "active" for r in records):
            self.store.add_node_key(new_node_key(self.clock.now()))
            records = self.store.node_keys()
        keys = {r.kid: ECKey.import_key(r.jwk) for r in records if r.status != "retired"}
        active = [r for r in records if r.status == "active"]
        # Two workers that raced both publish; the newest signs.
        newest = max(active, key=lambda r: (r.created, r.kid)) if active else None
        with self._lock:
            self._keys = keys
            self._active = (newest.kid, keys[newest.kid]) if newest else None
            self._published = [
                keys[kid].as_dict(private=False) | {"kid": kid, "alg": ALGORITHM, "use": "sig"} for kid in keys
            ]
            self._loaded_at = time.monotonic()

    def signing_key(self) -> tuple[str, ECKey]:
        self._load()
        assert self._active is not None
        return self._active

    def verification_key(self, kid: str) -> ECKey | None:
        self._load()
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            self._load(force=True)  # another worker may have rotated a moment ago
            key = self._keys.get(kid)
        return key

    def public_jwks(self) -> dict[str, Any]:
        self._load()
        return {"keys": list(self._published)}

    def rotate(self) -> str:
        """Make a new key active; the old one stays published (``previous``) until retired."""
        now = self.clock.now()
        self._load(force=True)
        old = [r for r in self.store.node_keys() if r.status == "active"]
        fresh = new_node_key(now)
        self.store.add_node_key(fresh)
        for record in old:
            self.store.set_node_key_status(record.kid, "previous", now.isoformat())
        self.retire()
        self._load(force=True)
        return fresh.kid

    def retire(self) -> list[str]:
        """Stop publishing previous keys older than ``retire_after`` (longer than any token lives)."""
        now = self.clock.now()
        retired = []
        for record in self.store.node_keys():
            since = datetime.fromisoformat(record.status_since) if record.status_since else None
            if record.status == "previous" and since is not None and now - since >= self.retire_after:
                self.store.set_node_key_status(record.kid, "retired", now.isoformat())
                retired.append(record.kid)
        if retired:
            self._load(force=True)
        return retired
