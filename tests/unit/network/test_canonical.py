"""The register's canonical JSON is RFC 8785 byte for byte, whichever writer makes it (network/canonical.py)."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from mais_node.errors import InvalidRequest
from mais_node.network.canonical import _plain, canonical

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
