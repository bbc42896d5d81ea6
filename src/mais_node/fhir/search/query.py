"""A store-neutral search query: what the parser produces and each storage adapter compiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


@dataclass(frozen=True, slots=True)
class StringValue:
    text: str
    match: Literal["starts", "exact", "contains"] = "starts"


@dataclass(frozen=True, slots=True)
class TokenValue:
    """``system|code``: system None means any system; "" means no system; code None means any code."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class DateValue:
    """A half-open instant range [lo, hi) in normalised UTC text, with the FHIR comparison prefix."""

    prefix: Prefix
    lo: str
    hi: str


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """``Type/id``, or a bare id when the type was not given."""

    reference: str


@dataclass(frozen=True, slots=True)
class UriValue:
    uri: str


Value = StringValue | TokenValue | DateValue | ReferenceValue | UriValue


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parameter of the query: any of ``values`` matches (OR); criteria combine with AND."""

    param: str
    values: tuple[Value, ...] = ()
    negate: bool = False
    missing: bool | None = None


@dataclass(frozen=True, slots=True)
class SortKey:
    param: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    sort: tuple[SortKey, ...] = (SortKey("_id"),)
    count: int = 20
    after: tuple[str, ...] | None = None
    total: bool = False
    # The criterion the caller knows to be selective (an identifier, a reference to one resource): a store with a
    # planner drives by it without first counting each criterion's matches. Never set from a search URL.
    selective: int | None = None


class IndexEntry(NamedTuple):
    """One searchable value of a stored resource, extracted once at write time (a tuple: a write makes a score of
    them per resource, and a frozen dataclass costs several times as much to build)."""

    param: str
    value: str | None = None
    system: str | None = None
    exact: str | None = None
    lo: str | None = None
    hi: str | None = None


IndexRow = tuple[str, str | None, str | None, str | None, str | None, str | None]
"""An ``IndexEntry``'s fields in their order, as a store reads them (an import's worker processes send plain
tuples back: a named tuple costs several times as much to unpickle)."""


@dataclass(slots=True)
class Include:
    """``_include`` / ``_revinclude``: source type, parameter, optional target type."""

    source: str
    param: str
    target: str | None = None
    reverse: bool = False


@dataclass(slots=True)
class SearchRequest:
    """The parsed request: the query plus result shaping that is not the store's concern."""

    query: Query
    includes: list[Include] = field(default_factory=list)
    elements: tuple[str, ...] = ()
    summary: str | None = None
    ignored: list[str] = field(default_factory=list)
    # What the server tells the client about its request beyond the ignored parameters (a page size held down).
    warnings: list[str] = field(default_factory=list)
    # The parameters as the search used them, for the self link (R4 §3.1.1.5.2: ignored ones are left out).
    used: list[tuple[str, str]] = field(default_factory=list)

    @property
    def summary_count(self) -> bool:
        return self.summary == "count"
