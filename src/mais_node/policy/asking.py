"""This node's own rules on asking (issue 15 item 3): may the single view ask this partner at all?

The requesting side's counterpart of the decision rules: Cedar policies in the rules directory's ``asking/``
folder (its own schema), evaluated for every partner chosen before any call, with action ``Action::"ask"``,
principal this node's organisation, resource the partner (its organisation type and areas) and context the
question (purpose, requested items, the practitioner's system, the area, whether the partner was named). Nothing is
asked unless a rule permits it; a forbid always wins. The adapter is ``adapters/cedar_asking.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mais_node.errors import Issue, NotConformant
from mais_node.policy.ruleset import LOCAL_DIR, SCHEMA_FILE, PolicySource, RuleSet

FORBIDDEN_HERE = "this node's rules forbid asking"
ASKING_DIR = "asking"  # under the rules directory


@dataclass(frozen=True, slots=True)
class Asking:
    """The question as this node's rules see it (the same for every partner of one view)."""

    node_ods: str
    node_type: str
    client: str  # the practitioner's system (its client id), "" when the node asks for itself
    purpose: str
    items: tuple[str, ...]
    area: str | None = None
    named: bool = False  # the practitioner named the partners (``target``) rather than the register choosing


@dataclass(frozen=True, slots=True)
class Target:
    """One partner about to be asked, as the register lists it."""

    ods: str
    type: str
    areas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AskDecision:
    allowed: bool
    rule_ids: tuple[str, ...]  # allowed: the permits that fired; else the forbids (or "default-deny": none permitted)


class AskRules(Protocol):
    def decide(self, asking: Asking, targets: Sequence[Target]) -> list[AskDecision]:
        """One decision per target, in order; ``Unavailable`` when no valid rule set is loaded."""
        ...


class AskEveryone:
    """The rules with nothing in them but the default permit: the fake for the fast tests."""

    def __init__(self, forbid_types: Sequence[str] = ()) -> None:
        self.forbid_types = frozenset(forbid_types)

    def decide(self, asking: Asking, targets: Sequence[Target]) -> list[AskDecision]:
        return [
            AskDecision(False, ("fake:forbid",)) if t.type in self.forbid_types else AskDecision(True, ("fake:permit",))
            for t in targets
        ]


def load_asking_rules(rules_dir: Path) -> RuleSet:
    """``asking/schema.cedarschema``, ``asking/*.cedar`` then ``asking/local/*.cedar`` (each by name)."""
    directory = rules_dir / ASKING_DIR
    schema = directory / SCHEMA_FILE
    if not schema.is_file():
        raise NotConformant(
            f"rules directory {rules_dir} lacks {ASKING_DIR}/{SCHEMA_FILE} (this node's rules on asking)",
            issues=[Issue(f"lacks {ASKING_DIR}/{SCHEMA_FILE}", "required", expression=(ASKING_DIR,))],
        )
    files = [*sorted(directory.glob("*.cedar")), *sorted((directory / LOCAL_DIR).glob("*.cedar"))]
    sources = tuple(
        PolicySource(path.relative_to(rules_dir).as_posix(), path.read_text(encoding="utf-8")) for path in files
    )
    return RuleSet(schema.read_text(encoding="utf-8"), sources)


def fingerprint(rules_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when an operator edits a file of ``asking/`` (names, sizes, modification times)."""
    directory = rules_dir / ASKING_DIR
    paths = [directory / SCHEMA_FILE, *directory.glob("*.cedar"), *(directory / LOCAL_DIR).glob("*.cedar")]
    found = []
    for path in sorted(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((path.as_posix(), stat.st_size, stat.st_mtime_ns))
    return tuple(found)
