"""The rows of a bulk import file, streamed: NDJSON (one resource a line, numbered by line) or a FHIR Bundle (one
resource an entry, numbered from 1), parsed incrementally (``ijson``) so that a file of any size is read in bounded
memory. Each read also gives the file's SHA-256 (the import's checkpoint names the file by it) and the bytes read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from mais_node.errors import Issue
from mais_node.fhir.models import structure_issues, valid_id

IMPORTABLE = ("Organization", "Patient", "EpisodeOfCare")
UUID_PREFIX = "urn:uuid:"
HEAD = 200


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    resource: dict[str, Any] | None
    problems: tuple[str, ...] = ()
    # A Bundle entry ``urn:uuid:X`` without an id: the id it takes (X), as a transaction would give it.
    named: str | None = None


class Reading:
    """One pass over a file: its rows, then (once they are all read) its hash; bytes read as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.read = 0
        self._hash = hashlib.sha256()
        self.bundle = _is_bundle(path)

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()

    def rows(self) -> Iterator[Row]:
        with self.path.open("rb") as handle:
            yield from (self._entries(handle) if self.bundle else self._lines(handle))

    def _lines(self, handle: IO[bytes]) -> Iterator[Row]:
        for number, line in enumerate(handle, start=1):
            self.read += len(line)
            self._hash.update(line)
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Row(number, None, (f"not valid JSON (character {exc.pos})",))
                continue
            yield Row(number, resource)

    def _entries(self, handle: IO[bytes]) -> Iterator[Row]:
        number = 0
        try:
            for entry in ijson.items(_Counted(handle, self), "entry.item", use_float=True):
                number += 1
                yield _entry_row(number, entry)
        except ijson.JSONError as exc:
            yield Row(number + 1, None, (f"not valid JSON ({str(exc)[:80]})",))


class _Counted:
    """The file as ijson reads it, counting and hashing the bytes."""

    def __init__(self, handle: IO[bytes], reading: Reading) -> None:
        self.handle, self.reading = handle, reading

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.reading.read += len(data)
        self.reading._hash.update(data)
        return data


def _is_bundle(path: Path) -> bool:
    """A Bundle is one JSON document: its first line is either the whole Bundle or not a JSON document at all."""
    with path.open("rb") as handle:
        head = handle.read(HEAD)
        handle.seek(0)
        first = handle.readline(1 << 20)
    if not head.lstrip().startswith(b"{"):
        return False
    try:
        document = orjson.loads(first)
    except orjson.JSONDecodeError:
        return b'"Bundle"' in head
    return isinstance(document, dict) and document.get("resourceType") == "Bundle"


def _entry_row(number: int, entry: Any) -> Row:
    entry = entry if isinstance(entry, dict) else {}
    resource, full_url = entry.get("resource"), entry.get("fullUrl")
    named = None
    if isinstance(full_url, str) and full_url.startswith(UUID_PREFIX) and isinstance(resource, dict):
        uuid = full_url.removeprefix(UUID_PREFIX)
        if valid_id(uuid) and isinstance(resource.get("resourceType"), str) and "id" not in resource:
            resource = {**resource, "id": uuid}
            named = uuid
    return Row(number, resource, (), named)


def problems(resource: Any) -> tuple[str, ...]:
    """What is wrong with one row as R4 sees it (and as this import takes it), in the words the report gives."""
    if not isinstance(resource, dict):
        return ("not a JSON object",)
    if resource.get("resourceType") not in IMPORTABLE:
        return (f"resourceType must be one of {', '.join(IMPORTABLE)}",)
    if "id" in resource and not (isinstance(resource["id"], str) and valid_id(resource["id"])):
        return ("id is not a valid FHIR id",)
    return tuple(describe(i) for i in structure_issues(resource))


def describe(issue: Issue) -> str:
    where = f" at {issue.expression[0]}" if issue.expression else ""
    return f"{issue.diagnostics}{where}"


def uuid_references(value: Any, found: set[str]) -> set[str]:
    """Every ``urn:uuid:`` reference in a resource."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str) and v.startswith(UUID_PREFIX):
                found.add(v)
            else:
                uuid_references(v, found)
    elif isinstance(value, list):
        for v in value:
            uuid_references(v, found)
    return found


def rewrite(value: Any, names: dict[str, str]) -> Any:
    """The resource with each ``urn:uuid:`` reference of a named entry replaced by ``Type/id``."""
    if isinstance(value, dict):
        return {
            k: names.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v, names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [rewrite(v, names) for v in value]
    return value
