"""The auditor's search and read of the trail as FHIR R4 serves them (R4 §3.1.0 read/vread, §3.1.1 search): the
searchset Bundle with self and next links, totals, ``_elements``, and the ignored parameters reported.

Each AuditEvent has exactly one version (the trail is append-only), so it is served with ``meta.versionId`` "1" and
``meta.lastUpdated`` its ``recorded`` time, added on the way out: the chained record itself is never changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from mais_node.audit.port import AuditLog, AuditPage, AuditRecord, Event
from mais_node.audit.query import AuditQuery, AuditSearch
from mais_node.errors import Issue
from mais_node.fhir.outcome import operation_outcome
from mais_node.fhir.search.parse import is_small_int
from mais_node.fhir.shape import subset

VERSION = "1"


def as_resource(record: AuditRecord) -> Event:
    """The AuditEvent as served: the chained event with its one version's ``meta``."""
    meta = dict(record.event.get("meta") or {})
    meta |= {"versionId": VERSION, "lastUpdated": record.event["recorded"]}
    return {"resourceType": "AuditEvent", "id": record.event["id"], "meta": meta} | {
        k: v for k, v in record.event.items() if k not in ("resourceType", "id", "meta")
    }


def read(log: AuditLog, seq: str) -> AuditRecord | None:
    """The record whose id is ``seq``, or None."""
    if not is_small_int(seq):
        return None
    record = next(iter(log.scan(int(seq))), None)
    return record if record is not None and record.seq == int(seq) else None


def _by_id(log: AuditLog, query: AuditQuery, seqs: tuple[int, ...]) -> AuditPage:
    """``_id``: the named records read directly (the chain's position is the id), then the other criteria."""
    found = [r for r in (read(log, str(seq)) for seq in seqs) if r is not None]
    found = [
        r
        for r in found
        if (query.since is None or r.recorded >= query.since)
        and (query.until is None or r.recorded < query.until)
        and query.accepts(r)
    ]
    found.sort(key=lambda r: (r.recorded, r.seq), reverse=query.descending)
    return AuditPage(found[: query.count])


def page(log: AuditLog, query: AuditQuery) -> AuditPage:
    """One page of matching records."""
    if query.count == 0:
        return AuditPage([])
    seqs = query.ids()
    return _by_id(log, query, seqs) if seqs is not None else log.search(query)


def total(log: AuditLog, query: AuditQuery) -> int:
    """How many records match: the named ones for ``_id``, else as the store counts."""
    seqs = query.ids()
    if seqs is not None:
        return len(_by_id(log, replace(query, count=len(seqs)), seqs).records)
    return log.count(query)


def searchset(log: AuditLog, search: AuditSearch, base: str) -> tuple[dict[str, Any], int]:
    """The searchset Bundle answering ``search`` at ``base`` (``[base]/AuditEvent``), and the entries returned."""
    summary = search.summary_count or search.query.count == 0
    found = AuditPage([]) if summary else page(log, search.query)
    own = [(k, v) for k, v in search.used if k != "_cursor"]
    links = [{"relation": "self", "url": f"{base}?{urlencode(search.used)}" if search.used else base}]
    if found.next_cursor:
        links.append({"relation": "next", "url": f"{base}?{urlencode([*own, ('_cursor', found.next_cursor)])}"})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if summary or search.total:
        bundle["total"] = total(log, search.query)
    bundle["link"] = links
    entries: list[dict[str, Any]] = []
    for record in found.records:
        resource = as_resource(record)
        entries.append(
            {
                "fullUrl": f"{base}/{record.seq}",
                "resource": subset(resource, search.elements) if search.elements else resource,
                "search": {"mode": "match"},
            }
        )
    issues = [
        *(
            Issue(f"Search parameter '{n}' is not supported and was ignored", "not-supported", "warning")
            for n in search.ignored
        ),
        *(Issue(note, "informational", "information") for note in search.notes),
    ]
    if issues:
        entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle, len(found.records)
