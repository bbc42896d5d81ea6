"""The background import of ``mais serve``: one sync every ``MAIS_REGISTER_SYNC_SECONDS`` on a daemon thread.

A refused or unreachable register is already audited by the import; the node keeps serving on the last good one.
"""

from __future__ import annotations

import logging
import threading

from mais_node.errors import MaisError
from mais_node.network.sync import ImportRefused, RegisterImport

log = logging.getLogger("mais_node.network")


class Poller:
    def __init__(self, importer: RegisterImport, interval: float) -> None:
        self.importer = importer
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mais-register-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.importer.sync()
                if result.applied:
                    log.info("national register serial %s applied (%d changes)", result.serial, len(result.changes))
            except ImportRefused as refused:
                log.warning("national register refused: %s", refused.reason)
            except MaisError as exc:  # the audit trail or the store is down: try again next time
                log.error("national register sync failed: %s", exc.diagnostics)
            self._stop.wait(self.interval)
