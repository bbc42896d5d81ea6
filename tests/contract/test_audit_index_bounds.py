"""Issue 13 §5 on every audit adapter: a value longer than an index key is stored under its digest, never whole,
and a search for the value still finds its record."""

from __future__ import annotations

from mais_node.audit.index import MAX_INDEX_KEY, index_keys
from mais_node.audit.query import parse_audit_query
from tests.contract.test_audit_log import Harness, event, store  # noqa: F401


def test_a_long_value_is_keyed_by_its_digest_and_found_by_a_search(store: Harness) -> None:  # noqa: F811
    long_value = "9" * 5_000
    store.log.append(event(nhs="9434765919"))
    store.log.append(event(nhs=long_value))
    assert all(len(key) <= MAX_INDEX_KEY for _, key in index_keys(event(nhs=long_value)))
    found = store.log.search(parse_audit_query([("patient", long_value)])).records
    assert [record.seq for record in found] == [2]
    assert store.log.search(parse_audit_query([("patient", "9434765919")])).records[0].seq == 1
