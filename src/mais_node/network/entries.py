"""What an import remembers of the entries it applied, so that the next serial reads only the entries that differ.

A serial of the national register repeats nearly every entry of the one before. Each entry is keyed by its
canonical JSON (``canonical.entries``: computed afresh from every document, never taken from memory), which
determines its value exactly, types included. An entry whose bytes the last applied serial held is known to be
plain JSON (``canonical.bundle_canonical`` does not walk it) and is read as it was then (``bundle.parse`` does not
check it again: the entry checks are functions of the entry alone); the checks across entries (one organisation per
ODS code, each system's organisation present, …) run on every entry of every document, and the signature is always
verified over the whole document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mais_node.network.canonical import entries


@dataclass
class Reading:
    """One document's entries: their canonical bytes, what the last serial applied read from the same bytes."""

    pieces: list[bytes]
    known: dict[bytes, Any]
    plain: bool = False  # set by the signature check: every piece is the entry's canonical form
    read: dict[bytes, Any] = field(default_factory=dict)  # filled by bundle.parse: piece → what it read


@dataclass
class EntryCache:
    """The entries of the serial this importer applied last (``serial``), as ``bundle.parse`` read them."""

    serial: int | None = None
    _read: dict[bytes, Any] = field(default_factory=dict)

    def reading(self, document: dict[str, Any], previous_serial: int | None) -> Reading | None:
        """The entries of ``document``; what is known is used only over the serial it was read for."""
        items = document.get("entry")
        if not isinstance(items, list):
            return None
        known = self._read if previous_serial is not None and previous_serial == self.serial else {}
        return Reading(entries(items), known)

    def keep(self, serial: int, reading: Reading | None) -> None:
        """``serial`` is applied: remember its entries (only those, so memory holds one serial)."""
        if reading is None or not reading.plain:
            self.serial, self._read = None, {}
            return
        self.serial, self._read = serial, reading.read
