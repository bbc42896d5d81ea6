"""Audit bytes written per enquiry (issue 13 §5 "write amplification"): the trail an enquiry leaves must stay
proportional to the enquiry, whatever its free-text fields hold.

    .venv/bin/python -m bench.bench_enquiry_audit --enquiries 100

In process (Starlette TestClient) on the embedded store in a temporary directory, with real tokens, rules,
matching and the audit trail. For a typical answered enquiry, for one with every free-text field at its bound
(request id, the user's identifier, name and role) and for a refused one with a 1 MB request id: the records'
JSON and index keys the trail holds per enquiry (what the store is asked to keep) and the growth of the SQLite
file per enquiry (the trail zlib-compresses each record; this includes everything the enquiry wrote).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from tests.api.conftest import Node, make_node
from tests.api.test_enquiry import FHIR, KNOWN, ask, parameters, person

from mais_node.audit.index import index_keys
from mais_node.enquiry.parse import FREE_TEXT_LIMITS


def trail_bytes(node: Node) -> tuple[int, int]:
    """The trail's records (JSON bytes plus index keys) and how many there are."""
    size = count = 0
    for record in node.services.audit.scan():
        count += 1
        size += len(orjson.dumps(record.event)) + sum(len(p) + len(v) for p, v in index_keys(record.event))
    return size, count


def file_bytes(db: Path) -> int:
    """The SQLite file's size once its write-ahead log is folded in."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db.stat().st_size


def user(identifier: str, name: str, role: str) -> dict[str, Any]:
    parts = [
        {"name": "identifier", "valueIdentifier": {"system": "https://example.org/staff", "value": identifier}},
        {"name": "name", "valueString": name},
        {"name": "role", "valueString": role},
    ]
    return {"name": "authorisedUser", "part": parts}


def typical(n: int) -> dict[str, Any]:
    return parameters(
        *ask("is-known", "is-open"),
        {"name": "requestId", "valueString": f"LA-{n:08d}"},
        user("SW-42", "A. Social Worker", "Social worker"),
    )


def at_bounds(n: int) -> dict[str, Any]:
    limit = FREE_TEXT_LIMITS
    return parameters(
        *ask("is-known", "is-open"),
        {"name": "requestId", "valueString": f"{n:08d}".ljust(limit["requestId"], "r")},
        user("i" * limit["identifier"], "n" * limit["name"], "o" * limit["role"]),
    )


def megabyte_request_id(n: int) -> dict[str, Any]:
    return parameters({"name": "requestId", "valueString": f"{n:08d}".ljust(1_000_000, "r")})


def measure(node: Node, db: Path, label: str, body_of: Callable[[int], dict[str, Any]], n: int) -> None:
    headers = {**FHIR, **node.as_("mais/enquiry", "LA0001")}
    trail, records = trail_bytes(node)
    disk = file_bytes(db)
    statuses: set[int] = set()
    body_size = 0
    for i in range(n):
        body = orjson.dumps(body_of(i))
        body_size = len(body)
        statuses.add(node.http.post("/fhir/Patient/$person-info-query", content=body, headers=headers).status_code)
    trail_after, records_after = trail_bytes(node)
    disk_after = file_bytes(db)
    per = (trail_after - trail) / n
    print(
        f"{label:<28} body {body_size:>9,} B  trail {per:>9,.0f} B/enquiry ({per / body_size:.1f}x the body, "
        f"{(records_after - records) / n:.0f} records)  file {(disk_after - disk) / n:>9,.0f} B/enquiry  "
        f"status {sorted(statuses)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enquiries", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mais-bench-audit-") as tmp, contextmanager(make_node)(Path(tmp)) as node:
        node.organisation("LA0001")
        admin = {**FHIR, **node.as_("system/*.cruds mais/admin")}
        node.http.post("/fhir/Patient", content=orjson.dumps(person(*KNOWN.values())), headers=admin)
        node.services.persons.refresh()
        db = Path(tmp) / "node.db"
        measure(node, db, "typical (answered)", typical, args.enquiries)
        measure(node, db, "fields at their bounds", at_bounds, args.enquiries)
        measure(node, db, "1 MB requestId (refused)", megabyte_request_id, max(1, args.enquiries // 10))


if __name__ == "__main__":
    main()
