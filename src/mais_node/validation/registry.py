"""The profiles the node publishes (``profiles/*.json``), each compiled once into a plan (FHIR R4
§StructureDefinition, derivation ``constraint``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mais_node.errors import InvalidRequest, NotFound
from mais_node.validation.plan import Plan, compile_profile


class ProfileRegistry:
    """StructureDefinitions by canonical url with their compiled plans.

    A plan holds the profile's own rules plus those of any profile it derives from that the registry holds."""

    def __init__(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        self._definitions = {str(sd["url"]): sd for sd in definitions}
        own = {url: compile_profile(sd) for url, sd in self._definitions.items()}
        self._plans = {url: self._inherit(url, own) for url in own}

    @classmethod
    def from_directory(cls, path: str | Path) -> ProfileRegistry:
        """Every StructureDefinition in the folder's ``*.json`` (sub-folders such as examples are not read)."""
        definitions = []
        for file in sorted(Path(path).glob("*.json")):
            try:
                resource = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InvalidRequest(f"{file.name} is not JSON: {exc.msg} at line {exc.lineno}") from exc
            if isinstance(resource, dict) and resource.get("resourceType") == "StructureDefinition":
                definitions.append(resource)
        return cls(definitions)

    def __contains__(self, url: object) -> bool:
        return url in self._plans

    def plan(self, url: str) -> Plan:
        plan = self._plans.get(url)
        if plan is None:
            raise NotFound(f"no profile {url}")
        return plan

    def definition(self, url: str) -> Mapping[str, Any]:
        """The StructureDefinition as published (for ``GET StructureDefinition``, the CapabilityStatement)."""
        self.plan(url)
        return self._definitions[url]

    def urls(self) -> tuple[str, ...]:
        return tuple(self._definitions)

    def profiles_for(self, resource_type: str) -> tuple[str, ...]:
        """The profiles of one resource type (``CapabilityStatement.rest.resource.supportedProfile``)."""
        return tuple(url for url, plan in self._plans.items() if plan.type == resource_type)

    def _inherit(self, url: str, own: Mapping[str, Plan]) -> Plan:
        plan, rules, slicings = own[url], list(own[url].rules), dict(own[url].slicings)
        seen = {url}
        base = self._definitions[url].get("baseDefinition")
        while isinstance(base, str) and base in own and base not in seen:
            seen.add(base)
            rules[:0] = own[base].rules
            slicings = {**own[base].slicings, **slicings}
            base = self._definitions[base].get("baseDefinition")
        return Plan(url=plan.url, type=plan.type, rules=tuple(rules), slicings=slicings)
