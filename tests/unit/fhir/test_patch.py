"""JSON Patch (RFC 6902, the examples of its Appendix A) and JSON Merge Patch (RFC 7386 Appendix A)."""

from __future__ import annotations

from typing import Any

import pytest

from mais_node.errors import NotConformant
from mais_node.fhir.patch import json_patch, merge_patch


@pytest.mark.parametrize(
    ("doc", "patch", "result"),
    [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
        ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
        (
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
        ),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        ({"foo": 1}, [{"op": "copy", "from": "/foo", "path": "/bar"}], {"foo": 1, "bar": 1}),
    ],
)
def test_rfc6902_examples(doc: dict[str, Any], patch: list[dict[str, Any]], result: dict[str, Any]) -> None:
    assert json_patch(doc, patch) == result


@pytest.mark.parametrize(
    ("doc", "patch", "named"),
    [
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "op 0 (test /baz)"),
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "op 0 (add /baz/bat)"),
        ({"foo": ["a"]}, [{"op": "add", "path": "/foo/01", "value": 1}], "not an array index"),
        ({"foo": ["a"]}, [{"op": "replace", "path": "/foo/1", "value": 1}], "past the end"),
        ({"foo": {}}, [{"op": "move", "from": "/foo", "path": "/foo/bar"}], "into itself"),
        ({"foo": 1}, [{"op": "add", "path": "foo", "value": 1}], "JSON Pointer"),
        ({"foo": 1}, [{"op": "add", "path": "/bar"}], "no value"),
    ],
)
def test_a_patch_that_cannot_apply_names_the_op_and_leaves_the_document(
    doc: dict[str, Any], patch: list[dict[str, Any]], named: str
) -> None:
    before = repr(doc)
    with pytest.raises(NotConformant) as refused:
        json_patch(doc, patch)
    assert named in refused.value.diagnostics
    assert repr(doc) == before


def test_merge_patch_rfc7386_example() -> None:
    doc = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"]}
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None}, "tags": ["example"]}
    assert merge_patch(doc, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "phoneNumber": "+01-123-456-7890",
    }
