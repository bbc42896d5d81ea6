"""The rule set a node decides with: a Cedar schema and ordered policy sources (DESIGN §6, issue 5 §3).

Sources come in a fixed order: the national rules (``national.cedar``, then one file per use case in
``national/*.cedar`` by name), then the deployment's local rules (``local/*.cedar`` by name), then the policies
compiled from the sharing policies the node holds. The content hash names the exact
rule set in every audit record of a decision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mais_node.errors import Issue, NotConformant

SCHEMA_FILE = "schema.cedarschema"
NATIONAL_FILE = "national.cedar"
NATIONAL_DIR = "national"
LOCAL_DIR = "local"


@dataclass(frozen=True, slots=True)
class PolicySource:
    """One named text of Cedar policies (a rule file or one compiled sharing policy)."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A Cedar schema and its policy sources in load order (the order rule ids are reported in)."""

    schema: str
    sources: tuple[PolicySource, ...]

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` over the schema and every source (name and text), length-prefixed."""
        digest = hashlib.sha256()
        for part in (self.schema, *(piece for s in self.sources for piece in (s.name, s.text))):
            encoded = part.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "big"))
            digest.update(encoded)
        return f"sha256:{digest.hexdigest()}"

    @property
    def text(self) -> str:
        """All policies as one Cedar text, in source order."""
        return "\n".join(source.text for source in self.sources)

    def with_sources(self, extra: Iterable[PolicySource]) -> RuleSet:
        return RuleSet(self.schema, (*self.sources, *extra))


def load_rule_set(directory: Path, compiled: Iterable[PolicySource] = ()) -> RuleSet:
    """Read ``schema.cedarschema``, ``national.cedar``, ``national/*.cedar`` and ``local/*.cedar`` from a rules
    directory."""
    schema_path = directory / SCHEMA_FILE
    national_path = directory / NATIONAL_FILE
    missing = [path.name for path in (schema_path, national_path) if not path.is_file()]
    if missing:
        raise NotConformant(
            f"rules directory {directory} lacks {', '.join(missing)}",
            issues=[Issue(f"rules directory lacks {name}", "required", expression=(name,)) for name in missing],
        )
    sources = [PolicySource(NATIONAL_FILE, national_path.read_text(encoding="utf-8"))]
    # A use case is one file of its own (docs/use-cases.md): adding one touches no other rule file.
    for folder in (NATIONAL_DIR, LOCAL_DIR):
        if (directory / folder).is_dir():
            sources.extend(
                PolicySource(f"{folder}/{path.name}", path.read_text(encoding="utf-8"))
                for path in sorted((directory / folder).glob("*.cedar"))
            )
    sources.extend(compiled)
    return RuleSet(schema_path.read_text(encoding="utf-8"), tuple(sources))
