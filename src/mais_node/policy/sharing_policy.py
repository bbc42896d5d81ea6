"""The MAIS SharingPolicy: a machine-readable data sharing agreement (MAIS information governance v0.1,
``ig-dsa.json``; DESIGN §6; issue 5 §4).

Fields keep the standard's names (``Party``, ``Data``, ``Purpose``, ``StartDate``, ``EndDate``,
``PermittedUse``, ``Restrictions``, ``DataRecipientResponsibilities``, ``SecurityMeasure``,
``LegalCompliance``). Two fields go beyond v0.1, because a node must version and retire agreements:
``Version`` (a positive integer, default 1; a higher version of the same ``Identifier.value`` supersedes)
and ``Status`` (``active`` or ``retired``).

What the clauses grant. ``PermittedUse`` codes are request types (``is-known``, ``is-open``, ``contact``,
bare or as ``system|code``) or ODRL actions: ``odrl:read`` / ``odrl:use`` grant is-known and is-open, never
the contact, which must be granted by name (data minimisation). ``Restrictions`` naming a request type
forbid it under the agreement; other restrictions, the recipient's duties, security measures and legal
compliance bind the recipient and are recorded, not compiled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from mais_node.errors import Issue, NotConformant
from mais_node.policy.model import ClaimedPolicy, Clause, ClauseEffect, Item

ODRL = "http://www.w3.org/ns/odrl/2/"
_ODRL_READ = frozenset({Item.IS_KNOWN, Item.IS_OPEN})
_ITEMS_BY_USE: Mapping[str, frozenset[Item]] = {
    **{item.value: frozenset({item}) for item in Item},
    "odrl:read": _ODRL_READ,
    "odrl:use": _ODRL_READ,
}
DATA_CATEGORIES = frozenset({"involvement", "state", "event"})
# Matched whole (``fullmatch``): with ``match``, ``$`` would let a trailing newline through into rule ids.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SAFE_ODS = re.compile(r"[A-Za-z0-9]{2,12}")
STATUSES = ("active", "retired")


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    catalogue_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SharingPolicy:
    """One version of a data sharing agreement between parties of the organisations register."""

    uri: str
    identifier: str
    identifier_system: str
    name: str
    contact: str
    parties: tuple[Party, ...]
    data: tuple[str, ...]
    purposes: tuple[str, ...]
    start: date
    end: date
    permitted_uses: tuple[str, ...]
    restrictions: tuple[str, ...] = ()
    recipient_responsibilities: tuple[str, ...] = ()
    security_measures: tuple[str, ...] = ()
    legal_compliance: tuple[str, ...] = ()
    version: int = 1
    status: str = "active"

    @property
    def key(self) -> str:
        """``dsa:<identifier>:v<version>``: the prefix of every rule id compiled from this version."""
        return f"dsa:{self.identifier}:v{self.version}"

    @property
    def party_codes(self) -> frozenset[str]:
        return frozenset(code for party in self.parties for code in party.catalogue_ids)

    @property
    def data_categories(self) -> frozenset[str]:
        """The node's data categories among ``Data`` (the rest are descriptions)."""
        return frozenset(code for code in map(_code, self.data) if code in DATA_CATEGORIES)

    @property
    def unmapped_uses(self) -> tuple[str, ...]:
        """Permitted uses that grant no request type (reported to IG officers, never compiled)."""
        return tuple(use for use in self.permitted_uses if use_items(use) == frozenset())

    def in_force(self, at: datetime) -> bool:
        """Active and ``StartDate`` ≤ the UTC date of ``at`` ≤ ``EndDate`` (both dates inclusive)."""
        return self.status == "active" and self.start <= at.astimezone(UTC).date() <= self.end

    def names_parties(self, a: str, b: str) -> bool:
        return {a, b} <= self.party_codes

    def retired(self) -> SharingPolicy:
        return replace(self, status="retired")

    def clauses(self) -> tuple[Clause, ...]:
        """The compiled clauses, each with its rule id: permits first, then restrictions."""
        permits = [
            Clause(f"{self.key}:clause:permitted-use-{n}", ClauseEffect.PERMIT, use_items(use))
            for n, use in enumerate(self.permitted_uses, start=1)
        ]
        forbids = [
            Clause(f"{self.key}:clause:restriction-{n}", ClauseEffect.FORBID, use_items(code, odrl=False))
            for n, code in enumerate(self.restrictions, start=1)
        ]
        return tuple(clause for clause in (*permits, *forbids) if clause.items)

    def claim(self) -> ClaimedPolicy:
        """This agreement as a decision request carries it once the hard gates have accepted the claim."""
        return ClaimedPolicy(
            self.identifier, self.version, frozenset(self.purposes), self.data_categories, self.clauses()
        )


def use_items(use: str, *, odrl: bool = True) -> frozenset[Item]:
    """The request types a ``PermittedUse`` code grants (``odrl=False``: a ``Restrictions`` code forbids)."""
    code = _code(use)
    if code.startswith("odrl:") and not odrl:
        return frozenset()
    return _ITEMS_BY_USE.get(code, frozenset())


def _code(value: str) -> str:
    """The code of ``code``, ``system|code``, ``system#code`` or an ODRL action URI."""
    if value.startswith(ODRL):
        return "odrl:" + value.removeprefix(ODRL)
    return re.split(r"[|#]", value)[-1].strip()


def read_sharing_policy(path: Path) -> SharingPolicy:
    """Parse a SharingPolicy JSON file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotConformant(f"{path.name}: not a readable JSON document") from exc
    return parse_sharing_policy(document)


def parse_sharing_policy(document: object) -> SharingPolicy:
    """Parse and check a SharingPolicy document; ``NotConformant`` lists every problem found."""
    reader = _Reader(document if isinstance(document, Mapping) else {})
    if not isinstance(document, Mapping):
        reader.problem("SharingPolicy", "a SharingPolicy is a JSON object")
    identifier = reader.mapping("Identifier")
    parties = [_party(reader, i, raw) for i, raw in enumerate(reader.objects("Party"))]
    policy = SharingPolicy(
        uri=reader.text("URI", reader.field("URI")),
        identifier=reader.text("Identifier.value", identifier.get("value"), pattern=_SAFE_ID),
        identifier_system=reader.text("Identifier.System", identifier.get("System")),
        name=reader.text("Name", reader.field("Name")),
        contact=reader.text("Contact", reader.field("Contact")),
        parties=tuple(parties),
        data=reader.codes("Data"),
        purposes=tuple(_code(p) for p in reader.codes("Purpose")),
        start=reader.date("StartDate"),
        end=reader.date("EndDate"),
        permitted_uses=reader.codes("PermittedUse"),
        restrictions=reader.codes("Restrictions", required=False),
        recipient_responsibilities=reader.codes("DataRecipientResponsibilities", required=False),
        security_measures=reader.codes("SecurityMeasure", required=False),
        legal_compliance=reader.codes("LegalCompliance", required=False),
        version=reader.version(),
        status=reader.status(),
    )
    for n, purpose in enumerate(policy.purposes):
        if not _SAFE_ID.fullmatch(purpose):
            reader.problem(f"Purpose[{n}]", f"purpose code {purpose!r} is not a code")
    if not policy.data_categories:
        reader.problem("Data", f"names none of the node's data categories ({', '.join(sorted(DATA_CATEGORIES))})")
    if policy.start > policy.end:
        reader.problem("EndDate", "EndDate is before StartDate")
    reader.raise_if_any()
    return policy


def _party(reader: _Reader, index: int, raw: Mapping[str, object]) -> Party:
    where = f"Party[{index}]"
    ids = raw.get("CatalogueID")
    values = ids if isinstance(ids, list) else [ids]
    codes = []
    for n, value in enumerate(values):
        code = value.get("value") if isinstance(value, Mapping) else value
        codes.append(reader.text(f"{where}.CatalogueID[{n}]", code, pattern=_SAFE_ODS))
    return Party(reader.text(f"{where}.Name", raw.get("Name")), tuple(codes))


class _Reader:
    """Reads fields of one document, collecting one Issue per problem instead of stopping at the first."""

    def __init__(self, document: Mapping[str, object]) -> None:
        self._document = document
        self._issues: list[Issue] = []

    def problem(self, where: str, message: str) -> None:
        self._issues.append(Issue(f"{where}: {message}", "invalid", expression=(f"SharingPolicy.{where}",)))

    def raise_if_any(self) -> None:
        if self._issues:
            raise NotConformant(
                f"the SharingPolicy is not conformant ({len(self._issues)} problems)", issues=self._issues
            )

    def mapping(self, name: str) -> Mapping[str, object]:
        value = self._document.get(name)
        if isinstance(value, Mapping):
            return value
        self.problem(name, "required object is missing")
        return {}

    def field(self, name: str) -> object:
        return self._document.get(name)

    def text(self, where: str, value: object, *, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            self.problem(where, "required text is missing")
            return ""
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(where, f"{value!r} is not a valid identifier")
        return value

    def many(self, name: str, *, required: bool = True) -> list[object]:
        value = self._document.get(name)
        values = [] if value is None else value if isinstance(value, list) else [value]
        if required and not values:
            self.problem(name, "at least one value is required")
        return values

    def objects(self, name: str) -> list[Mapping[str, object]]:
        found: list[Mapping[str, object]] = []
        for n, value in enumerate(self.many(name)):
            if isinstance(value, Mapping):
                found.append(value)
            else:
                self.problem(f"{name}[{n}]", "expected an object")
        return found

    def codes(self, name: str, *, required: bool = True) -> tuple[str, ...]:
        codes: list[str] = []
        for n, value in enumerate(self.many(name, required=required)):
            code = value.get("code") if isinstance(value, Mapping) else value
            if isinstance(code, str) and code.strip():
                codes.append(code.strip())
            else:
                self.problem(f"{name}[{n}]", "expected a code (text, or an object with a code)")
        return tuple(codes)

    def date(self, name: str) -> date:
        value = self._document.get(name)
        try:
            if isinstance(value, str):
                return date.fromisoformat(value[:10])
        except ValueError:
            pass
        self.problem(name, "expected a date (YYYY-MM-DD)")
        return date.min

    def version(self) -> int:
        value = self._document.get("Version", 1)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.problem("Version", "expected a positive integer")
        return 1

    def status(self) -> str:
        value = self._document.get("Status", "active")
        if value in STATUSES:
            return str(value)
        self.problem("Status", f"expected one of {', '.join(STATUSES)}")
        return "retired"


def current_versions(policies: Sequence[SharingPolicy]) -> tuple[SharingPolicy, ...]:
    """The highest version of each agreement, unless that version is retired (it never revives an older one)."""
    latest: dict[str, SharingPolicy] = {}
    for policy in policies:
        held = latest.get(policy.identifier)
        if held is None or policy.version > held.version:
            latest[policy.identifier] = policy
    return tuple(policy for policy in latest.values() if policy.status == "active")
