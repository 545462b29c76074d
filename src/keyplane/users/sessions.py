"""Browser sessions: who is logged in, server-side, behind a random cookie.

The cookie holds 256 random bits; the store keeps only their SHA-256 (a fast hash suits a
high-entropy value), so a copy of the database logs no one in. A session ends after
`idle_seconds` without a request or `absolute_seconds` after login, whichever comes first,
on logout, and when its user is disabled, deleted or given a new password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyplane.clock import Clock

TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute a session
PRUNE_SECONDS = 300
MAX_COOKIE_LENGTH = 128
MAX_SEALED_LENGTH = 1024


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


def session_sid(cookie_value: str) -> str:
    """The session's public name (OpenID Connect's `sid`): stable for the session, derived
    one-way from the hash the store keys it by, so it names the session to clients without
    being the cookie's value or its stored hash."""
    digest = hashlib.sha256(b"sid\x00" + session_hash(cookie_value)).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


class SessionService:
    def __init__(self, sessions: SessionRepository, clock: Clock, *, csrf_key: bytes,
                 idle_seconds: int, absolute_seconds: int) -> None:
        self._sessions = sessions
        self._csrf_key = csrf_key
        self._seal_key = hmac.new(csrf_key, b"seal\x00", hashlib.sha256).digest()
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

    def login_stamp(self, request: str, at: datetime) -> str:
        """A mark that this server sent the browser to log in (again) at `at` to go on with
        `request` (prompt=login, max_age): a login after `at` satisfies that request. An
        HMAC under a server key, so no one else can make one that says the login is done."""
        when = str(int(at.timestamp()))
        mac = hmac.new(self._csrf_key, f"login\x00{when}\x00{request}".encode("utf-8", "surrogatepass"),
                       hashlib.sha256).hexdigest()
        return f"{when}.{mac}"

    def stamped_at(self, request: str, stamp: str, *, max_age_seconds: int) -> datetime | None:
        """When `login_stamp` made `stamp` for `request`, if it did and not longer than
        `max_age_seconds` ago; None otherwise."""
        when, _, _mac = stamp.partition(".")
        if not (when.isascii() and when.isdigit()) or len(when) > 10:  # up to the year 2286
            return None
        at = datetime.fromtimestamp(int(when), UTC)
        if not hmac.compare_digest(self.login_stamp(request, at).encode(),
                                   stamp.encode("utf-8", "surrogatepass")):
            return None
        now = self._clock.now()
        return at if timedelta(0) <= now - at <= timedelta(seconds=max_age_seconds) else None

    def seal(self, cookie_value: str, label: str, secret: str, *, ttl_seconds: int) -> str:
        """`secret` encrypted for this browser session only (AES-256-GCM, the session's
        hash as associated data) and `label`, until `ttl_seconds` from now: how a page
        hands a key it just made to the page it redirects to, shown there once, without
        storing it anywhere (web/dashboard/reveal.py)."""
        expires = int((self._clock.now() + timedelta(seconds=ttl_seconds)).timestamp())
        nonce = secrets.token_bytes(12)
        plain = f"{expires}\x00{label}\x00{secret}".encode()
        sealed = AESGCM(self._seal_key).encrypt(nonce, plain, session_hash(cookie_value))
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def unseal(self, cookie_value: str, label: str, sealed: str) -> str | None:
        """The secret `seal` sealed for this session and `label`, if not yet expired."""
        if not cookie_value or not sealed or len(sealed) > MAX_SEALED_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            plain = AESGCM(self._seal_key).decrypt(raw[:12], raw[12:], session_hash(cookie_value))
            expires, sealed_label, secret = plain.decode().split("\x00", 2)
        except (ValueError, InvalidTag):
            return None
        if not hmac.compare_digest(sealed_label.encode(), label.encode()):
            return None
        return secret if self._clock.now().timestamp() < int(expires) else None

    async def _maybe_prune(self, now: datetime) -> None:
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=PRUNE_SECONDS)
            await self._sessions.prune(now=now, idle_before=now - self._idle)
