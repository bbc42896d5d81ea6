"""ConceptMap translation (FHIR R4 §ConceptMap $translate), used for asserted purpose → HL7 PurposeOfUse."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from mais_node.terminology.model import Translation


class ConceptMapIndex:
    """Targets of each source code, reachable by the map's url, its source system or its source ValueSet."""

    def __init__(self, maps: Iterable[Mapping[str, Any]]) -> None:
        self._targets: dict[str, dict[str, list[Translation]]] = defaultdict(lambda: defaultdict(list))
        for cm in maps:
            keys = [str(cm["url"])] + [str(cm[k]) for k in ("sourceUri", "sourceCanonical") if k in cm]
            for group in cm.get("group", []):
                group_keys = [*keys, str(group.get("source", ""))]
                for element in group.get("element", []):
                    for target in element.get("target", []):
                        translation = Translation(
                            system=str(group.get("target", "")),
                            code=str(target.get("code", "")),
                            display=target.get("display"),
                            equivalence=str(target.get("equivalence", "equivalent")),
                            source=str(cm["url"]),
                        )
                        for key in group_keys:
                            self._targets[key][str(element["code"])].append(translation)

    def translate(self, url: str, code: str) -> tuple[Translation, ...]:
        by_code = self._targets.get(url)
        return tuple(by_code.get(code, ())) if by_code else ()
