"""``mais demo``'s console accounts: one local account per role, with passwords made on the first run.

The passwords are kept beside the demo's keys (``var/demo/console-accounts.json``, mode 0600) so a second run
prints the same ones; they are demo accounts on a demo store, never an installation's.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from mais_node.console.people import ROLE_NAMES, ROLES
from mais_node.console.store import open_accounts
from mais_node.errors import VersionConflict

if TYPE_CHECKING:
    from mais_node.wiring import Services

DEMO_NAMES = {
    "ig-officer": ("ig", "Indira Gill"),
    "auditor": ("auditor", "Aled Jones"),
    "terminology-manager": ("terms", "Tara Mensah"),
    "practitioner": ("practitioner", "Priya Shah"),
    "admin": ("admin", "Adam Novak"),
}


def demo_accounts(services: Services, directory: Path) -> list[tuple[str, str, str]]:
    """(name, role, password) of the demo's accounts, created when missing."""
    record = directory / "console-accounts.json"
    saved: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    accounts = open_accounts(services)
    out = []
    for role in ROLES:
        name, display = DEMO_NAMES[role]
        password = saved.get(name, "")
        if accounts.store.get_person(name) is None:
            password = password or secrets.token_urlsafe(12)
            try:
                accounts.add(name, role, password, display_name=display)
            except VersionConflict:
                password = ""  # made by a demo starting at the same moment, with its own password
        if password:
            saved[name] = password
        out.append((name, ROLE_NAMES[role], password or "(set on an earlier run: not kept)"))
    directory.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(saved, indent=2))
    os.chmod(record, 0o600)
    return out
