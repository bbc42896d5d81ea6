"""A memo of Cedar evaluations for one loaded rule set, keyed so that it never changes a decision.

Why: cedarpy costs ~0.4 ms per decision and the enquiry pipeline decides twice per enquiry, while the same
client of the same organisation asks the same question over and over. Every input of a decision is fixed by
the request except ``context.time``, which differs on every call. A rule set that reads the time only by
comparing it with ``datetime("...")`` literals (as the compiled sharing policies do) decides the same anywhere
strictly between two consecutive literals, and the same at each literal; so the memo keys the time by its
position among those literals. Any other read of the time, or of the context as a whole, keys on the exact
time. Cedar is given the real time whenever it is asked.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from mais_node.policy.outcome import Evaluation

MEMO_CAPACITY = 4096
COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?(?:Z|([+-])(\d{2})(\d{2})))?", re.ASCII
)
_REQUEST_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)

Evaluations = tuple[Evaluation, ...]


def compared_time_literals(policies: Mapping[str, object]) -> list[str] | None:
    """The ``datetime`` literals ``context.time`` is compared with (in the JSON form of a policy set).

    None when some policy reads the time any other way (a method, an offset, a comparison with anything but a
    literal) or uses ``context`` other than through one of its other attributes: the exact time then matters.
    """
    literals: list[str] = []
    for group in ("staticPolicies", "templates"):
        policies_in_group = policies.get(group) or {}
        if not isinstance(policies_in_group, Mapping):
            return None
        for policy in policies_in_group.values():
            if not isinstance(policy, Mapping):
                return None
            body = {key: value for key, value in policy.items() if key != "annotations"}
            if not _reads_time_only_by_literals(body, literals):
                return None
    return literals


def _reads_time_only_by_literals(node: object, literals: list[str]) -> bool:
    """False if ``node`` reads ``context`` in a way a time key cannot stand for; collects the literals."""
    if isinstance(node, list):
        return all(_reads_time_only_by_literals(child, literals) for child in node)
    if not isinstance(node, Mapping):
        return True
    if node.get("Var") == "context":
        return False
    if len(node) == 1:
        ((operator, operands),) = node.items()
        if operator == "." and isinstance(operands, Mapping) and operands.get("left") == {"Var": "context"}:
            return operands.get("attr") != "time"
        if operator in COMPARISONS and isinstance(operands, Mapping):
            literal = _time_comparison(operands.get("left"), operands.get("right"))
            if literal is not None:
                literals.append(literal)
                return True
    return all(_reads_time_only_by_literals(child, literals) for child in node.values())


def _time_comparison(left: object, right: object) -> str | None:
    """The literal of ``context.time <op> datetime("literal")`` (either way round), else None."""
    for time, other in ((left, right), (right, left)):
        if time == {".": {"left": {"Var": "context"}, "attr": "time"}} and isinstance(other, Mapping):
            arguments = other.get("datetime") if len(other) == 1 else None
            if isinstance(arguments, list) and len(arguments) == 1 and isinstance(arguments[0], Mapping):
                value = arguments[0].get("Value") if len(arguments[0]) == 1 else None
                if isinstance(value, str):
                    return value
    return None


def epoch_millis(text: str) -> int | None:
    """Milliseconds since the epoch of a Cedar ``datetime`` string, or None if this reading is not sure of it."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, millis, sign, offset_hours, offset_minutes = match.groups()
    offset = timedelta()
    if sign is not None:
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes)) * (1 if sign == "+" else -1)
    try:
        at = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(millis or 0) * 1000,
            tzinfo=timezone(offset),
        )
        return (at - EPOCH) // MILLISECOND
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class TimeKey:
    """How the decision time enters a memo key: its place among ``boundaries``, or (None) the exact time."""

    boundaries: tuple[int, ...] | None

    @classmethod
    def among(cls, boundaries: Sequence[int]) -> TimeKey:
        return cls(tuple(sorted(set(boundaries))))

    def key_at(self, at: datetime, cedar_time: Callable[[datetime], str]) -> tuple[int, bool] | str:
        """``key`` of the time Cedar receives for ``at`` (an aware datetime), without writing it out unless needed.

        ``cedar_time`` renders ``at`` as the request does (UTC, milliseconds truncated), so its epoch milliseconds
        are ``(at - EPOCH) // MILLISECOND``; a year outside 1000-9999 keys on the rendered time, as ``key`` does.
        """
        if self.boundaries is None or not 1000 <= at.astimezone(UTC).year <= 9999:
            return self.key(cedar_time(at))
        if not self.boundaries:
            return 0, False
        millis = (at - EPOCH) // MILLISECOND
        place = bisect_left(self.boundaries, millis)
        return place, place < len(self.boundaries) and self.boundaries[place] == millis

    def key(self, cedar_time: str) -> tuple[int, bool] | str:
        """Equal for two times exactly when every boundary compares the same way with both.

        A time Cedar might not read as this module does (anything but the request form) keys on itself.
        """
        if self.boundaries is None or _REQUEST_TIME.fullmatch(cedar_time) is None:
            return cedar_time
        millis = epoch_millis(cedar_time)
        if millis is None:
            return cedar_time
        place = bisect_left(self.boundaries, millis)
        return place, place < len(self.boundaries) and self.boundaries[place] == millis


class DecisionMemo:
    """A bounded, least-recently-used map from the exact inputs of a decision to Cedar's evaluations.

    Locked, as handlers run on several threads; two threads missing one key both ask Cedar, for the same answer.
    """

    def __init__(self, capacity: int = MEMO_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[Hashable, Evaluations] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Evaluations | None:
        with self._lock:
            evaluations = self._entries.get(key)
            if evaluations is not None:
                self._entries.move_to_end(key)
            return evaluations

    def put(self, key: Hashable, evaluations: Evaluations) -> None:
        with self._lock:
            self._entries[key] = evaluations
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
