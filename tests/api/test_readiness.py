"""Issue 13 item 10: ``/readyz`` says ready only when the audit trail can take a record, since an enquiry is answered
only once its records are durable (DESIGN §7 fail closed); the probe writes nothing into the trail itself."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mais_node.storage.sqlite_audit import SqliteAuditLog
from tests.api.conftest import Node
from tests.api.test_audit_trail import FailingConnection
from tests.api.test_enquiry import FHIR, ask, parameters


def enquire(node: Node, headers: dict[str, str]) -> Any:
    body = orjson.dumps(parameters(*ask("is-known")))
    return node.http.post("/fhir/Patient/$person-info-query", content=body, headers={**FHIR, **headers})


@pytest.mark.parametrize("failing", ["BEGIN", "INSERT", "COMMIT"])
def test_readyz_is_503_while_the_trail_cannot_take_a_record_and_ready_again_after(
    node: Node, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    node.organisation("LA0001")
    la1 = node.as_("mais/enquiry", "LA0001")
    log = node.services.audit
    assert isinstance(log, SqliteAuditLog)
    assert node.http.get("/readyz").status_code == 200
    real = log._conn
    monkeypatch.setattr(log, "_conn", lambda: FailingConnection(real(), failing))
    assert enquire(node, la1).status_code == 503
    answer = node.http.get("/readyz")
    assert answer.status_code == 503, answer.text
    no_register = {"source": None, "serial": None, "expired": None}  # this node imports no national register
    assert answer.json() == {
        "status": "unavailable",
        "store": "ok",
        "audit": "cannot take a record",
        "register": no_register,
    }
    monkeypatch.undo()
    assert node.http.get("/readyz").json() == {"status": "ready", "store": "ok", "audit": "ok", "register": no_register}
    assert enquire(node, la1).status_code == 200


def test_readiness_probes_write_nothing_into_the_trail_and_are_bounded(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = node.services.audit
    assert isinstance(log, SqliteAuditLog)
    probes: list[int] = []
    real = log.probe

    def counted() -> None:
        probes.append(1)
        real()

    monkeypatch.setattr(log, "probe", counted)
    tail = log.last()
    for _ in range(200):
        assert node.http.get("/readyz").status_code == 200
    assert log.last() == tail
    assert 1 <= len(probes) <= 5  # one write per second at most, however often the node is asked
