"""FHIR PATCH (R4 §3.1.0.6) with JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386).

The patch is applied to a copy of the current version; the result then goes through the same checks as an update.
A patch that cannot be applied is refused whole (422), naming the operation by its index, op and path.
"""

from __future__ import annotations

import copy
from typing import Any

from mais_node.errors import Issue, NotConformant

_OPS = ("add", "remove", "replace", "move", "copy", "test")
MAX_OPERATIONS = 1000


class _Failed(Exception):
    pass


def _refuse(index: int | None, op: Any, why: str) -> NotConformant:
    if index is None:
        text = f"The patch cannot be applied: {why}"
    else:
        name = op.get("op") if isinstance(op, dict) else None
        path = op.get("path") if isinstance(op, dict) else None
        text = f"Patch op {index} ({str(name)[:20]} {str(path)[:80]}) cannot be applied: {why}"
    return NotConformant(text, issues=[Issue(text, "processing")])


def _pointer(path: Any) -> list[str]:
    """RFC 6901: "" is the whole document, else "/"-separated tokens with ~1 for / and ~0 for ~."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise _Failed("a path must be a JSON Pointer starting with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]] if path else []


def _index(container: list[Any], part: str, *, adding: bool) -> int:
    if adding and part == "-":
        return len(container)
    if not (part.isascii() and part.isdigit()) or (len(part) > 1 and part.startswith("0")):
        raise _Failed(f"'{part[:20]}' is not an array index")
    index = int(part)
    if index > len(container) or (index == len(container) and not adding):
        raise _Failed(f"index {index} is past the end of the array (length {len(container)})")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _Failed(f"'{token[:40]}' does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise _Failed(f"'{token[:40]}' is inside a value that is neither an object nor an array")
    return node


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _Failed(f"'{last[:40]}' does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise _Failed("the target is not inside an object or an array")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise _Failed("the target is not inside an object or an array")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _Failed("the whole resource cannot be removed")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _Failed(f"'{last[:40]}' does not exist")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, adding=False)]
    else:
        raise _Failed("the target is not inside an object or an array")
    return doc


def _apply_one(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict) or op.get("op") not in _OPS:
        raise _Failed(f"op must be one of {', '.join(_OPS)}")
    kind = op["op"]
    tokens = _pointer(op.get("path"))
    if kind in ("add", "replace", "test") and "value" not in op:
        raise _Failed("it has no value")
    if kind == "add":
        return _add(doc, tokens, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, tokens)
    if kind == "replace":
        _get(doc, tokens)
        return _add(_remove(doc, tokens), tokens, copy.deepcopy(op["value"])) if tokens else op["value"]
    if kind == "test":
        if _get(doc, tokens) != op["value"]:
            raise _Failed("the value at the path is not the value given")
        return doc
    source = _pointer(op.get("from"))
    if kind == "move" and tokens[: len(source)] == source and len(tokens) > len(source):
        raise _Failed("a value cannot be moved into itself")
    value = copy.deepcopy(_get(doc, source))
    if kind == "move":
        doc = _remove(doc, source)
    return _add(doc, tokens, value)


def json_patch(body: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 6902: every operation in order, on a copy; any failure refuses the whole patch."""
    if not isinstance(patch, list):
        raise _refuse(None, None, "a JSON Patch is a JSON array of operations")
    if len(patch) > MAX_OPERATIONS:
        raise _refuse(None, None, f"a patch may hold at most {MAX_OPERATIONS} operations")
    doc: Any = copy.deepcopy(body)
    for index, op in enumerate(patch):
        try:
            doc = _apply_one(doc, op)
        except _Failed as exc:
            raise _refuse(index, op, str(exc)) from exc
        except RecursionError as exc:  # a value nested a few hundred levels: copying it exhausts the stack
            raise _refuse(index, op, "its value is nested too deeply") from exc
    if not isinstance(doc, dict):
        raise _refuse(None, None, "the patched document is not a resource")
    return doc


def merge_patch(body: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: members of the patch replace the resource's, null removes one, objects merge recursively."""
    if not isinstance(patch, dict):
        raise _refuse(None, None, "a JSON Merge Patch is a JSON object")
    try:
        merged = _merge(body, patch)
    except RecursionError as exc:
        raise _refuse(None, None, "it is nested too deeply") from exc
    assert isinstance(merged, dict)
    return merged


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out
