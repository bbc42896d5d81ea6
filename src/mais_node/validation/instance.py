"""Walking a FHIR JSON resource by element path, with FHIRPath-style locations (FHIR R4 §JSON: choice types,
primitive extensions in ``_name``; §Profiling: slice membership by fixed and pattern discriminators)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from mais_node.validation.plan import Discriminator, Slicing

PRIMITIVES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
        "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid",
    }
)  # fmt: skip


class Node(NamedTuple):
    """One value in the instance: the JSON value, its location, a primitive's ``_name`` sibling, its type.

    A tuple, because a walk makes hundreds of them and a frozen dataclass is several times dearer to build."""

    value: Any
    path: str
    extras: Any = None
    type: str | None = None


def children(node: Node, name: str) -> list[Node]:
    """The node's child elements called ``name`` (``value[x]`` finds whichever choice is present)."""
    value = node.value
    if not is_mapping(value):
        if name == "extension" and is_mapping(node.extras):
            return _items(node.extras.get("extension"), None, f"{node.path}.extension", None)
        return []
    if name.endswith("[x]"):
        prefix = name[:-3]
        for key in value:
            if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
                suffix = key[len(prefix) :]
                kind = suffix[0].lower() + suffix[1:]
                return _items(
                    value[key],
                    value.get("_" + key),
                    f"{node.path}.{key}",
                    kind if kind in PRIMITIVES else suffix,
                )
        return []
    return _items(value.get(name), value.get("_" + name), f"{node.path}.{name}", None)


def _items(value: Any, extras: Any, path: str, kind: str | None) -> list[Node]:
    if isinstance(value, list) or isinstance(extras, list):
        values = value if isinstance(value, list) else []
        more = extras if isinstance(extras, list) else []
        return [
            Node(
                values[i] if i < len(values) else None,
                f"{path}[{i}]",
                more[i] if i < len(more) else None,
                kind,
            )
            for i in range(max(len(values), len(more)))
        ]
    if value is None and extras is None:
        return []
    return [Node(value, path, extras, kind)]


def in_slice(node: Node, discriminators: Sequence[Discriminator]) -> bool:
    """Whether the item belongs to the slice every discriminator describes."""
    for discriminator in discriminators:
        found = [node]
        for name in discriminator.path:
            found = [child for item in found for child in children(item, name)]
        if discriminator.kind == "fixed":
            if not any(item.value == discriminator.expected for item in found):
                return False
        elif not any(matches_pattern(item.value, discriminator.expected) for item in found):
            return False
    return True


def slice_of(node: Node, slicing: Slicing, name: str) -> bool:
    return any(s.name == name and in_slice(node, s.discriminators) for s in slicing.slices)


def is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, without the ABC check for the JSON types it is nearly always given."""
    kind = type(value)
    if kind is dict:
        return True
    if kind is str or kind is list or kind is int or kind is bool or value is None:
        return False
    return isinstance(value, Mapping)


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: every element of the pattern is present; a list item matches some item."""
    if is_mapping(pattern):
        return is_mapping(value) and all(
            key in value and matches_pattern(value[key], expected) for key, expected in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(matches_pattern(v, p) for v in value) for p in pattern)
    return bool(value == pattern)
