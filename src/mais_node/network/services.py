"""The network's parts on one node, as the composition root builds them, and what ``/readyz`` says of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mais_node.network.national import NationalRegister
from mais_node.network.ports import NetworkStore
from mais_node.network.sync import RegisterImport


@dataclass
class Network:
    national: NationalRegister
    store: NetworkStore
    importer: RegisterImport | None = None  # None: this node imports no national register
    interval: float = 60.0
    closers: list[Callable[[], None]] = field(default_factory=list)

    def readiness(self, now: datetime) -> dict[str, Any]:
        """The register in force: its serial and expiry, whether it is past it, and why the last sync failed."""
        content = self.national.content()
        detail: dict[str, Any] = {"source": self.importer.source_name if self.importer else None}
        if content is None:
            return detail | {"serial": None, "expired": None}
        detail |= {"serial": content.serial, "issued": content.issued, "expires": content.expires}
        detail["expired"] = datetime.fromisoformat(content.expires) <= now
        if self.importer is not None and self.importer.last_refusal:
            detail["last_refusal"] = self.importer.last_refusal
        return detail
