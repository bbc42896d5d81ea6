"""The single view's parts on one node (issue 15), built at its first use by the route: the httpx ``Peers`` signing
with the node's identity keys as its system in the register, the fan-out on the national register, and the service.

Built lazily because its HTTP client belongs to the event loop that serves the node, not to the CLI's commands.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mais_node.adapters.cedar_asking import CedarAskRules
from mais_node.adapters.peers_http import HttpPeers, Identity
from mais_node.audit.actors import Actor
from mais_node.config import DEFAULTS
from mais_node.enquiry.model import Asker
from mais_node.errors import MaisError, Unavailable
from mais_node.network.fan_out import FanOut
from mais_node.network.follow_up import FollowUpLoop
from mais_node.network.single_view import SingleViews
from mais_node.network.starting import Begun, begin
from mais_node.policy.asking import ASKING_DIR
from mais_node.wiring import Services

EXTRA = "single_views"
log = logging.getLogger("mais_node.network")


def own_client_id(services: Services) -> str | None:
    """This node's client id: ``MAIS_IDENTITY_CLIENT_ID``, else the register's system of this node's organisation
    whose JWKS URL is this node's ``/.well-known/jwks.json``."""
    if services.settings.identity_client_id:
        return services.settings.identity_client_id
    if services.network is None:
        return None
    jwks_url = f"{services.settings.public_base}/.well-known/jwks.json"
    found = [c for c in services.network.national.clients(services.settings.node_org) if c.jwks_uri == jwks_url]
    return found[0].client_id if len(found) == 1 else None


def single_views(services: Services) -> SingleViews:
    built: SingleViews | None = services.extras.get(EXTRA)
    if built is not None:
        return built
    client_id = own_client_id(services)
    identity = services.extras.get("identity")
    if client_id is None or identity is None or services.network is None:
        raise Unavailable(
            "This node cannot ask its partners: it is not a system in the national register (set MAIS_IDENTITY_KEYS, "
            "and MAIS_IDENTITY_CLIENT_ID or the register's JWKS URL of this node)"
        )
    settings = services.settings
    peers = HttpPeers(Identity(client_id, identity.signing_key), max_bytes=settings.max_body_bytes)
    national = services.network.national
    built = SingleViews(
        fan_out=FanOut(peers, services.clock, listing=national),
        listing=national,
        terminology=services.vocabularies,
        store=services.resources,
        follow_ups=services.network.store,
        audit=services.checkpointer,
        clock=services.clock,
        node=services.node,
        live_seconds=settings.single_view_seconds,
        collection_seconds=settings.single_view_collection_seconds,
        ask_rules=ask_rules(settings.rules_dir),
    )
    services.extras[EXTRA] = built
    return built


def begin_single_view(services: Services, raw: bytes, asker: Asker, actor: Actor) -> Begun:
    """Read a ``$single-view`` Parameters and start its view on this node: what the REST operation and the console's
    form both call (``network/starting.py``)."""
    return begin(lambda: single_views(services), services.enquiries, raw, asker, actor)


def ask_rules(rules_dir: Path) -> CedarAskRules:
    """This node's rules on asking: ``<rules_dir>/asking``, or the package's defaults (ask every partner chosen) when
    an organisation's own rules directory has none yet."""
    if not (rules_dir / ASKING_DIR).is_dir():
        log.warning("%s has no %s/ folder: the default rules on asking are in force", rules_dir, ASKING_DIR)
        rules_dir = DEFAULTS / "rules"
    rules = CedarAskRules(rules_dir)
    try:
        rules.load()
    except MaisError as exc:  # every single view is refused (503) until the files are mended
        log.error("rules on asking refused: %s", exc.diagnostics)
    return rules


def start_follow_ups(services: Services) -> FollowUpLoop | None:
    """This worker's follow-ups of referred rows (any view of this node, whoever started it), claimed from the store
    while this node can ask its partners."""
    if services.network is None:
        return None

    def rounds() -> SingleViews | None:
        try:
            return single_views(services)
        except Unavailable:
            return None  # not a system in the register (yet): no view of this node can be followed here

    loop = FollowUpLoop(
        services.network.store,
        rounds,
        lambda: services.clock.now().timestamp(),
        tick=services.settings.single_view_follow_seconds,
    )
    loop.start()
    return loop


async def close_single_views(services: Services) -> None:
    """At shutdown: stop the follow-ups and close the HTTP client, if the single view was ever used."""
    built: SingleViews | None = services.extras.pop(EXTRA, None)
    if built is not None:
        await built.aclose()
