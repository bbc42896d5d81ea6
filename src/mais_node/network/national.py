"""The national register as this node applies it: the last good serial, with this node's own suspensions over it.

The register services (``register/organisations.py``, ``register/clients.py``) ask it for whatever is not
registered locally. Each worker keeps the parsed serial in memory and re-reads the stored serial and suspensions
at most once a second, so an import or a suspension made by any worker is in force everywhere within a second.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from mais_node.network.model import NationalEndpoint, RegisterContent, from_entries
from mais_node.network.ports import AppliedRegister, NetworkStore
from mais_node.register.model import Client, Organisation

REFRESH_SECONDS = 1.0


class NationalRegister:
    def __init__(self, store: NetworkStore, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._content: RegisterContent | None = None
        self._suspended: dict[str, str] = {}
        self._checked = float("-inf")

    # -- what the register services read -----------------------------------------------------------------
    def content(self) -> RegisterContent | None:
        """The serial in force (None before the first import), as the authority published it."""
        self._refresh()
        return self._content

    def organisation(self, ods: str) -> Organisation | None:
        content = self.content()
        org = content.organisations.get(ods.upper()) if content else None
        return None if org is None or content is None else self._local(org, content.serial)

    def organisations(self) -> list[Organisation]:
        content = self.content()
        if content is None:
            return []
        return [self._local(o, content.serial) for o in content.organisations.values()]

    def client(self, client_id: str) -> Client | None:
        content = self.content()
        client = content.systems.get(client_id) if content else None
        return None if client is None or content is None else self._system(client, content.serial)

    def clients(self, org_ods: str | None = None) -> list[Client]:
        content = self.content()
        if content is None:
            return []
        found = [c for c in content.systems.values() if org_ods is None or c.org_ods == org_ods]
        return [self._system(c, content.serial) for c in found]

    def endpoints(self, ods: str) -> list[NationalEndpoint]:
        """Where a nationally listed organisation's node answers (what the single view asks)."""
        content = self.content()
        return content.endpoints_of(ods.upper()) if content else []

    # -- this node's own decisions -----------------------------------------------------------------------
    def suspend_here(self, reference: str, *, since: str) -> bool:
        if not self._listed(reference):
            return False
        self.store.set_local_suspension(reference, since)
        self._checked = float("-inf")
        return True

    def lift_here(self, reference: str) -> bool:
        if not self._listed(reference):
            return False
        self.store.set_local_suspension(reference, None)
        self._checked = float("-inf")
        return True

    def invalidate(self) -> None:
        """Re-read the store at the next lookup."""
        self._checked = float("-inf")

    def applied(self, content: RegisterContent) -> None:
        """This worker has just applied ``content``: keep it rather than read back what it wrote."""
        with self._lock:
            self._content = content
        self.invalidate()  # the suspensions are read again at the next lookup; the content is kept by serial

    # -- internals ---------------------------------------------------------------------------------------
    def _listed(self, reference: str) -> bool:
        content = self.content()
        kind, _, key = reference.partition("/")
        if content is None:
            return False
        return (kind == "Organization" and key in content.organisations) or (
            kind == "Device" and key in content.systems
        )

    def _local(self, org: Organisation, serial: int) -> Organisation:
        if f"Organization/{org.ods}" not in self._suspended:
            return replace(org, national_serial=serial)
        # Suspended here: every reader (token, bearer check, the rules' view of the requester) sees it suspended.
        return replace(org, national_serial=serial, suspended_here=True, operational_status="suspended")

    def _system(self, client: Client, serial: int) -> Client:
        return replace(client, national_serial=serial, suspended_here=f"Device/{client.client_id}" in self._suspended)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.refresh_seconds:
            return
        serial = self.store.national_serial()
        suspended = self.store.local_suspensions()
        content = self._content
        if serial is not None and (content is None or content.serial != serial):
            applied = self.store.national()
            content = None if applied is None else load(applied)
        with self._lock:
            self._content = content
            self._suspended = suspended
            self._checked = now


def load(applied: AppliedRegister) -> RegisterContent:
    return from_entries(applied.header, applied.entries)
