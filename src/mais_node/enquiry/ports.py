"""The outside things the enquiry talks to, each behind a narrow port with an in-memory fake in the tests."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from mais_node.enquiry.model import Contact, Match
from mais_node.policy import Requester, SharingPolicy
from mais_node.terminology import TerminologyService


class Directory(Protocol):
    def requester(self, ods: str) -> Requester | None:
        """The register entry of an organisation, or None when it is not in the register."""
        ...


class PersonMatcher(Protocol):
    def match(self, subject: dict[str, Any]) -> Match:
        """The best candidate in the node's person index for the subject, graded as FHIR $match."""
        ...


class Involvements(Protocol):
    def open_episode_contact(self, person_id: str) -> tuple[bool, Contact | None]:
        """Whether the person has an active EpisodeOfCare here, and the organisation holding it."""
        ...

    def subject_of_plan(self, person_id: str) -> bool:
        """Whether the person has an active EpisodeOfCare typed as a plan (CodeSystem ``subject-of-plan-type``)."""
        ...


class Agreements(Protocol):
    def held(self) -> Sequence[SharingPolicy]:
        """Every sharing policy version the node holds (current and superseded, retired included)."""
        ...


class Terminologies(Protocol):
    def __call__(self) -> TerminologyService:
        """The vocabularies in force now."""
        ...

    def pinned(self) -> AbstractContextManager[TerminologyService]:
        """Within the block, every call answers the same vocabularies (one look at the store per enquiry)."""
        ...
