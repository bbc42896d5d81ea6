"""Console sessions (issue 16 §2): idle and absolute timeouts, a new token at every sign-in, CSRF per session.

The cookie carries a random token; the store keeps only its SHA-256, so a copy of the database opens no session.
Each session has its own CSRF token, compared in constant time with the one every form posts back. Sessions live
in the store, so any replica serves the next page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

from mais_node.clock import Clock
from mais_node.console.people import Session, SessionStore

# A page view refreshes last_seen at most this often: an idle timeout of minutes needs no write per request.
TOUCH_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    idle: float = 15 * 60
    absolute: float = 8 * 3600


def key_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (an empty one never matches)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


class Sessions:
    def __init__(self, store: SessionStore, clock: Clock, timeouts: Timeouts | None = None) -> None:
        self.store = store
        self.clock = clock
        self.timeouts = timeouts or Timeouts()

    def start(
        self, person: str, *, replacing: str | None = None, extra: dict[str, str] | None = None
    ) -> tuple[str, Session]:
        """A new session for ``person`` (its cookie token and record); the session it replaces is ended."""
        if replacing:
            self.store.delete_session(key_of(replacing))
        token = secrets.token_urlsafe(32)
        now = self.clock.now().timestamp()
        csrf, ends = secrets.token_urlsafe(32), now + self.timeouts.absolute
        session = Session(key_of(token), person, csrf, now, now, ends, extra or {})
        self.store.put_session(session)
        return token, session

    def resume(self, token: str | None) -> Session | None:
        """The live session of a cookie token, its idle clock restarted; None when absent, idle or over."""
        if not token:
            return None
        key = key_of(token)
        session = self.store.get_session(key)
        if session is None:
            return None
        now = self.clock.now().timestamp()
        if now >= session.expires or now - session.last_seen >= self.timeouts.idle:
            self.store.delete_session(key)
            return None
        if now - session.last_seen >= TOUCH_EVERY:
            session = replace(session, last_seen=now)
            self.store.put_session(session)
        return session

    def end(self, token: str | None) -> None:
        if token:
            self.store.delete_session(key_of(token))

    @staticmethod
    def csrf_ok(session: Session, posted: str | None) -> bool:
        return same(session.csrf, posted or "")
