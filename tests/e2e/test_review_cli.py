"""The IG officer's and the requester's commands for a referral (issue 12 items 13, 18, 19), in process: typer's
runner drives ``mais enquire`` and ``mais review``, their HTTP answered by a node in process (the same app and
store a ``mais serve`` runs). ``mais enquire`` names the person asking and, with ``--wait``, follows the Task until
the IG officer decides; ``mais review list|show|decide`` works the queue with a reviewer's key file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import mais_node.client
from mais_node.adapters.jose_keys import write_key_pair
from mais_node.audit.query import parse_audit_query
from mais_node.cli import app
from mais_node.config import Settings
from mais_node.review_client import ReviewClient, load_credentials
from mais_node.storage.sqlite_audit import SqliteAuditLog
from mais_node.wiring import build_services
from tests.api.conftest import ADMIN_ACTOR, Node, make_node
from tests.api.test_enquiry import KNOWN, PURPOSE, enquire, parameters, seed_world, subject

runner = CliRunner()
GENERAL = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    """A node whose HTTP the commands reach in process: every ``httpx.Client`` they make is the node's client."""
    made = make_node(tmp_path)
    running = next(made)
    seed_world(running)
    monkeypatch.setattr(mais_node.client.httpx, "Client", lambda **_: running.http)
    monkeypatch.setattr(running.http, "close", lambda: None)  # a command closing "its" client leaves the node's open
    yield running
    monkeypatch.undo()
    next(made, None)  # closes the node


def key_file(node: Node, directory: Path, name: str, ods: str, scopes: list[str]) -> Path:
    """A registered system's key file, as ``mais demo`` writes var/demo/<name>.json."""
    private, public, _ = write_key_pair(directory / name)
    client = node.services.auth.clients.add(ods, scopes, actor=ADMIN_ACTOR, jwks=orjson.loads(public.read_bytes()))
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"client_id": client.client_id, "key": str(private)}))
    return path


def mais(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def server(node: Node) -> str:
    return node.services.settings.public_base


def enquire_args(node: Node, la: Path, *extra: str) -> list[str]:
    saved = json.loads(la.read_text())
    return [
        "enquire",
        "--server",
        server(node),
        "--client-id",
        saved["client_id"],
        "--key",
        saved["key"],
        "--reason",
        "general-safeguarding",
        "--family",
        KNOWN["family"],
        "--given",
        KNOWN["given"],
        "--birth-date",
        KNOWN["birthDate"],
        *extra,
    ]


def test_enquire_names_the_person_asking_and_waits_for_the_review(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    la = key_file(node, tmp_path, "la", "LA0001", ["mais/enquiry", "system/Task.crs"])
    officer = key_file(node, tmp_path, "reviewer", "NODE01", ["mais/reviewer", "system/Task.rs"])
    reviewer = ReviewClient(server(node), load_credentials(officer))
    decided: list[str] = []

    def officer_decides(_: float) -> None:  # while mais enquire waits, an IG officer permits the referral
        if not decided:
            (task,) = reviewer.pending()
            decided.append(reviewer.decide(task["id"], "permit", "s11 duty; checked")["status"])

    monkeypatch.setattr(mais_node.client.time, "sleep", officer_decides)
    user = ["--user-id", "555123456789", "--user-name", "Sam Worker", "--user-role", "Social worker"]
    code, out, err = mais(*enquire_args(node, la, *user, "--wait"))

    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith(f"REFERRED for review: poll {node.services.settings.fhir_base}/Task/")
    assert "/_history/" not in lines[0]
    assert "PERMITTED after review: match=True" in out
    assert decided == ["completed"]
    trail = [r.event for r in node.services.audit.scan()]
    asked = [
        agent
        for event in trail
        if {c["code"] for c in event["subtype"]} & {"enquiry-received", "disclose"}
        for agent in event["agent"]
        if agent.get("name")
    ]
    assert len(asked) == 2  # the enquiry as received, and the disclosure after the review
    for agent in asked:
        assert agent["name"] == "Sam Worker"
        assert agent["who"]["identifier"] == {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "555123456789"}
        assert agent["role"][0]["coding"][0]["code"] == "Social worker"


def test_enquire_wait_gives_up_with_one_line_when_nobody_decides(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    la = key_file(node, tmp_path, "la", "LA0001", ["mais/enquiry", "system/Task.crs"])
    monkeypatch.setattr(mais_node.client.time, "sleep", lambda _: None)
    code, _, err = mais(*enquire_args(node, la, "--wait", "--wait-seconds", "0"))
    assert code == 1
    assert err.strip().startswith("mais enquire: still awaiting review after 0 s: poll ")
    assert len(err.strip().splitlines()) == 1


def test_review_list_show_and_decide_work_the_queue(node: Node, tmp_path: Path) -> None:
    referred = enquire(node, parameters(reason=GENERAL, who=subject(None, birthDate=KNOWN["birthDate"])))
    assert referred.status_code == 202
    task_id = referred.json()["id"]
    reviewer = str(key_file(node, tmp_path, "reviewer", "NODE01", ["mais/reviewer", "system/Task.crs"]))
    at = ["--server", server(node), "--key-file", reviewer]

    code, out, err = mais("review", "list", *at)
    assert code == 0, out + err
    (line,) = out.splitlines()
    assert line.startswith(f"{task_id}  ")
    for shown in ("LA0001", "general-safeguarding", "is-known=review", f"{KNOWN['given']} {KNOWN['family']}"):
        assert shown in line

    code, out, _ = mais("review", "show", task_id, *at)
    assert code == 0
    assert f"subject: {KNOWN['given']} {KNOWN['family']}, born {KNOWN['birthDate']}" in out

    code, out, _ = mais("review", "decide", task_id, *at, "--decision", "deny", "--reason", "no duty applies")
    assert code == 0, out
    assert out.strip() == f"Task/{task_id}: deny recorded; the enquiry is now rejected"
    assert mais("review", "list", *at)[1].strip() == "no enquiries await review"
    decisions = [r.event for r in node.services.audit.scan() if "review-decision" in _codes(r.event)]
    assert [d["outcomeDesc"] for d in decisions] == ["no duty applies"]

    code, _, err = mais("review", "decide", task_id, *at, "--decision", "permit", "--reason", "again")
    assert code == 1
    assert err.startswith("mais review: the node refused (409): ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["review", "show", "../metadata"], "is not a Task id"),
        (["review", "decide", "x", "--decision", "maybe", "--reason", "r"], "--decision must be permit or deny"),
    ],
)
def test_review_refuses_bad_input_in_one_line(node: Node, tmp_path: Path, args: list[str], says: str) -> None:
    reviewer = str(key_file(node, tmp_path, "reviewer", "NODE01", ["mais/reviewer", "system/Task.crs"]))
    code, _, err = mais(*args, "--server", server(node), "--key-file", reviewer)
    assert code != 0
    assert says in err
    assert len(err.strip().splitlines()) == 1


def test_review_with_a_file_that_is_not_a_key_file_says_so(node: Node, tmp_path: Path) -> None:
    wrong = tmp_path / "jwks.json"
    wrong.write_text(json.dumps({"keys": []}))
    code, _, err = mais("review", "list", "--server", server(node), "--key-file", str(wrong))
    assert code == 1
    assert err.strip() == f"mais review: {wrong} is not a key file with client_id and key (as mais demo writes)"


def _codes(event: dict[str, Any]) -> set[str]:
    return {c["code"] for c in event.get("subtype", [])}


def test_the_requesters_own_record_names_the_person_asked_about_and_the_user(node: Node, tmp_path: Path) -> None:
    """MAIS asks the requester to keep its own record: its auditor finds it by NHS number and sees who asked."""
    la = key_file(node, tmp_path, "la", "LA0001", ["mais/enquiry", "system/Task.crs"])
    own = tmp_path / "requester.db"
    build_services(Settings(store=f"sqlite:///{own}")).close()  # the requester's own store, as its node keeps it
    args = enquire_args(node, la, "--nhs-number", KNOWN["nhs"], "--user-name", "Sam Worker", "--user-id", "5551")
    args[args.index("general-safeguarding")] = "s47-enquiry"
    code, out, err = mais(*args, "--store", f"sqlite:///{own}")
    assert code == 0, out + err
    log = SqliteAuditLog(own)
    try:
        (record,) = log.search(parse_audit_query([("patient", KNOWN["nhs"])])).records
        (user,) = [a for a in record.event["agent"] if a.get("name")]
    finally:
        log.close()
    assert user["name"] == "Sam Worker"
    assert user["who"]["identifier"]["value"] == "5551"


def test_review_says_when_the_key_file_or_the_node_cannot_be_reached(tmp_path: Path) -> None:
    code, _, err = mais("review", "list", "--server", "http://127.0.0.1:9", "--key-file", str(tmp_path / "none.json"))
    assert code == 1
    assert err.startswith(f"mais review: the key file {tmp_path / 'none.json'} cannot be read (")
    private, _, _ = write_key_pair(tmp_path / "rv")
    key = tmp_path / "rv.json"
    key.write_text(json.dumps({"client_id": "c", "key": str(private)}))
    code, _, err = mais("review", "list", "--server", "http://127.0.0.1:9", "--key-file", str(key))
    assert code == 1
    assert err.strip().startswith("error: cannot reach http://127.0.0.1:9 (")
    assert err.strip().endswith("is the node running there? (check --server)")


def test_enquire_wait_reports_a_denial_after_review_and_exits_1(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    la = key_file(node, tmp_path, "la", "LA0001", ["mais/enquiry", "system/Task.crs"])
    reviewer = ReviewClient(
        server(node), load_credentials(key_file(node, tmp_path, "rv", "NODE01", ["mais/reviewer", "system/Task.rs"]))
    )
    monkeypatch.setattr(
        mais_node.client.time,
        "sleep",
        lambda _: [reviewer.decide(t["id"], "deny", "no duty") for t in reviewer.pending()],
    )
    code, out, _ = mais(*enquire_args(node, la, "--wait"))
    assert code == 1
    assert out.splitlines()[2] == "DENIED after review"


def test_review_lists_every_referral_whatever_the_page_size(node: Node, tmp_path: Path) -> None:
    for _ in range(3):
        assert (
            enquire(node, parameters(reason=GENERAL, who=subject(None, birthDate=KNOWN["birthDate"]))).status_code
            == 202
        )
    reviewer = ReviewClient(
        server(node), load_credentials(key_file(node, tmp_path, "rv", "NODE01", ["mais/reviewer", "system/Task.rs"]))
    )
    assert len(reviewer.pending(count=2)) == 3
