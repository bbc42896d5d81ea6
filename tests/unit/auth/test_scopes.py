"""SMART v2 system scopes and the node's role scopes: what may be registered, requested and done."""

from __future__ import annotations

import pytest

from mais_node.auth import scopes
from mais_node.auth.bearer import Caller
from mais_node.errors import Forbidden, InvalidRequest


@pytest.mark.parametrize("scope", ["system/Patient.rs", "system/*.cruds", "system/AuditEvent.rs", "mais/admin"])
def test_known_scopes_are_valid(scope: str) -> None:
    assert scopes.is_valid(scope)


@pytest.mark.parametrize("scope", ["system/Patient.sr", "system/Patient.rr", "patient/Patient.rs", "mais/root", ""])
def test_malformed_or_unknown_scopes_are_not(scope: str) -> None:
    assert not scopes.is_valid(scope)


def test_a_wider_scope_covers_a_narrower_one() -> None:
    assert scopes.covered("system/Patient.r", ["system/Patient.rs"])
    assert scopes.covered("system/Task.cr", ["system/*.cruds"])
    assert not scopes.covered("system/Patient.c", ["system/Patient.rs"])
    assert not scopes.covered("system/Task.r", ["system/Patient.rs"])
    assert not scopes.covered("mais/admin", ["system/*.cruds"])
    assert scopes.covered("system/Task.crs", ["system/Task.cr", "system/Task.s"])


def test_interactions_are_permitted_by_type_and_letter() -> None:
    granted = ("system/Patient.rs", "system/AuditEvent.rs")
    assert scopes.permits(granted, "Patient", "s")
    assert not scopes.permits(granted, "Patient", "u")
    assert not scopes.permits(granted, "*", "r")
    assert scopes.permits(("system/*.cruds",), "*", "r")


def test_registration_refuses_unknown_scopes_and_empty_lists() -> None:
    assert scopes.check_registrable(["mais/enquiry", "mais/enquiry"]) == ("mais/enquiry",)
    with pytest.raises(InvalidRequest, match="not a scope"):
        scopes.check_registrable(["system/Patient.write"])
    with pytest.raises(InvalidRequest, match="at least one"):
        scopes.check_registrable([])


def test_a_scope_string_splits_without_repeats() -> None:
    assert scopes.split(" a  b a ") == ("a", "b")
    assert scopes.split(None) == ()


def caller(*granted: str) -> Caller:
    return Caller("c", "LA0001", granted, "t", 2_000_000_000)


@pytest.mark.parametrize(
    "granted",
    [("system/Task.cruds",), ("system/*.cruds",), ("system/Task.cr", "system/Task.s"), ("system/*.crs",)],
)
def test_a_wider_scope_or_several_narrower_ones_meet_a_narrower_need(granted: tuple[str, ...]) -> None:
    """Issue 12 item 3: the need is the interactions, not the string that names them."""
    caller(*granted).require(scopes.ENQUIRY, "system/Task.crs")
    assert scopes.covers(granted, "system/Task.crs")


@pytest.mark.parametrize("granted", [("system/Task.rs",), ("system/Patient.cruds",), ("mais/reviewer",), ()])
def test_a_need_not_met_is_forbidden_naming_what_would_meet_it(granted: tuple[str, ...]) -> None:
    with pytest.raises(Forbidden, match=r"mais/enquiry or system/Task\.crs"):
        caller(*granted).require(scopes.ENQUIRY, "system/Task.crs")


def test_every_interaction_on_every_type_is_the_operator_however_it_is_spelt() -> None:
    assert caller("system/*.cr", "system/*.uds").has(scopes.OPERATOR)
    assert caller("system/*.cruds").has(scopes.OPERATOR)
    assert not caller("system/Task.cruds").has(scopes.OPERATOR)
    assert not caller("system/*.rs").has(scopes.OPERATOR)


def test_no_system_scope_implies_a_role_scope() -> None:
    assert not caller("system/*.cruds").has(scopes.ADMIN)
    assert caller("mais/admin").has(scopes.ADMIN)


def test_v1_scopes_are_read_only_where_asked_for() -> None:
    assert scopes.parse_system("system/Patient.read", v1=True) == scopes.SystemScope("Patient", "rs")
    assert scopes.parse_system("system/*.write", v1=True) == scopes.SystemScope("*", "cud")
    assert scopes.parse_system("system/Task.*", v1=True) == scopes.SystemScope("Task", "cruds")
    assert scopes.parse_system("system/Patient.read") is None  # registration and tokens hold v2 only
    assert scopes.parse_system("system/Observation.rs") is None  # not a type the node serves


def test_a_scope_meets_another_in_what_both_allow() -> None:
    every = scopes.SystemScope("*", "cruds")
    assert every.meet(scopes.SystemScope("Patient", "rs")) == scopes.SystemScope("Patient", "rs")
    assert scopes.SystemScope("Task", "crs").meet(scopes.SystemScope("*", "rs")) == scopes.SystemScope("Task", "rs")
    assert scopes.SystemScope("Task", "c").meet(scopes.SystemScope("*", "rs")) is None
    assert scopes.SystemScope("Task", "rs").meet(scopes.SystemScope("Patient", "rs")) is None


def test_a_client_cannot_be_registered_for_a_type_the_node_does_not_serve() -> None:
    with pytest.raises(InvalidRequest, match=r"'system/Observation\.rs' is not a scope"):
        scopes.check_registrable(["system/Patient.rs", "system/Observation.rs"])
