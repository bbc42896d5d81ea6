"""The register's storage port for systems (clients); organisations live in the FHIR resource store."""

from __future__ import annotations

from typing import Protocol

from mais_node.register.model import Client, Organisation


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


class NationalDirectory(Protocol):
    """The national register as this node applies it, this node's own suspensions included (network/national.py)."""

    def organisation(self, ods: str) -> Organisation | None: ...

    def organisations(self) -> list[Organisation]: ...

    def client(self, client_id: str) -> Client | None: ...

    def clients(self, org_ods: str | None = None) -> list[Client]: ...

    def suspend_here(self, reference: str, *, since: str) -> bool:
        """Suspend a national entry at this node (``Organization/ODS``, ``Device/id``); False when it is not listed."""
        ...

    def lift_here(self, reference: str) -> bool:
        """Lift this node's suspension of a national entry; False when it is not listed."""
        ...
