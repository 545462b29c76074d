"""Browser sessions: who is logged in, server-side, behind a random cookie.

The cookie holds 256 random bits; the store keeps only their SHA-256 (a fast hash suits a
high-entropy value), so a copy of the database logs no one in. A session ends after
`idle_seconds` without a request or `absolute_seconds` after login, whichever comes first,
on logout, and when its user is disabled, deleted or given a new password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from keyplane.clock import Clock

TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute a session
PRUNE_SECONDS = 300
MAX_COOKIE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class BrowserSession:
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class SessionRepository(Protocol):
    async def insert(self, id_hash: bytes, session: BrowserSession, ip: str | None) -> None: ...
    async def get(self, id_hash: bytes) -> BrowserSession | None: ...
    async def touch(self, id_hash: bytes, at: datetime) -> None: ...
    async def delete(self, id_hash: bytes) -> None: ...
    async def prune(self, *, now: datetime, idle_before: datetime) -> int: ...


def session_hash(cookie_value: str) -> bytes:
    return hashlib.sha256(cookie_value.encode("utf-8", "surrogatepass")).digest()


def new_session_value() -> str:
    return secrets.token_urlsafe(32)


class SessionService:
    def __init__(self, sessions: SessionRepository, clock: Clock, *, csrf_key: bytes,
                 idle_seconds: int, absolute_seconds: int) -> None:
        self._sessions = sessions
        self._csrf_key = csrf_key
        self._clock = clock
        self._idle = timedelta(seconds=idle_seconds)
        self._absolute = timedelta(seconds=absolute_seconds)
        self._next_prune_at: datetime | None = None

    async def start(self, user_id: str, *, ip: str | None) -> tuple[str, BrowserSession]:
        """A new session (always a new id: no fixation of one chosen before login)."""
        now = self._clock.now()
        value = new_session_value()
        session = BrowserSession(user_id=user_id, created_at=now, last_seen_at=now,
                                 expires_at=now + self._absolute)
        await self._sessions.insert(session_hash(value), session, ip)
        return value, session

    async def resume(self, cookie_value: str) -> BrowserSession | None:
        """The live session the cookie names, its idle clock restarted; None otherwise."""
        if not cookie_value or len(cookie_value) > MAX_COOKIE_LENGTH:
            return None
        now = self._clock.now()
        await self._maybe_prune(now)
        id_hash = session_hash(cookie_value)
        session = await self._sessions.get(id_hash)
        if session is None:
            return None
        if now >= session.expires_at or now - session.last_seen_at >= self._idle:
            await self._sessions.delete(id_hash)
            return None
        if (now - session.last_seen_at).total_seconds() >= TOUCH_SECONDS:
            await self._sessions.touch(id_hash, now)
        return session

    async def end(self, cookie_value: str) -> None:
        if cookie_value and len(cookie_value) <= MAX_COOKIE_LENGTH:
            await self._sessions.delete(session_hash(cookie_value))

    def csrf_token(self, cookie_value: str) -> str:
        """The CSRF token of the browser session `cookie_value` names (logged in or not):
        HMAC-SHA-256 under a key of the server's, so it is bound to that one session,
        cannot be made without the key, and need not be stored."""
        mac = hmac.new(self._csrf_key, b"csrf\x00" + cookie_value.encode("utf-8", "surrogatepass"),
                       hashlib.sha256)
        return mac.hexdigest()

    def check_csrf(self, cookie_value: str, token: str) -> bool:
        """Whether `token` is the session's CSRF token (compared in constant time)."""
        if not cookie_value or not token or len(token) != 64:
            return False
        return hmac.compare_digest(self.csrf_token(cookie_value).encode(),
                                   token.encode("utf-8", "surrogatepass"))

    async def _maybe_prune(self, now: datetime) -> None:
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=PRUNE_SECONDS)
            await self._sessions.prune(now=now, idle_before=now - self._idle)
