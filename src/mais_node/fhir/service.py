"""The FHIR RESTful interactions (R4 §3.1.0): create, read, vread, update, delete, history, search.

Routes call this service; it validates, versions and indexes, and talks to the store only through its port.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from mais_node.clock import Clock
from mais_node.errors import Gone, InvalidRequest, MaisError, NotFound, PreconditionFailed, VersionConflict
from mais_node.fhir.models import check_structure, valid_id
from mais_node.fhir.search.dates import date_range, render
from mais_node.fhir.search.extract import index_entries, walk
from mais_node.fhir.search.params import params_for
from mais_node.fhir.search.parse import is_small_int, parse_search
from mais_node.fhir.search.query import Criterion, Include, IndexRow, Query, ReferenceValue, SearchRequest
from mais_node.matching.rows import PersonEntry, person_entry
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import PERSON_TYPE, Change, Page, ResourceStore, Stored

# A profile check run after structure validation: raises NotConformant listing every issue.
Conformance = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class SearchResult:
    request: SearchRequest
    page: Page
    included: list[Stored] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Written:
    stored: Stored
    created: bool


@dataclass(frozen=True, slots=True)
class Prepared:
    """A body checked and stamped for writing (``meta.lastUpdated`` set), before its indexes are derived."""

    kind: str
    id: str
    last_updated: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Derived:
    """What the store keeps beside a stamped body: its search index entries and, for a Patient, its person-index
    entry."""

    index: Sequence[IndexRow]
    person: PersonEntry | None


def derive(body: dict[str, Any]) -> Derived:
    """The one computation of a stamped body's indexes (a pure function of the body: an import runs it in worker
    processes)."""
    return Derived(index_entries(body), person_entry(body) if body.get("resourceType") == PERSON_TYPE else None)


class ResourceService:
    def __init__(
        self,
        store: ResourceStore,
        clock: Clock,
        *,
        default_count: int = 20,
        max_count: int = 200,
        conformance: Conformance | None = None,
        base: str = "",
    ) -> None:
        self.store = store
        self.clock = clock
        self.default_count = default_count
        self.max_count = max_count
        self.conformance = conformance
        # This server's FHIR base URL: a reference search by an absolute URL to it finds the relative form.
        self.base = base

    # -- reads ----------------------------------------------------------------------------------------------
    def read(self, resource_type: str, id: str) -> Stored:
        stored = self.store.read(resource_type, id) if valid_id(id) else None
        if stored is None:
            raise NotFound(f"{resource_type}/{id[:64]} is not known")
        if stored.deleted:
            raise Gone(f"{resource_type}/{id} has been deleted")
        return stored

    def exists(self, resource_type: str, id: str) -> bool:
        """Whether ``id`` names a current (not deleted) resource: an update to one that does not creates it."""
        stored = self.store.read(resource_type, id) if valid_id(id) else None
        return stored is not None and not stored.deleted

    def vread(self, resource_type: str, id: str, version: str) -> Stored:
        stored = self.store.read(resource_type, id, int(version)) if valid_id(id) and is_small_int(version) else None
        if stored is None:
            raise NotFound(f"{resource_type}/{id[:64]}/_history/{version[:16]} is not known")
        if stored.deleted:
            raise Gone(f"{resource_type}/{id}/_history/{version} is a deletion")
        return stored

    def history(
        self,
        resource_type: str | None,
        id: str | None,
        count: int | None,
        after: tuple[str, ...] | None,
        *,
        since: str | None = None,
    ) -> Page:
        """``since`` is a FHIR instant (``_since``): the versions written at or after it."""
        if id is not None and not (valid_id(id) and self.store.read(resource_type or "", id) is not None):
            raise NotFound(f"{resource_type}/{id[:64]} is not known")
        try:
            lower = None if since is None else date_range(since)[0]
        except InvalidRequest as exc:
            raise InvalidRequest(f"_since: {exc.diagnostics}", expression=("_since",)) from exc
        size = min(count or self.default_count, self.max_count)
        return self.store.history(resource_type, id, size, after, since=lower)

    def search(self, resource_type: str, pairs: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchResult:
        request = parse_search(
            resource_type,
            pairs,
            default_count=self.default_count,
            max_count=self.max_count,
            strict=strict,
            now=self.clock.now(),
            base=self.base,
        )
        page = self.store.search(request.query)
        total = page.total
        if total is None and request.query.after is None and page.next_after is None:
            total = len(page.items)
        result = SearchResult(request, Page(page.items, page.next_after, total))
        result.included = self._includes(request.includes, page.items)
        return result

    def _includes(self, includes: Sequence[Include], items: Sequence[Stored]) -> list[Stored]:
        found: dict[tuple[str, str], Stored] = {}
        for include in includes:
            if include.reverse:
                # A resource may name this server's resources by their absolute URL: both forms are looked for.
                forms = ("", f"{self.base}/") if self.base else ("",)
                refs = tuple(ReferenceValue(f"{form}{s.resource_type}/{s.id}") for s in items for form in forms)
                if refs:
                    query = Query(include.source, (Criterion(include.param, refs),), count=self.max_count)
                    for stored in self.store.search(query).items:
                        found.setdefault((stored.resource_type, stored.id), stored)
                continue
            param = params_for(include.source)[include.param]
            for item in items:
                if item.resource_type != include.source:
                    continue
                for path in param.paths:
                    for ref in walk(item.body, path):
                        target = ref.get("reference") if isinstance(ref, dict) else None
                        if isinstance(target, str) and self.base and target.startswith(f"{self.base}/"):
                            target = target[len(self.base) + 1 :]
                        if not isinstance(target, str) or target.count("/") != 1:
                            continue
                        rtype, _, rid = target.partition("/")
                        if include.target not in (None, rtype) or (rtype, rid) in found:
                            continue
                        target_resource = self.store.read(rtype, rid) if valid_id(rid) else None
                        if target_resource is not None and not target_resource.deleted:
                            found[(rtype, rid)] = target_resource
        return list(found.values())

    # -- writes ---------------------------------------------------------------------------------------------
    def create(
        self,
        resource_type: str,
        body: dict[str, Any],
        *,
        if_none_exist: str | None = None,
        structure_checked: bool = False,
    ) -> Written:
        """``structure_checked``: the caller built the body only from parts already checked, and its builder's tests
        prove the output passes the R4 structure check, so it is not run again (the enquiry's REVIEW Task)."""
        self._check(resource_type, body, None, structure=not structure_checked)
        if if_none_exist is not None:
            criteria = parse_qsl(if_none_exist, keep_blank_values=True)
            existing = self.conditional_target(resource_type, criteria, "create", where="If-None-Exist")
            if existing is not None:
                return Written(existing, created=False)
        body = {**body, "id": uuid.uuid4().hex}
        return Written(self._write("create", resource_type, body, expected=0), created=True)

    def update(self, resource_type: str, id: str, body: dict[str, Any], *, if_match: int | None = None) -> Written:
        if not valid_id(id):
            raise InvalidRequest(f"'{id[:64]}' is not a valid FHIR id", expression=("id",))
        self._check(resource_type, body, id)
        current = self.store.read(resource_type, id)
        if if_match is not None and (current is None or current.version != if_match):
            raise PreconditionFailed(f"{resource_type}/{id} is not at version {if_match}", expression=("If-Match",))
        expected = if_match if if_match is not None else (current.version if current else 0)
        stored = self._write("update", resource_type, body, expected=expected)
        return Written(stored, created=current is None)

    def patched(
        self, resource_type: str, id: str, apply: Callable[[dict[str, Any]], dict[str, Any]], if_match: int | None
    ) -> tuple[dict[str, Any], int]:
        """The current version with a patch applied, and the version it was applied to (R4 §3.1.0.6).

        The caller updates with that version as its precondition, so a patch never lands on a version it did not
        see; the result is then checked like any update."""
        current = self.read(resource_type, id)
        if if_match is not None and current.version != if_match:
            raise PreconditionFailed(f"{resource_type}/{id} is not at version {if_match}", expression=("If-Match",))
        return apply(current.body), current.version

    def conditional_target(
        self, resource_type: str, criteria: Sequence[tuple[str, str]], what: str, *, where: str = "criteria"
    ) -> Stored | None:
        """The one resource a conditional create, update, patch or delete names by its criteria (R4 §3.1.0.4.3,
        §3.1.0.7.1): none, or 412 when they match several. Unknown parameters are refused, never ignored, and so
        are criteria that select nothing (``_count=1``): either would match any resource."""
        try:
            request = parse_search(resource_type, criteria, max_count=self.max_count, strict=True, base=self.base)
        except InvalidRequest as exc:
            if where == "criteria":
                raise
            raise InvalidRequest(f"{where}: {exc.diagnostics}", expression=(where,)) from exc
        if not request.query.criteria:
            raise InvalidRequest(
                f"A conditional {what} needs search criteria ({where}), e.g. identifier=system|value",
                expression=(where,),
            )
        page = self.store.search(Query(resource_type, request.query.criteria, count=2))
        if len(page.items) > 1:
            raise PreconditionFailed(
                f"The criteria of the conditional {what} match more than one {resource_type}", expression=(where,)
            )
        return page.items[0] if page.items else None

    def conditional_id(
        self, resource_type: str, criteria: Sequence[tuple[str, str]], body: dict[str, Any]
    ) -> str | None:
        """The id a conditional update writes to, or None to create (R4 §3.1.0.4.3): the one match, or the body's
        own id when nothing matches and that id is free (update as create)."""
        target = self.conditional_target(resource_type, criteria, "update")
        body_id = body.get("id")
        if target is not None:
            if body_id is not None and body_id != target.id:
                raise InvalidRequest(
                    f"The body's id ({str(body_id)[:64]}) is not the id of the {resource_type} the criteria match",
                    expression=("id",),
                )
            return target.id
        if body_id is None:
            return None
        existing = self.store.read(resource_type, str(body_id)) if valid_id(str(body_id)) else None
        if existing is not None and not existing.deleted:
            raise InvalidRequest(
                f"The body's id names {resource_type}/{str(body_id)[:64]}, which the criteria do not match",
                expression=("id",),
            )
        return str(body_id)

    def delete(self, resource_type: str, id: str, *, if_match: int | None = None) -> None:
        current = self.store.read(resource_type, id) if valid_id(id) else None
        if if_match is not None and (current is None or current.deleted or current.version != if_match):
            raise PreconditionFailed(
                f"{resource_type}/{id[:64]} is not at version {if_match}", expression=("If-Match",)
            )
        if current is None or current.deleted:
            return  # FHIR R4 §3.1.0.7: deleting what is absent or deleted succeeds
        try:
            self.store.write(
                Change("delete", resource_type, id, render(self.clock.now()), expected_version=current.version)
            )
        except NotFound:
            return

    def write_many(
        self, bodies: Sequence[dict[str, Any]], *, structure_checked: bool = False, mark: tuple[str, str | None] | None
    ) -> list[Stored | MaisError]:
        """Write a batch of resources by their ids (a bulk import's), each checked as an update is, in one store
        batch that also sets the store mark ``mark`` (the import's checkpoint); a body refused by its check is
        answered by its error and the others are written. ``structure_checked``: the caller ran the R4 structure
        check on each body already (the import validates every row before it writes any)."""
        return self.write_prepared(self.prepare_many(bodies, structure_checked=structure_checked), mark=mark)

    def prepare_many(
        self, bodies: Sequence[dict[str, Any]], *, structure_checked: bool = False
    ) -> list[Prepared | MaisError]:
        """The first half of ``write_many``: each body checked and stamped, or the error that refuses it. What is
        derived from a stamped body (``derive``) may then be computed elsewhere, e.g. in another process."""
        prepared: list[Prepared | MaisError] = []
        for body in bodies:
            kind = str(body.get("resourceType"))
            try:
                rid = body.get("id")
                if not (isinstance(rid, str) and valid_id(rid)):
                    raise InvalidRequest(f"'{str(rid)[:64]}' is not a valid FHIR id", expression=("id",))
                self._check(kind, body, rid, structure=not structure_checked)
            except MaisError as exc:
                prepared.append(exc)
                continue
            prepared.append(self._stamped(kind, body))
        return prepared

    def write_prepared(
        self,
        prepared: Sequence[Prepared | MaisError],
        *,
        derived: Sequence[Derived] | None = None,
        mark: tuple[str, str | None] | None,
    ) -> list[Stored | MaisError]:
        """The second half of ``write_many``: the prepared bodies written in one store batch with ``mark``.
        ``derived``: ``derive`` of each prepared body (the errors skipped), if it was computed already."""
        ready = [p for p in prepared if isinstance(p, Prepared)]
        if derived is None:
            derived = [derive(p.body) for p in ready]
        changes = [
            Change("update", p.kind, p.id, p.last_updated, p.body, d.index, None, person=d.person)
            for p, d in zip(ready, derived, strict=True)
        ]
        written = iter(self.store.write_many(changes, mark=mark))
        return [p if isinstance(p, MaisError) else next(written) for p in prepared]

    def _write(self, operation: str, resource_type: str, body: dict[str, Any], *, expected: int) -> Stored:
        change = self._change(operation, resource_type, body, expected=expected)
        try:
            return self.store.write(change)
        except VersionConflict as exc:
            if operation == "create":
                raise
            raise VersionConflict(f"{resource_type}/{body['id']} was changed concurrently; retry") from exc

    def _change(self, operation: str, resource_type: str, body: dict[str, Any], *, expected: int | None) -> Change:
        """The one way a write becomes a ``Change``: stamped, with every derived index of the body."""
        prepared = self._stamped(resource_type, body)
        derived = derive(prepared.body)
        return Change(
            "create" if operation == "create" else "update",
            resource_type,
            prepared.id,
            prepared.last_updated,
            prepared.body,
            derived.index,
            expected,
            person=derived.person,
        )

    def _stamped(self, resource_type: str, body: dict[str, Any]) -> Prepared:
        last_updated = render(self.clock.now())
        body = {**body, "meta": {**(body.get("meta") or {}), "lastUpdated": fhir_instant(last_updated)}}
        return Prepared(resource_type, str(body["id"]), last_updated, body)

    def _check(self, resource_type: str, body: dict[str, Any], id: str | None, *, structure: bool = True) -> None:
        if body.get("resourceType") != resource_type:
            raise InvalidRequest(
                f"resourceType '{str(body.get('resourceType'))[:64]}' does not match the URL ({resource_type})",
                expression=("resourceType",),
            )
        if id is not None and body.get("id") != id:
            raise InvalidRequest(
                f"The id in the body ({str(body.get('id'))[:64]}) does not match the URL ({id})",
                expression=("id",),
            )
        if structure:
            check_structure(body)
        if self.conformance is not None:
            self.conformance(body)
