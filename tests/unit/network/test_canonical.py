"""The register's canonical JSON is RFC 8785 byte for byte, whichever writer makes it (network/canonical.py)."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from mais_node.errors import InvalidRequest
from mais_node.network.canonical import _plain, bundle_canonical, canonical, entries

ascii_keys = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)  # any character but a surrogate
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | text
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4), max_leaves=30
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_the_fast_writer_agrees_with_rfc_8785(document: Any) -> None:
    assert _plain(document)
    assert canonical(document) == rfc8785.dumps(document)


@pytest.mark.parametrize("document", [{"é": 1, "e": 2}, {"a": 1.5}, {"\U0001f600": 1, "\uffff": 2}], ids=str)
def test_what_the_fast_writer_cannot_write_goes_to_rfc_8785(document: Any) -> None:
    assert not _plain(document)
    assert canonical(document) == rfc8785.dumps(document)


@pytest.mark.parametrize("document", [{"n": float("nan")}, {"n": 2**60}], ids=["nan", "2^60"])
def test_what_jcs_cannot_express_is_refused(document: Any) -> None:
    with pytest.raises(InvalidRequest, match="canonical JSON"):
        canonical(document)


entry_lists = st.lists(documents, max_size=6)


@settings(max_examples=300, deadline=None)
@given(entry_lists, st.data())
def test_a_bundle_written_entry_by_entry_is_rfc_8785(items: list[Any], data: st.DataObject) -> None:
    """Entries known from the last serial are not walked again, and the document is still RFC 8785 byte for byte."""
    document = {"resourceType": "Bundle", "type": "collection", "entry": items, "zz": 1}
    pieces = entries(items)
    known = {p for p in pieces if data.draw(st.booleans())}
    written, plain = bundle_canonical(document, pieces, known)
    assert plain
    assert written == rfc8785.dumps(document)


def test_an_entry_the_fast_writer_cannot_write_sends_the_whole_bundle_to_rfc_8785() -> None:
    items = [{"a": 1}, {"é": 1.5}]
    document = {"entry": items, "type": "collection"}
    written, plain = bundle_canonical(document, entries(items), set())
    assert not plain
    assert written == rfc8785.dumps(document)


def test_the_bytes_of_an_entry_tell_apart_what_python_takes_as_equal() -> None:
    assert {"a": True} == {"a": 1}  # why entries are known by their bytes, not by equality of what was parsed
    assert len(set(entries([{"a": True}, {"a": 1}]))) == 2
