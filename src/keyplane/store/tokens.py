"""Opaque access tokens (stored hashed) and the JWT deny-list with its feed (by `jti`, or a
whole client's tokens: a deleted client, written by store/clients.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from keyplane.ids import new_id
from keyplane.oauth.model import Revocation, TokenClaims
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database, sqlite_time
from keyplane.store.tables import UtcDateTime, as_utc, opaque_tokens, revocations

# The token's own row, or its client's client-wide one (a deleted client: every token it
# was issued at or before `revoked_at`). One statement, an index seek an arm (0007).
_IS_REVOKED = sa.select(revocations.c.id).where(sa.or_(
    revocations.c.jti == sa.bindparam("jti"),
    sa.and_(revocations.c.client_id == sa.bindparam("client_id"), revocations.c.jti.is_(None),
            revocations.c.revoked_at >= sa.bindparam("issued_at", type_=UtcDateTime))))
_KEPT_UNREVOKED = 4_096  # as many as introspection keeps verified tokens (oauth/tokens.py)


def _time(value: Any) -> datetime:
    when = as_utc(value)
    assert when is not None
    return when


class SqlTokenRepository:
    def __init__(self, db: Database, issuer: str, *, on_revoke: Callable[[], None] | None = None) -> None:
        self._db = db
        self._issuer = issuer
        # Told after this process deny-listed a JWT (verifiers are told to read the feed).
        self._on_revoke = on_revoke
        if db.is_sqlite:
            self._sqlite_is_revoked = str(_IS_REVOKED.compile(dialect=db.engine.dialect))
        # SQLite: the `jti`s found not revoked, as of `PRAGMA data_version` `_seen_version`
        # of the hot connection, as the client credentials are kept (store/clients.py). A
        # revocation is written on another connection (a pooled one, or another worker's),
        # so it moves that version and empties this: exact. Introspection asks this on every
        # call, and an indexed read costs ~10-17 µs under load, the pragma nothing (read
        # once per turn of the event loop).
        # On PostgreSQL the same memo, kept while PostgreSQL tells this process of every
        # new revocation (store/change_notices.py), not when one crossed the read.
        self._unrevoked: dict[str, None] = {}
        self._seen_reader: object | None = None
        self._seen_version = -1
        self._listening = False
        self._generation = 0

    def notice(self, payload: str) -> None:
        """PostgreSQL told of a change; `revocation`: a row was added to the deny-list."""
        if payload == "revocation":
            self.revoked()

    def set_listening(self, listening: bool) -> None:
        self.revoked()
        self._listening = listening

    def revoked(self) -> None:
        """A token or a client was revoked: forget which tokens were found not revoked."""
        self._generation += 1
        self._unrevoked.clear()

    def deny_listed(self) -> None:
        """This process deny-listed tokens (here, or in another repository's transaction: a
        replayed code, a revoked refresh family): introspection here sees it at once, and
        verifiers are told to read the feed. Other processes learn it from PostgreSQL's
        notice, or from SQLite's data version."""
        self.revoked()
        if self._on_revoke is not None:
            self._on_revoke()

    def _remember_unrevoked(self, jti: str) -> None:
        if len(self._unrevoked) >= _KEPT_UNREVOKED:
            del self._unrevoked[next(iter(self._unrevoked))]  # the oldest
        self._unrevoked[jti] = None

    async def store_opaque(self, token_hash: bytes, claims: TokenClaims) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(opaque_tokens.insert().values(
                token_hash=token_hash, jti=claims.jti, client_id=claims.client_id,
                subject=claims.subject, scope=" ".join(claims.scope),
                audience=dumps(list(claims.audience)), issued_at=claims.issued_at,
                expires_at=claims.expires_at, extra=dumps(claims.extra) if claims.extra else None))

    async def opaque(self, token_hash: bytes) -> TokenClaims | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(opaque_tokens).where(opaque_tokens.c.token_hash == token_hash))).first()
        if row is None:
            return None
        return TokenClaims(jti=row.jti, issuer=self._issuer, subject=row.subject,
                           client_id=row.client_id, audience=tuple(loads(row.audience)),
                           scope=tuple(row.scope.split()), issued_at=_time(row.issued_at),
                           expires_at=_time(row.expires_at),
                           extra={} if row.extra is None else loads(row.extra))

    async def delete_opaque(self, token_hash: bytes) -> bool:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                opaque_tokens.delete().where(opaque_tokens.c.token_hash == token_hash))
        return bool(result.rowcount)

    async def revoke_jti(self, jti: str, *, client_id: str | None, expires_at: datetime,
                         at: datetime) -> bool:
        """Deny-list `jti` until `expires_at`; False when it was listed already."""
        try:
            async with self._db.transaction() as conn:
                await conn.execute(revocations.insert().values(
                    id=new_id("rvk", at), jti=jti, client_id=client_id, expires_at=expires_at,
                    revoked_at=at))
        except sa.exc.IntegrityError:
            return False
        self.deny_listed()
        return True

    async def is_revoked(self, jti: str, client_id: str, issued_at: datetime) -> bool:
        """Whether the token `jti`, issued to `client_id` at `issued_at`, is deny-listed:
        by its `jti`, or by a revocation of its whole client at or after `issued_at`."""
        if self._db.is_sqlite:
            # Every introspection of a JWT asks this: on the shared read-only connection,
            # as the key and client lookups do (an indexed read costs ~5 µs, a hop to the
            # driver thread ~300). Autocommit: each statement sees the latest commit; drained
            # by fetchall (a row or two at most), so no read snapshot lingers. The memo is
            # keyed by `jti` alone: a `jti` is one token keyplane signed, so its client and
            # `iat` are fixed.
            reader = self._db.sqlite_reader()
            version = self._db.sqlite_data_version()  # before the read, as in clients.py
            if version != self._seen_version or reader is not self._seen_reader:
                self._unrevoked.clear()
                self._seen_reader, self._seen_version = reader, version
            elif jti in self._unrevoked:
                return False
            if reader.execute(self._sqlite_is_revoked,
                              (jti, client_id, sqlite_time(issued_at))).fetchall():
                return True
            self._remember_unrevoked(jti)
            return False
        if self._listening and jti in self._unrevoked:
            return False
        generation = self._generation
        async with self._db.engine.connect() as conn:
            # One SELECT: no BEGIN/ROLLBACK around it (same answer, the statement's snapshot).
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            found = (await conn.execute(_IS_REVOKED, {"jti": jti, "client_id": client_id,
                                                      "issued_at": issued_at})).first()
        if found is not None:
            return True
        if self._listening and generation == self._generation:
            self._remember_unrevoked(jti)
        return False

    async def revocations(self, *, since: datetime | None, after: str | None, now: datetime,
                          limit: int) -> list[Revocation]:
        """Unexpired revocations (revoked at or after `since`), oldest first: of one `jti`,
        or (`jti` None) of every token of a client issued at or before `revoked_at`."""
        query = (sa.select(revocations.c.id, revocations.c.jti, revocations.c.client_id,
                           revocations.c.expires_at, revocations.c.revoked_at)
                 .where(revocations.c.expires_at > now).order_by(revocations.c.id).limit(limit))
        if since is not None:
            query = query.where(revocations.c.revoked_at >= since)
        if after is not None:
            query = query.where(revocations.c.id > after)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Revocation(id=r.id, jti=r.jti, client_id=r.client_id,
                           expires_at=_time(r.expires_at), revoked_at=_time(r.revoked_at))
                for r in rows]

    async def prune(self, now: datetime) -> int:
        """Forget what has expired: opaque tokens and deny-list entries past their exp."""
        async with self._db.transaction() as conn:
            tokens = await conn.execute(opaque_tokens.delete().where(opaque_tokens.c.expires_at <= now))
            denied = await conn.execute(revocations.delete().where(revocations.c.expires_at <= now))
        return int(tokens.rowcount + denied.rowcount)
