"""SMART v2 system scopes and the node's role scopes: what may be registered, requested and done."""

from __future__ import annotations

import pytest

from mais_node.auth import scopes
from mais_node.errors import InvalidRequest


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
