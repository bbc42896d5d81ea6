"""405 Method Not Allowed with a true ``Allow`` (RFC 9110 §15.5.6): every method some route takes at the path.

Starlette answers 405 naming the methods of the first route whose path matched, so a path served by two routes
(``GET`` and ``POST /audit/checkpoint``) advertised only one; and the catch-all of ``/fhir`` matched any method
first, so ``PATCH /fhir/Patient/$match`` or ``PUT /fhir/metadata`` were 404 as though the path did not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.routing import Route
from starlette.types import Scope

from mais_node.errors import MethodNotAllowed

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_REFUSERS: set[Callable[..., Any]] = set()


def refuser(endpoint: Endpoint) -> Endpoint:
    """Mark a route that only refuses (a catch-all, an append-only type): its methods are not served."""
    _REFUSERS.add(endpoint)
    return endpoint


class Methods:
    """Which methods the app's routes serve at a path; built once from the routers the app includes."""

    def __init__(self, routers: Iterable[APIRouter]) -> None:
        self._routes = [
            (route.path_regex, frozenset(route.methods))
            for router in routers
            for route in router.routes
            if isinstance(route, Route) and route.methods and route.endpoint not in _REFUSERS
        ]

    def at(self, path: str) -> list[str]:
        """The methods served at ``path`` (none: the path is unknown)."""
        return sorted({m for regex, methods in self._routes if regex.match(path) for m in methods})


class NotAllowedHere(MethodNotAllowed):
    """A method the path does not take; ``allow`` lists those it does (the ``Allow`` header)."""

    def __init__(self, diagnostics: str, allow: list[str]) -> None:
        super().__init__(diagnostics)
        self.allow = allow


def not_allowed(scope: Scope, diagnostics: str | None = None) -> NotAllowedHere | None:
    """The 405 for this request when other methods are served at its path; None when the path is unknown."""
    methods: Methods | None = getattr(scope["app"].state, "methods", None)
    allow = methods.at(scope["path"]) if methods is not None else []
    if not allow:
        return None
    method = str(scope["method"])[:10]
    return NotAllowedHere(diagnostics or f"{method} is not allowed here; this path takes {', '.join(allow)}", allow)
