"""The organisations register (MAIS API catalogue on FHIR Organization; DESIGN §2, §3).

Entries are Organization resources kept through the resource service, so they are versioned and searchable like
any other resource. Every change writes an AuditEvent (BALP ``rest``, with the versions before and after).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node
from mais_node.audit.port import AuditSink
from mais_node.clock import Clock
from mais_node.errors import InvalidRequest, NotFound, VersionConflict
from mais_node.fhir.search.parse import encode_cursor
from mais_node.fhir.search.query import Criterion, Query, TokenValue
from mais_node.fhir.service import ResourceService
from mais_node.register.areas import lad_codes
from mais_node.register.fhir_organisation import endpoint_resource, from_resource, to_resource
from mais_node.register.model import ACTIVE, ODS_SYSTEM, VERIFIED, Organisation
from mais_node.register.own import check_change
from mais_node.register.ports import NationalDirectory
from mais_node.register.urls import is_https_or_loopback

_ODS = re.compile(r"^[A-Z0-9]{3,12}$")
_STATUSES = {
    "operational_status": {"active", "suspended", "inactive"},
    "technical_status": {"active", "onboarding", "inactive"},
    "verification_status": {"verified", "unverified", "rejected"},
}


def ods_code(text: str) -> str:
    """An ODS code, upper-cased; InvalidRequest when it cannot be one."""
    code = text.strip().upper()
    if not _ODS.match(code):
        raise InvalidRequest(f"'{text[:20]}' is not an ODS code (3-12 letters and digits)", expression=("ods",))
    return code


class Organisations:
    """Reads and changes register entries; ``types`` (the organisation-type codes) guards new entries."""

    def __init__(
        self,
        resources: ResourceService,
        clock: Clock,
        audit: AuditSink,
        node: Node,
        *,
        types: Collection[str] = (),
        national: NationalDirectory | None = None,
    ) -> None:
        self.resources = resources
        self.clock = clock
        self.audit = audit
        self.node = node
        self.types = frozenset(types)
        self.national = national

    def get(self, ods: str) -> Organisation | None:
        """The entry registered here, else the national register's (with this node's own suspension over it)."""
        found = self.registered(ods)
        return found if found is not None else self.from_national(ods)

    def registered(self, ods: str) -> Organisation | None:
        """``Organization?identifier={ODS_SYSTEM}|{ods}``, asked of the store directly: the entry registered here."""
        criterion = Criterion("identifier", (TokenValue(ODS_SYSTEM, ods.upper()),))
        items = self.resources.store.search(Query("Organization", (criterion,), count=2, selective=0)).items
        return from_resource(items[0].body, items[0].version) if items else None

    def from_national(self, ods: str) -> Organisation | None:
        return self.national.organisation(ods) if self.national else None

    def require(self, ods: str) -> Organisation:
        found = self.get(ods)
        if found is None:
            raise NotFound(f"Organisation {ods[:20]} is not in the register", expression=("ods",))
        return found

    def list(self) -> list[Organisation]:
        found: list[Organisation] = []
        pairs = [("_sort", "_id"), ("_count", str(self.resources.max_count))]
        while True:
            result = self.resources.search("Organization", pairs)
            found += [o for s in result.page.items if (o := from_resource(s.body, s.version)) is not None]
            if result.page.next_after is None:
                local = {o.ods for o in found}
                national = self.national.organisations() if self.national else []
                return sorted(found + [o for o in national if o.ods not in local], key=lambda o: o.ods)
            cursor = encode_cursor(result.page.next_after)
            pairs = [p for p in pairs if p[0] != "_cursor"] + [("_cursor", cursor)]

    def add(
        self,
        ods: str,
        name: str,
        type_: str,
        *,
        actor: Actor,
        verified: bool = False,
        system_provider: str | None = None,
        system_version: str | None = None,
        areas: Collection[str] = (),
    ) -> Organisation:
        code = ods_code(ods)
        served = lad_codes(areas)
        if not name.strip():
            raise InvalidRequest("An organisation needs a name", expression=("name",))
        if self.types and type_ not in self.types:
            raise InvalidRequest(f"'{type_[:40]}' is not an organisation-type code", expression=("type",))
        today = self.clock.now().date().isoformat()
        org = Organisation(
            code,
            name.strip(),
            type_,
            verification_status=VERIFIED if verified else "unverified",
            verification_date=today if verified else None,
            system_provider=system_provider,
            system_version=system_version,
            areas=served,
        )
        written = self.resources.create(
            "Organization", to_resource(org), if_none_exist=f"identifier={ODS_SYSTEM}|{code}"
        )
        if not written.created:
            raise VersionConflict(f"Organisation {code} is already in the register", expression=("ods",))
        stored = written.stored
        self._audit(actor, "create", stored.id, None, stored.version)
        return replace(org, id=stored.id, version=stored.version)

    def change(self, ods: str, *, actor: Actor, console: bool = False, **fields: str | None) -> Organisation:
        """Set register statuses (``operational_status``, ``technical_status``, ``verification_status``); the node's
        own entry is stopped from connecting only by an operator at its console (``console``; register/own.py)."""
        for name, value in fields.items():
            if name not in _STATUSES or value not in _STATUSES[name]:
                raise InvalidRequest(f"{name} cannot be '{value}'", expression=(name,))
        current = self.require(ods)
        changed = replace(current, **fields)  # type: ignore[arg-type]
        if fields.get("verification_status") == VERIFIED and current.verification_status != VERIFIED:
            changed = replace(changed, verification_date=self.clock.now().date().isoformat())
        if current.national_serial is not None and fields.get("operational_status") == ACTIVE:
            changed = replace(changed, suspended_here=False)  # activating a national entry lifts this node's suspension
        if not console:  # a nationally listed own entry too: suspended here, it would lock the node out as well
            check_change(self.node.ods, current, changed)
        if current.national_serial is not None:
            return self._change_national(current, actor, fields)
        return self._save(current, changed, actor)

    def _change_national(self, current: Organisation, actor: Actor, fields: dict[str, str | None]) -> Organisation:
        """A nationally listed organisation: this node may only suspend it here and lift that (issue 14 item 4)."""
        assert self.national is not None
        reference = f"Organization/{current.ods}"
        if fields == {"operational_status": "suspended"}:
            self.national.suspend_here(reference, since=self.clock.now().isoformat())
        elif fields.get("operational_status") == ACTIVE and set(fields) <= {"operational_status", "technical_status"}:
            self.national.lift_here(reference)
        else:
            raise self._national_only(current)
        changed = self.national.organisation(current.ods) or current
        self._audit_here(actor, reference, current, changed.suspended_here)
        return changed

    @staticmethod
    def _national_only(current: Organisation) -> InvalidRequest:
        return InvalidRequest(
            f"Organisation {current.ods} comes from the national register ({current.source}): "
            "this node can only suspend it here or lift that suspension",
            expression=("ods",),
        )

    def _audit_here(self, actor: Actor, reference: str, current: Organisation, suspended: bool) -> None:
        event = balp.changed(
            self.node,
            self.clock.now(),
            actor,
            kind="register",
            interaction="update",
            target=reference,
            before="suspended here" if current.suspended_here else current.source,
            after="suspended here" if suspended else current.source,
        )
        self.audit.append(event)

    def set_areas(self, ods: str, areas: Collection[str], *, actor: Actor) -> Organisation:
        """Record the local authority areas (ONS LAD codes) a locally registered organisation serves, replacing any."""
        served = lad_codes(areas)
        current = self.require(ods)
        if current.national_serial is not None:
            raise self._national_only(current)
        return self._save(current, replace(current, areas=served), actor)

    def suspend(self, ods: str, *, actor: Actor, console: bool = False) -> Organisation:
        return self.change(ods, actor=actor, console=console, operational_status="suspended")

    def activate(self, ods: str, *, actor: Actor) -> Organisation:
        return self.change(ods, actor=actor, operational_status=ACTIVE, technical_status=ACTIVE)

    def verify(self, ods: str, *, actor: Actor) -> Organisation:
        return self.change(ods, actor=actor, verification_status=VERIFIED)

    def add_endpoint(self, ods: str, address: str, *, actor: Actor) -> Organisation:
        """Record where the organisation's node answers (a FHIR Endpoint referenced from the Organization)."""
        # The national register refuses any other address, so the authority's own node refuses it first.
        if not is_https_or_loopback(address):
            raise InvalidRequest("An endpoint address must be an https URL with a host", expression=("address",))
        current = self.require(ods)
        if current.id is None:
            raise self._national_only(current)
        endpoint = self.resources.create("Endpoint", endpoint_resource(current.id, current.ods, address)).stored
        self._audit(actor, "create", endpoint.id, None, endpoint.version, resource_type="Endpoint")
        return self._save(current, replace(current, endpoints=(*current.endpoints, endpoint.id)), actor)

    def _save(self, current: Organisation, changed: Organisation, actor: Actor) -> Organisation:
        assert current.id is not None
        base = self.resources.read("Organization", current.id).body
        written = self.resources.update(
            "Organization", current.id, to_resource(changed, base), if_match=current.version
        ).stored
        self._audit(actor, "update", written.id, current.version, written.version)
        return replace(changed, version=written.version)

    def _audit(
        self,
        actor: Actor,
        interaction: str,
        id_: str,
        before: int | None,
        after: int,
        *,
        resource_type: str = "Organization",
    ) -> None:
        event = balp.changed(
            self.node,
            self.clock.now(),
            actor,
            kind="register",
            interaction="create" if interaction == "create" else "update",
            target=f"{resource_type}/{id_}",
            before=None if before is None else str(before),
            after=str(after),
        )
        self.audit.append(event)
