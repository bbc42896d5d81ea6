"""The terminology service: $lookup, $validate-code, $expand, $subsumes, $translate (FHIR R4 §CodeSystem,
§ValueSet, §ConceptMap operations) over the node's vocabularies (DESIGN §5).

Every index is built once at construction, so ``validate_code`` is a dictionary look-up; an edit to a
vocabulary builds a new service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from mais_node.clock import Clock, SystemClock
from mais_node.errors import InvalidRequest, NotFound
from mais_node.fhir.nearest import did_you_mean
from mais_node.terminology.codesystem import CodeSystemVersion, current_version, version_key
from mais_node.terminology.conceptmap import ConceptMapIndex
from mais_node.terminology.expansion import expansion
from mais_node.terminology.model import (
    ACTIVE,
    DRAFT,
    RETIRED,
    Concept,
    ConceptRef,
    JsonDict,
    LookupResult,
    Translation,
    ValidationResult,
)
from mais_node.terminology.valueset import compose_members

LEGISLATION = "legislation"
LISTED = 20  # a vocabulary with more codes than this is not spelt out in a message: $expand lists it


class TerminologyService:
    """Answers terminology operations from a fixed set of CodeSystem, ValueSet and ConceptMap resources."""

    def __init__(
        self,
        resources: Iterable[Mapping[str, Any]],
        clock: Clock | None = None,
        *,
        superseded: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """``superseded``: earlier CodeSystem versions, answerable only when a request names their version."""
        self._clock = clock or SystemClock()
        versions: dict[str, list[CodeSystemVersion]] = defaultdict(list)
        value_sets: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        maps: list[Mapping[str, Any]] = []
        for resource in resources:
            kind = resource.get("resourceType")
            if kind == "CodeSystem":
                versions[str(resource["url"])].append(CodeSystemVersion.from_resource(resource))
            elif kind == "ValueSet":
                value_sets[str(resource["url"])].append(resource)
            elif kind == "ConceptMap":
                maps.append(resource)
        self._versions: dict[str, dict[str, CodeSystemVersion]] = {
            url: {cs.version: cs for cs in group} for url, group in versions.items()
        }
        self._current = {url: current_version(group) for url, group in versions.items()}
        for resource in superseded:
            earlier = CodeSystemVersion.from_resource(resource)
            self._versions.setdefault(earlier.url, {}).setdefault(earlier.version, earlier)
        self._value_sets = {url: _current_resource(group) for url, group in value_sets.items()}
        self._members: dict[str, tuple[Concept, ...]] = {}
        for url in self._value_sets:
            self._value_set_members(url, ())
        self._verdicts = self._index_verdicts()
        self._maps = ConceptMapIndex(maps)
        self._by_legislation = self._index_legislation()

    def lookup(self, system: str, code: str, version: str | None = None) -> LookupResult:
        """CodeSystem/$lookup: the concept's display, definition, status and properties."""
        cs = self._code_system(system, version)
        concept = cs.concepts.get(code)
        if concept is None:
            raise NotFound(f"code '{code}' is not in {system} version {cs.version}")
        return LookupResult(
            name=cs.name,
            system=cs.url,
            version=cs.version,
            code=concept.code,
            display=concept.display,
            definition=concept.definition,
            status=concept.status,
            properties=(("status", concept.status), *concept.properties),
        )

    def validate_code(
        self,
        url: str,
        code: str,
        display: str | None = None,
        *,
        system: str | None = None,
        version: str | None = None,
    ) -> ValidationResult:
        """$validate-code against a CodeSystem or ValueSet url: draft and retired codes are not for use."""
        if version is not None:
            return _verdict(self._code_system(url, version).concepts.get(code), url, code)
        verdicts = self._verdicts.get(url)
        if verdicts is None:
            raise NotFound(f"no CodeSystem or ValueSet {url}")
        verdict = verdicts.get((system, code)) if system else verdicts.get(code)
        if verdict is None:
            where = f"{url} (system {system})" if system else url
            return ValidationResult(
                False, f"code '{code}' is not in {where}{_in_use(verdicts, code)}", system=system, code=code
            )
        if display is not None and verdict.result and display != verdict.display:
            return ValidationResult(
                False,
                f"display '{display}' is not the display of code '{code}' ('{verdict.display}')",
                system=verdict.system,
                code=code,
                display=verdict.display,
                version=verdict.version,
            )
        return verdict

    def expand(
        self,
        valueset_url: str,
        filter: str | None = None,
        count: int | None = None,
        offset: int | None = None,
        *,
        active_only: bool = False,
    ) -> JsonDict:
        """ValueSet/$expand: the ValueSet with an ``expansion``, filtered by code or display, paged."""
        resource = self._value_sets.get(valueset_url)
        if resource is None:
            raise NotFound(f"no ValueSet {valueset_url}")
        if (count is not None and count < 0) or (offset is not None and offset < 0):
            raise InvalidRequest("count and offset must not be negative")
        members = self._members[valueset_url]
        if active_only:
            members = tuple(c for c in members if c.status == ACTIVE)
        return expansion(resource, members, self._clock.now(), filter, count, offset)

    def subsumes(self, system: str, code_a: str, code_b: str, version: str | None = None) -> str:
        """CodeSystem/$subsumes: equivalent, subsumes, subsumed-by or not-subsumed (by the is-a hierarchy)."""
        cs = self._code_system(system, version)
        for code in (code_a, code_b):
            if code not in cs.concepts:
                raise NotFound(f"code '{code}' is not in {system} version {cs.version}")
        if code_a == code_b:
            return "equivalent"
        if code_a in cs.ancestors[code_b]:
            return "subsumes"
        if code_b in cs.ancestors[code_a]:
            return "subsumed-by"
        return "not-subsumed"

    def translate(self, url: str, code: str) -> tuple[Translation, ...]:
        """ConceptMap/$translate by ConceptMap url, source system or source ValueSet url."""
        return self._maps.translate(url, code)

    def purpose_for_legislation(self, uri: str) -> ConceptRef | None:
        """Resolve a MAIS ``reason`` URI to the asserted purpose whose legislation property names it."""
        key = _normalise_uri(uri)
        while key:
            found = self._by_legislation.get(key)
            if found is not None:
                return found
            key = key.rpartition("/")[0] if "/" in key.partition("://")[2] else ""
        return None

    def current_version(self, system: str) -> str:
        return self._code_system(system, None).version

    def _code_system(self, url: str, version: str | None) -> CodeSystemVersion:
        cs = self._resolve_system(url, version)
        if cs is None:
            raise NotFound(f"no CodeSystem {url}" + (f" version {version}" if version else ""))
        return cs

    def _resolve_system(self, url: str, version: str | None) -> CodeSystemVersion | None:
        if version is None:
            return self._current.get(url)
        return self._versions.get(url, {}).get(version)

    def _value_set_members(self, url: str, seen: tuple[str, ...]) -> tuple[Concept, ...]:
        if url in self._members:
            return self._members[url]
        resource = self._value_sets.get(url)
        if resource is None or url in seen:
            return ()
        members = compose_members(
            resource.get("compose", {}),
            self._resolve_system,
            lambda other: self._value_set_members(other, (*seen, url)),
        )
        self._members[url] = members
        return members

    def _index_verdicts(self) -> dict[str, dict[Any, ValidationResult]]:
        verdicts: dict[str, dict[Any, ValidationResult]] = {}
        sources: list[tuple[str, Iterable[Concept]]] = [
            (url, cs.concepts.values()) for url, cs in self._current.items()
        ]
        sources += list(self._members.items())
        for url, concepts in sources:
            table: dict[Any, ValidationResult] = {}
            for concept in concepts:
                verdict = _verdict(concept, url, concept.code)
                table[(concept.system, concept.code)] = verdict
                table.setdefault(concept.code, verdict)
            verdicts[url] = table
        return verdicts

    def _index_legislation(self) -> dict[str, ConceptRef]:
        found: dict[str, ConceptRef] = {}
        for cs in self._current.values():
            for concept in cs.concepts.values():
                ref = ConceptRef(cs.url, concept.code, concept.display, concept.status)
                for uri in concept.property_values(LEGISLATION):
                    key = _normalise_uri(str(uri))
                    if key not in found or (found[key].status != ACTIVE and concept.status == ACTIVE):
                        found[key] = ref
        return found


def _verdict(concept: Concept | None, url: str, code: str) -> ValidationResult:
    if concept is None:
        return ValidationResult(False, f"code '{code}' is not in {url}", code=code)
    found = {"system": concept.system, "code": code, "display": concept.display, "version": concept.version}
    if concept.status == RETIRED:
        replacement = concept.replaced_by
        message = f"code '{code}' is retired" + (f"; use '{replacement}'" if replacement else "")
        return ValidationResult(False, message, replaced_by=replacement, **found)
    if concept.status == DRAFT:
        return ValidationResult(False, f"code '{code}' is a draft, not yet in use", **found)
    if concept.abstract:
        return ValidationResult(False, f"code '{code}' is a grouping concept, not for use in data", **found)
    return ValidationResult(True, **found)


def _in_use(verdicts: Mapping[Any, ValidationResult], code: str) -> str:
    """The nearest code in use and, when they are few, all of them: what the sender of an unknown code needs."""
    usable = sorted(key for key, verdict in verdicts.items() if isinstance(key, str) and verdict.result)
    if not usable:
        return ""
    listed = f"; the codes in use are {', '.join(usable)}" if len(usable) <= LISTED else ""
    return did_you_mean(code, usable) + listed


def _current_resource(group: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    ordered = sorted(group, key=lambda r: version_key(str(r.get("version", ""))))
    active = [r for r in ordered if r.get("status") == ACTIVE]
    return (active or ordered)[-1]


def _normalise_uri(uri: str) -> str:
    uri = uri.strip().split("#", 1)[0].rstrip("/")
    if uri.startswith("http://"):
        uri = "https://" + uri.removeprefix("http://")
    return uri.lower()
