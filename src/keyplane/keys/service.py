"""The life of an API key: issue, read, update, revoke, roll, delete, and verify."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.credentials.format import display_start, generate_key, has_key_shape, is_well_formed
from keyplane.credentials.hashing import KeyHasher, NotAdmitted, PresentedKeys
from keyplane.errors import Conflict, Invalid, NotFound
from keyplane.ids import is_id, new_id
from keyplane.keys.changes import KeyChange, KeyChangePublisher
from keyplane.keys.decide import decide
from keyplane.keys.model import (
    ADMIN_API_ID,
    Code,
    IPAddress,
    IssuedKey,
    KeyConfig,
    KeyState,
    StoredKey,
    Verdict,
)
from keyplane.keys.permissions import Grants, PermissionQuery
from keyplane.keys.repository import ApiRepository, KeyRepository
from keyplane.metering.charge import Metering
from keyplane.pagination import Page, page_of
from keyplane.usage.events import UsageEvent
from keyplane.usage.recorder import UsageRecorder

MAX_GRACE_SECONDS = 365 * 86400


class KeyService:
    def __init__(self, keys: KeyRepository, apis: ApiRepository, hasher: KeyHasher,
                 clock: Clock, *, metering: Metering, recorder: UsageRecorder,
                 changes: KeyChangePublisher | None = None) -> None:
        self._keys = keys
        self._changes = changes
        self._apis = apis
        self._hasher = hasher
        self._presented = PresentedKeys(hasher)
        self._clock = clock
        self._metering = metering
        self._recorder = recorder

    async def verify(
        self, key: str, *, api_id: str | None = None, need: PermissionQuery | None = None,
        ip: IPAddress | None = None, cost: int = 1, user_agent: str | None = None,
    ) -> Verdict:
        """The hot path: checksum (no I/O), one indexed lookup, a pure verdict, metering
        (only for a key with limits or credits), and a usage record queued, not written."""
        now = self._clock.now()
        verdict = await self._verdict(key, api_id, need, ip, cost, now)
        found = verdict.key
        self._recorder.record(UsageEvent(
            time=now, key_id=found.id if found else None, api_id=found.api_id if found else api_id,
            owner_id=found.config.owner_id if found else None, code=verdict.code.value,
            ip=None if ip is None else str(ip), user_agent=user_agent))
        return verdict

    async def _verdict(self, key: str, api_id: str | None, need: PermissionQuery | None,
                       ip: IPAddress | None, cost: int, now: datetime) -> Verdict:
        try:  # a key found before skips its checksum and keyed hash
            stored = await self._presented.find(key, self._keys.by_hash, admit=is_well_formed)
        except NotAdmitted:
            return Verdict(Code.MALFORMED)
        # Root keys live in the admin API and are never answered here: a holder of
        # `keys.verify` must not be able to test candidate root keys.
        if stored is None or stored.api_id == ADMIN_API_ID or (api_id is not None and stored.api_id != api_id):
            return Verdict(Code.NOT_FOUND)
        code = decide(stored, now=now, ip=ip, need=need)
        config = stored.config
        if code is not Code.VALID or not (config.ratelimits or config.credits):
            balance = config.credits.remaining if config.credits is not None else None
            return Verdict(code, stored, balance)
        charge = self._metering.charge_now(stored, cost, now)
        if charge is None:
            charge = await self._metering.charge(stored, cost, now)
        return Verdict(charge.code, stored, charge.credits_remaining, charge.ratelimits)

    async def issue_key(self, actor: Actor, api_id: str, config: KeyConfig) -> IssuedKey:
        """Create a key; the returned plaintext exists only in this answer."""
        api = await self._user_api(api_id, field="api_id")
        await self._check_roles(api.id, config.roles)
        now = self._clock.now()
        issued = mint_key(api.id, api.key_prefix, config, now)
        await self._keys.insert(issued.stored, self._hasher.hash(issued.key),
                                self._event(actor, events.KEY_CREATE, issued.stored, now))
        return issued

    async def get_key(self, key_id: str) -> StoredKey:
        return self._metering.shown(await self._stored(key_id), self._clock.now())

    async def _stored(self, key_id: str) -> StoredKey:
        key = await self._keys.get(key_id) if is_id(key_id, "key") else None
        if key is None or key.api_id == ADMIN_API_ID:
            raise no_key(key_id, "key", "verify it with POST /v1/keys/verify")
        return key

    async def _to_change(self, key_id: str) -> StoredKey:
        """A key about to change, read after this process gave back its unspent credits
        (metering/leases.py): a changed key's lease ends, and its balance must be whole."""
        await self._metering.release(key_id)
        return await self._stored(key_id)

    async def list_keys(
        self, *, api_id: str | None, owner_id: str | None, after: str | None, limit: int
    ) -> Page[StoredKey]:
        """Keys by API and/or owner, oldest first (root keys never appear)."""
        if api_id is not None:
            await self._user_api(api_id, field="api_id", status=404)
        rows = await self._keys.page(api_id=api_id, owner_id=owner_id, after=after, limit=limit + 1)
        now = self._clock.now()
        return page_of([self._metering.shown(k, now) for k in rows], limit, lambda k: k.id)

    async def search_keys(
        self, api_id: str, *, text: str | None, state: KeyState | None, after: str | None,
        limit: int,
    ) -> Page[StoredKey]:
        """An API's keys whose id is `text` or whose name or owner holds it, in `state`,
        oldest first. Raises NotFound for an unknown API."""
        await self._user_api(api_id, field="api_id", status=404)
        now = self._clock.now()
        rows = await self._keys.search(api_id=api_id, text=text, state=state, now=now,
                                       after=after, limit=limit + 1)
        return page_of([self._metering.shown(k, now) for k in rows], limit, lambda k: k.id)

    async def update_key(self, actor: Actor, key_id: str, changes: dict[str, Any]) -> StoredKey:
        """Apply `changes` (KeyConfig field names) to a key's configuration."""
        key = await self._to_change(key_id)
        if "roles" in changes:
            await self._check_roles(key.api_id, changes["roles"])
        kept_by = key.config.credits.kept_by if key.config.credits else None
        if "credits" in changes and kept_by is not None:
            raise Conflict(f"key {key.id} was rolled into {kept_by}, which keeps the balance both "
                           f"spend: change the credits of {kept_by}")
        now = self._clock.now()
        updated = dataclasses.replace(key, config=dataclasses.replace(key.config, **changes),
                                      updated_at=now)
        event = self._event(actor, events.KEY_UPDATE, key, now, fields=sorted(changes))
        stored = await self._keys.update(updated, event, changes.keys())
        await self._changed(key, events.KEY_UPDATE)
        return stored

    async def revoke_key(self, actor: Actor, key_id: str, *, action: str = events.KEY_REVOKE) -> StoredKey:
        """Revoke at once (idempotent); `action` names why in the audit log. A repeated
        revoke is not recorded again; any other action (an exposure) always is."""
        key = await self._to_change(key_id)
        now = self._clock.now()
        revoked = await self._keys.revoke(key.id, now, self._event(actor, action, key, now),
                                          record_always=action != events.KEY_REVOKE)
        await self._changed(key, action)
        return revoked

    async def roll_key(self, actor: Actor, key_id: str, *, grace_seconds: int) -> IssuedKey:
        """A new key with the same configuration; the old one expires after the grace period."""
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise Invalid.field("grace_seconds", f"must be between 0 and {MAX_GRACE_SECONDS}")
        old = await self._to_change(key_id)
        if old.revoked_at is not None:
            raise Conflict(f"key {key_id} is revoked; a revoked key cannot be rolled")
        api = await self._apis.get(old.api_id)
        now = self._clock.now()
        old_expires_at = now + timedelta(seconds=grace_seconds)
        if old.config.expires_at is not None:
            old_expires_at = min(old_expires_at, old.config.expires_at)
        issued = mint_key(api.id, api.key_prefix, old.config, now)
        event = self._event(actor, events.KEY_ROLL, old, now, new_key_id=issued.stored.id,
                            grace_seconds=grace_seconds)
        await self._keys.roll(old, old_expires_at, issued.stored, self._hasher.hash(issued.key), event)
        await self._changed(old, events.KEY_ROLL)
        if old.config.credits is None:
            return issued
        # Read back: the roll moved the balance as it stood then (a due refill applied).
        return IssuedKey(stored=await self._keys.get(issued.stored.id), key=issued.key)

    async def delete_key(self, actor: Actor, key_id: str) -> None:
        key = await self._to_change(key_id)
        now = self._clock.now()
        await self._keys.delete(key.id, self._event(actor, events.KEY_DELETE, key, now))
        await self._changed(key, events.KEY_DELETE)

    async def _changed(self, key: StoredKey, action: str) -> None:
        # After the commit: a verifier's cached answer for this key must go (docs/sdk.md).
        if self._changes is not None:
            await self._changes.publish(KeyChange(api_id=key.api_id, key_id=key.id, action=action))

    async def _user_api(self, api_id: str, *, field: str, status: int = 422) -> Any:
        if api_id == ADMIN_API_ID or not is_id(api_id, "api"):
            raise _no_api(api_id, field, status)
        try:
            return await self._apis.get(api_id)
        except NotFound:
            raise _no_api(api_id, field, status) from None

    async def _check_roles(self, api_id: str, names: tuple[str, ...]) -> None:
        if not names:
            return
        known = {r.name for r in await self._apis.roles(api_id, names)}
        missing = [n for n in names if n not in known]
        if missing:
            raise Invalid.field("roles", f"no such role in this API: {', '.join(missing)}")

    @staticmethod
    def _event(actor: Actor, action: str, key: StoredKey, at: datetime, **details: Any) -> AuditEvent:
        return AuditEvent.of(actor, action, key.id, at, api_id=key.api_id, start=key.start, **details)


def mint_key(api_id: str, prefix: str, config: KeyConfig, now: datetime) -> IssuedKey:
    """A fresh key for an API: its plaintext and the record to store (not yet stored)."""
    plaintext = generate_key(prefix)
    stored = StoredKey(id=new_id("key", now), api_id=api_id, start=display_start(plaintext),
                       config=config, created_at=now, updated_at=now,
                       grants=Grants.of(config.permissions))
    return IssuedKey(stored=stored, key=plaintext)


def no_key(key_id: str, kind: str, instead: str) -> NotFound:
    """The 404 for an unknown `kind` ("key", "root key") id. A key where its id belongs is
    a secret pasted in the wrong place: it is never echoed back, and `instead` says what
    the caller may have meant."""
    if has_key_shape(key_id):
        return NotFound(f"that is a key itself, not a {kind} id (key_...): never put a key in "
                        f"a URL; {instead}")
    return NotFound(f"no {kind} {key_id}")


def _no_api(api_id: str, field: str, status: int) -> Invalid | NotFound:
    if status == 404:
        return NotFound(f"no API {api_id}")
    return Invalid.field(field, f"no API {api_id}")
