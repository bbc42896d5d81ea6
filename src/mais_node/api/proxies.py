"""The caller's network address as the node believes it (issue 13 item 4).

``X-Forwarded-For`` is anyone's to write: it is believed only when the connection comes from a reverse proxy the
operator named (``MAIS_TRUSTED_PROXIES``, none by default). Its list is then read from the right, each hop having
appended the address it saw, and the first address that is not itself a trusted proxy is the caller: what the
caller wrote to the left of that is its own claim and is ignored. An entry that is not an address stops the walk at
the last trusted hop, which is then the address recorded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(host: str, proxies: Iterable[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def believed_client(scope: Scope, proxies: tuple[Network, ...]) -> tuple[str, int] | None:
    """The (host, port) to treat as the caller: the peer, or what trusted proxies say the caller was."""
    peer: tuple[str, int] | None = scope.get("client")
    if peer is None or not proxies or not _trusted(peer[0], proxies):
        return peer
    hops = [
        hop.strip()
        for key, value in scope.get("headers", ())
        if key == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    believed = peer[0]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        believed = hop
        if not _trusted(hop, proxies):
            break
    return (believed, 0) if believed != peer[0] else peer
