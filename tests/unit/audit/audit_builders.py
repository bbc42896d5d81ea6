"""Builders for the audit tests: realistic BALP events by default, changed only where a test is about it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Coding, Node, Subject
from mais_node.audit.port import AuditLog, Event

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NODE = Node("X26", "Test Borough Council", "https://node.test/fhir", "https://mais.test")
THREAT = Coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "THREAT")
S47 = Coding("https://mais.test/CodeSystem/RequestAssertedPurposeCode", "s47-enquiry")


def actor(org: str = "A1", user: str = "u-1") -> Actor:
    role = Coding("http://snomed.info/sct", "158965000", "Social worker")
    return Actor(org, f"client-{org}", user, "Sam Worker", role, (THREAT, S47), "10.0.0.7")


def decision_event(org: str = "A1", nhs: str = "9434765919", at: datetime = T0, outcome: str = "permit") -> Event:
    return balp.decision(
        NODE,
        at,
        actor(org),
        enquiry_id=f"enq-{org}-{nhs}",
        item="is-known",
        outcome=outcome,  # type: ignore[arg-type]
        rule_ids=["national.s47.is-known"],
        policies=["https://dsa.test/SharingPolicy/7|2"],
        subject=Subject(nhs),
    )


def fill(log: AuditLog, n: int, step: timedelta = timedelta(minutes=1)) -> None:
    for i in range(n):
        log.append(decision_event(org=f"A{i % 3}", nhs=f"94347659{i % 5:02d}", at=T0 + i * step))
