"""The vocabularies in force: the files of ``terminology/`` loaded into the store, then edited by terminology
managers as versioned CodeSystems and ValueSets; the service is rebuilt whenever one of them changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mais_node.fhir.search.parse import encode_cursor
from mais_node.fhir.service import ResourceService
from mais_node.terminology.loader import load_directory
from mais_node.terminology.service import TerminologyService

STORED = ("CodeSystem", "ValueSet")


class Vocabularies:
    def __init__(self, resources: ResourceService, files: Path, *, check_every: float = 2.0) -> None:
        self.resources = resources
        self.files = files
        self.check_every = check_every
        self._service: TerminologyService | None = None
        self._fingerprint = ""
        self._checked = 0.0
        self._lock = threading.Lock()
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
            pairs = [("_count", "200")]
            while True:
                result = self.resources.search(rtype, pairs)
                yield from (s.body for s in result.page.items)
                if result.page.next_after is None:
                    break
                pairs = [("_count", "200"), ("_cursor", encode_cursor(result.page.next_after))]

    def fingerprint(self) -> str:
        parts = []
        for rtype in STORED:
            page = self.resources.store.history(rtype, None, 1, None)
            parts.append("" if not page.items else f"{page.items[0].id}/{page.items[0].version}")
        return "|".join(parts)

    def __call__(self) -> TerminologyService:
        """The current service; rebuilt (at most every few seconds) when a vocabulary changed."""
        if self._service is not None and time.monotonic() - self._checked < self.check_every:
            return self._service
        with self._lock:
            self._checked = time.monotonic()
            fingerprint = self.fingerprint()
            if self._service is None or fingerprint != self._fingerprint:
                resources = list(self._stored()) or [
                    r for r in load_directory(self.files) if r.get("resourceType") in STORED
                ]
                self._service = TerminologyService([*resources, *self._maps])
                self._fingerprint = fingerprint
            return self._service
