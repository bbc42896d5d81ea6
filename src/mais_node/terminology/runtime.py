"""The vocabularies in force: the files of ``terminology/`` loaded into the store, then edited by terminology
managers as versioned CodeSystems and ValueSets; the service is rebuilt whenever one of them changes.

Each use asks the store for its change token over CodeSystem and ValueSet (one indexed read), so an edit, by this
process or another replica, is in force for the very next enquiry: a retired purpose is refused at once (issue 4
§3). Superseded CodeSystem versions stay answerable by ``version`` ($lookup, $validate-code).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mais_node.fhir.kept import ChangeToken, KeptUntilChanged
from mais_node.fhir.search.parse import encode_cursor
from mais_node.fhir.service import ResourceService
from mais_node.terminology.loader import load_directory
from mais_node.terminology.service import TerminologyService

STORED = ("CodeSystem", "ValueSet")
_PAGE = 200


class Vocabularies:
    def __init__(
        self, resources: ResourceService, files: Path, *, check_every: float = 0.0, token: ChangeToken | None = None
    ) -> None:
        self.resources = resources
        self.files = files
        # The change token they are kept by: over CodeSystem and ValueSet, or one shared with other kept values over
        # more types (wiring: the register entries too), which ``pinned`` then reads once for all of them.
        self.token = token if token is not None else ChangeToken(resources.store, STORED)
        missing = set(STORED) - set(self.token.types)
        if missing:
            raise ValueError(f"the vocabularies' change token must cover {sorted(missing)}")
        # Rebuilt when the store's change token over CodeSystem / ValueSet moves (looked at every ``check_every`` s);
        # ``fingerprint`` is looked up at each use, not bound here.
        self._kept = KeptUntilChanged(lambda: self.fingerprint(), self._build, check_every=check_every)
        self._pinned: contextvars.ContextVar[TerminologyService | None] = contextvars.ContextVar(
            "pinned_vocabularies", default=None
        )
        self._maps = [r for r in load_directory(files) if r.get("resourceType") not in STORED]

    def load_files(self) -> tuple[int, int]:
        """Store each CodeSystem / ValueSet file not yet held (by url and version): (loaded, already held)."""
        loaded = held = 0
        for resource in load_directory(self.files):
            rtype = resource.get("resourceType")
            if rtype not in STORED:
                continue
            criteria = f"url={resource['url']}&version={resource.get('version', '')}"
            written = self.resources.create(
                rtype, {k: v for k, v in resource.items() if k != "id"}, if_none_exist=criteria
            )
            loaded, held = (loaded + 1, held) if written.created else (loaded, held + 1)
        return loaded, held

    def _stored(self) -> Iterator[dict[str, Any]]:
        for rtype in STORED:
            pairs = [("_count", str(_PAGE))]
            while True:
                result = self.resources.search(rtype, pairs)
                yield from (s.body for s in result.page.items)
                if result.page.next_after is None:
                    break
                pairs = [("_count", str(_PAGE)), ("_cursor", encode_cursor(result.page.next_after))]

    def _superseded(self, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Earlier CodeSystem versions (by url and version) the current resources no longer hold, newest first."""
        held = {(r.get("url"), r.get("version")) for r in current if r.get("resourceType") == "CodeSystem"}
        found: dict[tuple[Any, Any], dict[str, Any]] = {}
        after: tuple[str, ...] | None = None
        while True:
            page = self.resources.store.history("CodeSystem", None, _PAGE, after)
            for stored in page.items:
                if stored.deleted:
                    continue
                key = (stored.body.get("url"), stored.body.get("version"))
                if key not in held:
                    found.setdefault(key, stored.body)
            if page.next_after is None:
                return list(found.values())
            after = page.next_after

    def fingerprint(self) -> str:
        return self.token()

    @contextlib.contextmanager
    def pinned(self) -> Iterator[TerminologyService]:
        """One look at the store for a whole enquiry: within the block every call answers the same service.

        An enquiry asks for its vocabularies four or five times (purpose, items, profile bindings, actor); each of
        those looks read the store's newest versions. Pinned, the enquiry is judged on one consistent set, the one in
        force when it arrived, and an edit is still in force for the very next enquiry. The change token is pinned
        for the block too, so what else is kept by it (the requester's register entry) costs no second look.
        """
        pinned = self._pinned.get()
        if pinned is not None:
            yield pinned
            return
        with self.token.pinned():
            service = self()
            token = self._pinned.set(service)
            try:
                yield service
            finally:
                self._pinned.reset(token)

    def __call__(self) -> TerminologyService:
        """The service on the vocabularies in the store now (rebuilt only when one of them changed)."""
        pinned = self._pinned.get()
        if pinned is not None:
            return pinned
        return self._kept()

    def _build(self) -> TerminologyService:
        current = list(self._stored())
        if current:
            superseded = self._superseded(current)
        else:
            current = [r for r in load_directory(self.files) if r.get("resourceType") in STORED]
            superseded = []
        return TerminologyService([*current, *self._maps], superseded=superseded)
