"""Reading the node's vocabularies from ``terminology/*.json`` (DESIGN §5)."""

from __future__ import annotations

import json
from pathlib import Path

from mais_node.errors import InvalidRequest
from mais_node.terminology.model import JsonDict

TERMINOLOGY_TYPES = frozenset({"CodeSystem", "ValueSet", "ConceptMap"})


def load_directory(path: str | Path) -> list[JsonDict]:
    """Every CodeSystem, ValueSet and ConceptMap in the folder's ``*.json`` files, in file-name order."""
    resources: list[JsonDict] = []
    for file in sorted(Path(path).glob("*.json")):
        try:
            resource = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{file.name} is not JSON: {exc.msg} at line {exc.lineno}") from exc
        if not isinstance(resource, dict) or resource.get("resourceType") not in TERMINOLOGY_TYPES:
            raise InvalidRequest(f"{file.name} is not a CodeSystem, ValueSet or ConceptMap")
        if not resource.get("url"):
            raise InvalidRequest(f"{file.name} has no url")
        resources.append(resource)
    return resources
