"""The register's storage port for systems (clients); organisations live in the FHIR resource store."""

from __future__ import annotations

from typing import Protocol

from mais_node.register.model import Client


class ClientStore(Protocol):
    def put_client(self, client: Client, *, expected_version: int) -> None:
        """Write ``client``; ``expected_version`` 0 = must be new, n = stored must be at n (else VersionConflict)."""
        ...

    def get_client(self, client_id: str) -> Client | None:
        """The client, or None if never registered."""
        ...

    def list_clients(self, org_ods: str | None = None) -> list[Client]:
        """Every client (of one organisation), oldest first."""
        ...
