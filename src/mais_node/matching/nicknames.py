"""Given-name equivalences used in England (Bill for William, Peggy for Margaret, Jack for John), read from
the package data file ``data/nicknames.txt`` (issue 5 §6 "common nicknames").
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from mais_node.matching.normalise import normalise_name


def read_data_lines(name: str) -> list[str]:
    """The non-blank, non-comment lines of a file in ``mais_node.matching.data``."""
    text = resources.files("mais_node.matching.data").joinpath(name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@cache
def nickname_groups() -> dict[str, frozenset[int]]:
    """For every normalised name in the table, the numbers of the equivalence groups it belongs to."""
    groups: dict[str, set[int]] = {}
    for number, line in enumerate(read_data_lines("nicknames.txt")):
        for name in line.split():
            groups.setdefault(normalise_name(name), set()).add(number)
    return {name: frozenset(numbers) for name, numbers in groups.items()}


def are_nicknames(first: str, second: str) -> bool:
    """True when two different normalised given names stand for each other (share an equivalence group)."""
    groups = nickname_groups()
    first_groups = groups.get(first)
    second_groups = groups.get(second)
    return first != second and bool(first_groups and second_groups and not first_groups.isdisjoint(second_groups))


@cache
def nicknames_of(name: str) -> tuple[str, ...]:
    """Every other name equivalent to a normalised given name, sorted."""
    numbers = nickname_groups().get(name, frozenset())
    return tuple(sorted(other for other, theirs in nickname_groups().items() if other != name and numbers & theirs))
