"""What the node must understand of a sharing policy before it holds one, and how a requester may name it
(MAIS information governance v0.1: ``URI``, ``Identifier.System``, ``Identifier.value``; issue 12 item 10).

An agreement is refused when a clause would compile to nothing (a ``PermittedUse`` that grants no request type,
a ``Purpose`` not in the node's vocabulary) or when it could never be claimed (this node is not a party, or no
other party is): otherwise it is held, looks in force, and every enquiry under it is silently referred.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from mais_node.errors import Issue, NotConformant
from mais_node.fhir.nearest import did_you_mean
from mais_node.policy.sharing_policy import ODRL, SharingPolicy, use_items
from mais_node.terminology import CANONICAL_BASE, PURPOSE_VALUESET, TerminologyService

# The identifier system of the Contract a sharing policy is held as: a requester may name the agreement by it too.
CONTRACT_SYSTEM = f"{CANONICAL_BASE}/sharing-policy"
USES = ("is-known", "is-open", "contact", "odrl:read", "odrl:use")


def check_interpretable(policy: SharingPolicy, *, node_ods: str, purposes: Collection[str]) -> None:
    """Raise ``NotConformant`` naming every clause of the agreement the node could not act on."""
    issues: list[Issue] = []
    for n, use in enumerate(policy.permitted_uses):
        if not use_items(use):
            issues.append(
                _issue(
                    f"PermittedUse[{n}]",
                    f"'{use[:80]}' is not a use this node can interpret{did_you_mean(use, USES)}: write"
                    f" {', '.join(USES)} (a request type may be system|code, an ODRL action its URI {ODRL}read)",
                )
            )
    for n, purpose in enumerate(policy.purposes):
        if purpose not in purposes:
            issues.append(
                _issue(
                    f"Purpose[{n}]",
                    f"'{purpose[:80]}' is not a purpose in this node's vocabulary{did_you_mean(purpose, purposes)}:"
                    f" the purposes are {', '.join(sorted(purposes))}",
                )
            )
    if node_ods not in policy.party_codes:
        issues.append(_issue("Party", f"no party is this node's organisation ({node_ods}): it cannot be claimed here"))
    elif not policy.party_codes - {node_ods}:
        issues.append(_issue("Party", "names no party besides this node: nobody could claim it"))
    if issues:
        raise NotConformant(
            f"the sharing policy {policy.identifier} cannot be held: {issues[0].diagnostics}", issues=issues
        )


def purpose_codes(terminology: TerminologyService) -> frozenset[str]:
    """Every purpose of the vocabulary, drafts included: an agreement may be made ahead of its purpose's use."""
    expansion = terminology.expand(PURPOSE_VALUESET).get("expansion", {})
    return frozenset(str(c["code"]) for c in expansion.get("contains", []) if isinstance(c.get("code"), str))


def _issue(where: str, message: str) -> Issue:
    return Issue(f"{where}: {message}", "not-supported", expression=(f"SharingPolicy.{where}",))


class Claims:
    """Resolves the name a requester gives a claimed agreement: its ``URI`` (of any version), its
    ``Identifier.System|Identifier.value``, or its ``Identifier.value``; to the version in force of that agreement."""

    def __init__(self, held: Iterable[SharingPolicy], current: Sequence[SharingPolicy]) -> None:
        self._current: Mapping[str, SharingPolicy] = {p.identifier: p for p in current}
        self._names: dict[str, str] = {}
        for policy in held:
            for name in self._aliases(policy):
                self._names.setdefault(name, policy.identifier)
        for policy in current:  # the version in force names its agreement, whatever an older one said
            for name in self._aliases(policy):
                self._names[name] = policy.identifier

    @staticmethod
    def _aliases(policy: SharingPolicy) -> tuple[str, ...]:
        return (
            policy.uri,
            f"{policy.identifier_system}|{policy.identifier}",
            f"{CONTRACT_SYSTEM}|{policy.identifier}",
        )

    def resolve(self, name: str) -> SharingPolicy | None:
        """The agreement in force the name denotes, or None (unknown, or retired)."""
        identifier = self._names.get(name.strip(), name.strip())
        return self._current.get(identifier)
