"""``mais demo --network`` gives the requesting LA's node a practitioner's console account and prints it, so the
single view can be tried in a browser (issue 16 §7) as well as with ``mais single-view``."""

from __future__ import annotations

from pathlib import Path

from mais_node.config import Settings
from mais_node.console.store import open_accounts
from mais_node.demo import DemoClient
from mais_node.demo_network import MEMBERS, Network, _console_practitioner, describe
from mais_node.wiring import build_services


def test_the_las_node_has_a_practitioner_account_and_the_demo_prints_it(tmp_path: Path) -> None:
    name, password = _console_practitioner(tmp_path)
    client = DemoClient("practitioner", "client-1", tmp_path / "key.json", tmp_path / "record.json")
    bases = {ods: f"http://{ods.lower()}" for ods in ("AUTH01", "LA0001", *(m.ods for m in MEMBERS))}
    network = Network(tmp_path, bases, client, client, (name, password))
    assert f"http://la0001/console, sign in as {name} / {password}, then Single view" in describe(network)
    services = build_services(Settings(store=f"sqlite:///{tmp_path / 'LA0001.db'}", node_org="LA0001"))
    try:
        person = open_accounts(services).sign_in(name, password)  # the printed password signs in
    finally:
        services.close()
    assert person.role == "practitioner"
    assert person.may("mais/single-view")
