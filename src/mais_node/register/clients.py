"""Systems of registered organisations: the OAuth clients of SMART Backend Services (DESIGN §2, §3).

A client is registered to one organisation with its public keys (a JWKS inline, or a JWKS URL the node fetches) and
the scopes it may ask for; it is revoked, never deleted. Every change writes an AuditEvent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node
from mais_node.audit.port import AuditSink
from mais_node.auth.scopes import check_registrable
from mais_node.clock import Clock
from mais_node.errors import InvalidRequest, NotFound
from mais_node.register.jwks import check_public_jwks
from mais_node.register.model import Client
from mais_node.register.organisations import Organisations
from mais_node.register.own import check_revoke
from mais_node.register.ports import ClientStore, NationalDirectory
from mais_node.register.urls import is_https_or_loopback


class Clients:
    def __init__(
        self,
        store: ClientStore,
        organisations: Organisations,
        clock: Clock,
        audit: AuditSink,
        node: Node,
        national: NationalDirectory | None = None,
    ):
        self.store = store
        self.national = national
        self.organisations = organisations
        self.clock = clock
        self.audit = audit
        self.node = node

    def get(self, client_id: str) -> Client | None:
        """A system registered here, else one the national register lists (with this node's suspension over it)."""
        found = self.store.get_client(client_id)
        if found is None and self.national is not None:
            return self.national.client(client_id)
        return found

    def list(self, org_ods: str | None = None) -> list[Client]:
        local = self.store.list_clients(org_ods.upper() if org_ods else None)
        if self.national is None:
            return local
        ids = {c.client_id for c in local}
        return local + [
            c for c in self.national.clients(org_ods.upper() if org_ods else None) if c.client_id not in ids
        ]

    def add(
        self,
        org_ods: str,
        scopes: Iterable[str],
        *,
        actor: Actor,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        name: str | None = None,
    ) -> Client:
        """Register a system of ``org_ods``; exactly one of ``jwks`` and ``jwks_uri`` gives its keys."""
        if (jwks is None) == (jwks_uri is None):
            raise InvalidRequest(
                "Give the client's keys as a JWKS or as a JWKS URL (one of them)", expression=("jwks",)
            )
        # The host is compared whole: "http://127.0.0.1.evil.example" and "http://localhost@evil.example" are not local.
        if jwks_uri is not None and not is_https_or_loopback(jwks_uri):
            raise InvalidRequest("A JWKS URL must use https", expression=("jwks_uri",))
        org = self.organisations.require(org_ods)
        client = Client(
            client_id=str(uuid.uuid4()),
            org_ods=org.ods,
            scopes=check_registrable(scopes),
            created=self.clock.now().isoformat(),
            jwks=check_public_jwks(jwks) if jwks is not None else None,
            jwks_uri=jwks_uri,
            name=name,
        )
        self.store.put_client(client, expected_version=0)
        self._audit(actor, client, "create", None)
        return client

    def revoke(self, client_id: str, *, actor: Actor, console: bool = False) -> Client:
        """Revoke a system; one of the node's own only by an operator at its console (``console``; register/own.py)."""
        return self._set_status(client_id, "revoked", actor, console=console)

    def reinstate(self, client_id: str, *, actor: Actor) -> Client:
        return self._set_status(client_id, "active", actor, console=True)

    def _set_status(self, client_id: str, status: str, actor: Actor, *, console: bool) -> Client:
        current = self.store.get_client(client_id)
        listed = self.national.client(client_id) if current is None and self.national is not None else None
        found = current or listed
        if found is None:
            raise NotFound(f"Client {client_id[:64]} is not registered", expression=("client_id",))
        if status == "revoked" and not console:
            check_revoke(self.node.ods, found)  # a nationally listed system of the node's own too
        if current is None:
            return self._set_here(found, status, actor)
        changed = replace(
            current,
            status="revoked" if status == "revoked" else "active",
            version=current.version + 1,
            changed=self.clock.now().isoformat(),
        )
        self.store.put_client(changed, expected_version=current.version)
        self._audit(actor, changed, "update", current.version)
        return changed

    def _set_here(self, listed: Client, status: str, actor: Actor) -> Client:
        """A nationally listed system: revoking it here is a local suspension, which reinstating lifts."""
        assert self.national is not None
        reference = f"Device/{listed.client_id}"
        if status == "revoked":
            self.national.suspend_here(reference, since=self.clock.now().isoformat())
        else:
            self.national.lift_here(reference)
        changed = self.national.client(listed.client_id) or listed
        event = balp.changed(
            self.node,
            self.clock.now(),
            actor,
            kind="client",
            interaction="update",
            target=reference,
            before="suspended here" if listed.suspended_here else listed.source,
            after="suspended here" if changed.suspended_here else changed.source,
        )
        self.audit.append(event)
        return changed

    def _audit(self, actor: Actor, client: Client, interaction: str, before: int | None) -> None:
        event = balp.changed(
            self.node,
            self.clock.now(),
            actor,
            kind="client",
            interaction="create" if interaction == "create" else "update",
            target=f"Client/{client.client_id}",
            before=None if before is None else str(before),
            after=str(client.version),
        )
        self.audit.append(event)
