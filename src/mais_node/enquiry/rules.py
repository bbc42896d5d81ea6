"""The decision rules in force (DESIGN §6): national and local rule files plus the compiled sharing policies.

Loaded at start and again whenever a rule file or a held agreement changes (checked at most every few seconds).
An invalid set is refused whole and the last good one stays in force; both outcomes are audited.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node
from mais_node.audit.port import AuditSink
from mais_node.clock import Clock
from mais_node.enquiry.records import ContractAgreements
from mais_node.errors import MaisError
from mais_node.policy import PolicyEngine, compile_sharing_policies, load_rule_set

SYSTEM = Actor(client_id="mais-node")


@dataclass(frozen=True, slots=True)
class InForce:
    """The rule set the node decides with: its content hash, when it was loaded, its sources in load order."""

    content_hash: str
    loaded_at: datetime
    sources: tuple[str, ...]


class RuleBook:
    def __init__(
        self,
        engine: PolicyEngine,
        rules_dir: Path,
        agreements: ContractAgreements,
        *,
        node_ods: str,
        audit: AuditSink,
        node: Node,
        clock: Clock,
        check_every: float = 2.0,
    ) -> None:
        self.engine = engine
        self.rules_dir = rules_dir
        self.agreements = agreements
        self.node_ods = node_ods
        self.audit = audit
        self.node = node
        self.clock = clock
        self.check_every = check_every
        self._fingerprint: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.in_force: InForce | None = None

    def __call__(self) -> PolicyEngine:
        """The engine with the current rules, reloaded first if anything changed since the last look."""
        if time.monotonic() - self._checked >= self.check_every:
            self.refresh()
        return self.engine

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.agreements.fingerprint().encode())
        for path in sorted(self.rules_dir.rglob("*.ceda*")):
            stat = path.stat()
            digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode())
        return digest.hexdigest()

    def refresh(self, *, force: bool = False) -> bool:
        """Reload when the rules or agreements changed; True when a new set is in force."""
        with self._lock:
            self._checked = time.monotonic()
            fingerprint = self.fingerprint()
            if fingerprint == self._fingerprint and not force:
                return False
            self._fingerprint = fingerprint
            try:
                rule_set = load_rule_set(
                    self.rules_dir, compile_sharing_policies(self.agreements.held(), self.node_ods)
                )
                self.engine.load(rule_set)
                self.in_force = InForce(
                    rule_set.content_hash, self.clock.now(), tuple(source.name for source in rule_set.sources)
                )
            except MaisError as exc:
                self.audit.append(
                    balp.rules_loaded(
                        self.node,
                        self.clock.now(),
                        SYSTEM,
                        ruleset=str(self.rules_dir.name),
                        version=fingerprint[:16],
                        accepted=False,
                        reason=exc.diagnostics[:500],
                    )
                )
                if self.engine.rule_set_hash is None:
                    raise
                return False
            self.audit.append(
                balp.rules_loaded(
                    self.node,
                    self.clock.now(),
                    SYSTEM,
                    ruleset=str(self.rules_dir.name),
                    version=rule_set.content_hash,
                    accepted=True,
                )
            )
            return True
