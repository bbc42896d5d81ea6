"""Memoised FHIRPath invariants: an invariant's verdict is a pure function of its focus, so it is kept in a bounded
LRU keyed by the expression and the focus (fhirpathpy spends ~250 µs on the NHS number's Modulus 11 alone).

The evaluation is given only the focus (``%context`` is the focus itself; nothing else of the resource is visible),
so a verdict cannot depend on anything outside it. Two refinements keep it exact:

- expressions that read the clock (``now()``, ``today()``, ``timeOfDay()``) or act (``trace()``) are never memoised;
- when an expression can only reach the focus through member names it spells out (no ``$this``, ``%`` variables,
  functions applied to the focus itself, or type names), the key holds only those members (and their ``_name``
  siblings and ``resourceType``): ``for.reference.startsWith('#')`` is keyed by the Task's ``for``, not the Task.

A focus is keyed by its exact JSON types and order (``1``, ``1.0`` and ``true`` differ; so do a list and a tuple);
a focus holding anything else, or too big to be worth keeping, is evaluated every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, cast

from fhirpathpy.parser import parse as _untyped_parse

IMPURE = frozenset({"now", "today", "timeOfDay", "trace"})
# A term at the start of a path that is evaluated on the focus as a whole: the key must hold all of it.
WHOLE_FOCUS = frozenset({"ThisInvocation", "IndexInvocation", "TotalInvocation", "ExternalConstantTerm"})
MAX_KEY_NODES = 256
MAX_KEY_CHARS = 4096
DEFAULT_SIZE = 1024
parse = cast(Callable[[str], Mapping[str, Any]], _untyped_parse)


class Uncacheable(Exception):
    """The focus holds a value outside plain JSON types, or is larger than a key is allowed to be."""


def analyse(expression: str) -> tuple[bool, frozenset[str] | None]:
    """Whether the expression may be memoised, and the focus members it can read (``None``: the whole focus)."""
    tree = parse(expression)
    nodes = list(_walk(tree))
    names = {str(n.get("text", "")).replace("`", "") for n in nodes if n.get("type") == "Identifier"}
    functions = {_function_name(n) for n in nodes if n.get("type") == "FunctionInvocation"}
    if functions & IMPURE:
        return False, None
    for node in nodes:
        kind = node.get("type")
        if kind in WHOLE_FOCUS:
            return True, None
        if kind == "InvocationTerm":
            start = node["children"][0]
            if start["type"] == "FunctionInvocation" and _function_name(start) != "iif":
                return True, None
            if start["type"] not in ("MemberInvocation", "FunctionInvocation"):
                return True, None
    if any(name[:1].isupper() for name in names):  # ``Patient.name`` selects the focus itself by its type
        return True, None
    return True, frozenset({"resourceType", *names, *(f"_{name}" for name in names)})


def focus_key(value: Any, reads: frozenset[str] | None) -> Hashable:
    """The focus as a hashable value that tells apart everything fhirpathpy can tell apart (raises ``Uncacheable``)."""
    budget = [MAX_KEY_NODES, MAX_KEY_CHARS]
    if reads is not None and type(value) is dict:
        if any(type(k) is not str for k in value):
            raise Uncacheable
        return ("d", tuple((k, _freeze(v, budget)) for k, v in value.items() if k in reads))
    return _freeze(value, budget)


class InvariantMemo:
    """A bounded LRU of invariant verdicts, shared by every validation a ``Validator`` runs (thread-safe)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._verdicts: OrderedDict[Hashable, bool] = OrderedDict()
        self._lock = threading.Lock()

    def holds(self, expression: str, reads: frozenset[str] | None, value: Any, evaluate: Callable[[Any], bool]) -> bool:
        """The verdict of ``evaluate(value)``, computed once per distinct key."""
        try:
            key = (expression, focus_key(value, reads))
        except Uncacheable:
            return evaluate(value)
        with self._lock:
            verdict = self._verdicts.get(key)
            if verdict is not None:
                self._verdicts.move_to_end(key)
                return verdict
        verdict = evaluate(value)
        with self._lock:
            self._verdicts[key] = verdict
            if len(self._verdicts) > self._size:
                self._verdicts.popitem(last=False)
        return verdict

    def __len__(self) -> int:
        return len(self._verdicts)


def _freeze(value: Any, budget: list[int]) -> Hashable:
    budget[0] -= 1
    if budget[0] < 0:
        raise Uncacheable
    kind = type(value)
    plain: Hashable = value
    if kind is str:
        budget[1] -= len(value)
        if budget[1] < 0:
            raise Uncacheable
        return plain
    if kind is int or value is None:
        return plain
    if kind is bool:
        return ("b", value)
    if kind is float:
        return ("f", repr(value))
    if kind is list:
        return ("l", tuple(_freeze(item, budget) for item in value))
    if kind is dict:
        if any(type(k) is not str for k in value):
            raise Uncacheable
        budget[1] -= sum(len(k) for k in value)
        return ("d", tuple((k, _freeze(v, budget)) for k, v in value.items()))
    raise Uncacheable


def _walk(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    for child in node.get("children", ()):
        yield from _walk(child)


def _function_name(node: Mapping[str, Any]) -> str:
    """``FunctionInvocation`` → ``Functn`` → its first child, the function's ``Identifier``."""
    return str(node["children"][0]["children"][0].get("text", ""))
