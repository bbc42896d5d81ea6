"""The hard gates (DESIGN §3): who is asking, is the enquiry well formed, are the claimed agreements in force.

A gate that fails raises before the decision rules are asked; the rules only ever see an enquiry the node could
lawfully consider. Every problem of the enquiry itself is listed at once (422), not only the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mais_node.enquiry.model import Asker, Enquiry
from mais_node.enquiry.ports import Agreements, Directory
from mais_node.errors import Forbidden, Issue, MaisError, NotConformant
from mais_node.policy import CONSENT_NOT_STATED, ClaimedPolicy, DecisionRequest, Item, current_versions
from mais_node.policy.claims import Claims
from mais_node.terminology import CANONICAL_BASE, PURPOSE_SYSTEM, PURPOSE_VALUESET, TerminologyService
from mais_node.validation import ENQUIRY_PROFILE, PERSON_PROFILE, Validator

REQUEST_TYPE_VALUESET = f"{CANONICAL_BASE}/ValueSet/request-type"
CONSENT_VALUESET = f"{CANONICAL_BASE}/ValueSet/consent-status"


class Gates:
    def __init__(
        self,
        *,
        directory: Directory,
        terminology: Callable[[], TerminologyService],
        validator: Callable[[], Validator],
        agreements: Agreements,
        node_ods: str,
    ) -> None:
        self.directory = directory
        self.terminology = terminology
        self.validator = validator
        self.agreements = agreements
        self.node_ods = node_ods

    def check(self, enquiry: Enquiry, asker: Asker, now: datetime) -> DecisionRequest:
        """The decision request for an enquiry that passes every gate; raise Forbidden or NotConformant."""
        requester = self.directory.requester(asker.ods)
        if requester is None:
            raise Forbidden("The requesting organisation is not in this node's register")
        if not requester.active or not requester.verified:
            raise Forbidden("The requesting organisation is not active and verified in the register")
        if enquiry.requester_ods is not None and enquiry.requester_ods != asker.ods:
            raise Forbidden("The requesting organisation named in the enquiry is not the one the token was issued to")
        issues: list[Issue] = []
        purpose, legal_basis = self._purpose(enquiry, issues)
        items = self._items(enquiry, issues)
        consent = self._consent(enquiry, issues)
        issues.extend(self._conformance(enquiry))
        claimed = self._agreements(enquiry, asker.ods, now, issues)
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        if errors:
            raise NotConformant(errors[0].diagnostics, issues=errors)
        return DecisionRequest(requester, asker.client_id, purpose, legal_basis, items, now, claimed, consent=consent)

    def purpose(self, enquiry: Enquiry) -> str:
        """The agreed purpose code the enquiry asserts (a single view's too); NotConformant naming the reason."""
        issues: list[Issue] = []
        code, _ = self._purpose(enquiry, issues)
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        if errors:
            raise NotConformant(errors[0].diagnostics, issues=errors)
        return code

    def _purpose(self, enquiry: Enquiry, issues: list[Issue]) -> tuple[str, str]:
        terminology = self.terminology()
        where = ("reason",) if enquiry.form == "operation" else ("Task.reasonCode",)
        code = enquiry.purpose
        if code is None and enquiry.reason_uri is not None:
            ref = terminology.purpose_for_legislation(enquiry.reason_uri)
            if ref is None:
                issues.append(
                    Issue(
                        f"The reason '{enquiry.reason_uri[:120]}' is not the legislation of an agreed purpose"
                        f" ({_agreed(terminology)}): send the legislation URI of one, or its code as valueCoding",
                        "code-invalid",
                        expression=where,
                    )
                )
                return "", ""
            code = ref.code
        if not code:
            issues.append(Issue("The purpose of the enquiry is missing", "required", expression=where))
            return "", ""
        verdict = terminology.validate_code(PURPOSE_VALUESET, code)
        if not verdict.result:
            issues.append(
                Issue(verdict.message or f"'{code[:40]}' is not an agreed purpose", "code-invalid", expression=where)
            )
            return code, ""
        try:
            properties = dict(terminology.lookup(PURPOSE_SYSTEM, code).properties)
        except MaisError:
            properties = {}
        return code, str(properties.get("legislation", enquiry.reason_uri or ""))

    def _items(self, enquiry: Enquiry, issues: list[Issue]) -> tuple[Item, ...]:
        terminology = self.terminology()
        items: list[Item] = []
        for index, code in enumerate(enquiry.items):
            verdict = terminology.validate_code(REQUEST_TYPE_VALUESET, code)
            where = ("requestedItem",) if enquiry.form == "operation" else (f"Task.input[{index}]",)
            if not verdict.result or code not in {i.value for i in Item}:
                issues.append(
                    Issue(verdict.message or f"'{code[:40]}' is not a request type", "code-invalid", expression=where)
                )
            elif Item(code) not in items:
                items.append(Item(code))
        return tuple(items)

    def _consent(self, enquiry: Enquiry, issues: list[Issue]) -> str:
        """The consent element as the rules see it: a code in force, or "not-stated" when the request has none."""
        if enquiry.consent is None:
            return CONSENT_NOT_STATED
        verdict = self.terminology().validate_code(CONSENT_VALUESET, enquiry.consent)
        if not verdict.result:
            where = ("consent",) if enquiry.form == "operation" else ("Task.input",)
            message = verdict.message or f"'{enquiry.consent[:40]}' is not a consent status"
            issues.append(Issue(message, "code-invalid", expression=where))
        return enquiry.consent

    def _conformance(self, enquiry: Enquiry) -> list[Issue]:
        if enquiry.task is not None:
            return self.task_issues(enquiry.task)
        return self.subject_issues(enquiry.subject)

    def task_issues(self, task: Mapping[str, Any]) -> list[Issue]:
        """The enquiry Task against the ``mais-enquiry`` profile (and R4)."""
        return self.validator().validate(task, ENQUIRY_PROFILE)

    def subject_issues(self, subject: Mapping[str, Any]) -> list[Issue]:
        """The operation's subject against the person profile (and R4), located under ``resource``."""
        return [
            Issue(
                i.diagnostics,
                i.code,
                i.severity,
                tuple(f"resource.{e}" if not e.startswith("resource") else e for e in i.expression),
            )
            for i in self.validator().validate(subject, PERSON_PROFILE)
        ]

    def _agreements(self, enquiry: Enquiry, ods: str, now: datetime, issues: list[Issue]) -> tuple[ClaimedPolicy, ...]:
        if not enquiry.sharing_policies:
            return ()
        held = self.agreements.held()
        claims = Claims(held, current_versions(held))
        claimed: list[ClaimedPolicy] = []
        for name in enquiry.sharing_policies:
            where = ("sharingPolicy",) if enquiry.form == "operation" else ("Task.input",)
            policy = claims.resolve(name)
            if policy is None:
                issues.append(
                    Issue(
                        f"Sharing policy '{name[:80]}' is not known to this node (or is retired)",
                        "not-found",
                        expression=where,
                    )
                )
            elif not policy.in_force(now):
                issues.append(
                    Issue(f"Sharing policy '{name[:80]}' is not in force today", "business-rule", expression=where)
                )
            elif not policy.names_parties(ods, self.node_ods):
                issues.append(
                    Issue(f"Sharing policy '{name[:80]}' does not name both parties", "business-rule", expression=where)
                )
            elif all(c.identifier != policy.identifier for c in claimed):
                claimed.append(policy.claim())
        return tuple(claimed)


def _agreed(terminology: TerminologyService) -> str:
    """The purposes in use, by code, for a message."""
    expansion = terminology.expand(PURPOSE_VALUESET, active_only=True).get("expansion", {})
    return ", ".join(sorted(str(c.get("code")) for c in expansion.get("contains", [])))
