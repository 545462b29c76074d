"""Leak reports: each reported token recognised by prefix and checksum; a live one is made
harmless at once and a `key.leaked` alert opens with what is known.

What "at once" means for each kind (docs/leaks.md):
- an API key: exposed through the one exposure path (`POST /v1/keys/{id}/expose`):
  revoked, and its recent activity goes into the alert;
- a root key: deleted (root keys are never revoked and kept);
- a client secret: rolled with no grace, so the leaked secret stops at once; the new
  secret is shown to nobody, and the client authenticates again once its owner rolls the
  secret through `POST /v1/clients/{id}/secret/roll`;
- a refresh token: its whole family is revoked, with the access tokens issued from it
  (as a reuse would).
Anything else (not a keyplane secret, a wrong checksum, unknown, already revoked or
expired) is a false positive and changes nothing. A token reported again is answered as
the first time, from the stored report, and acted on once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyplane.alerts.model import KEY_LEAKED, Signal
from keyplane.alerts.service import AlertService
from keyplane.audit.events import Actor
from keyplane.clock import Clock, rfc3339
from keyplane.credentials.hashing import KeyHasher
from keyplane.errors import Conflict, NotFound
from keyplane.keys.exposure import Exposure, ExposureReport
from keyplane.keys.model import ADMIN_API_ID
from keyplane.keys.repository import KeyRepository
from keyplane.keys.root_keys import RootKeyService
from keyplane.leaks.recognise import recognise, token_hash
from keyplane.leaks.repository import LeakRepository, StoredReport
from keyplane.oauth.clients import ClientSecretHasher, ClientService
from keyplane.oauth.refresh_tokens import RefreshTokenService

log = logging.getLogger("keyplane.leaks")

TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"
LEAKED = "leaked"  # the reason recorded on a revoked refresh-token family
MAX_REPORTED_EVENTS = 20


@dataclass(frozen=True, slots=True)
class LeakItem:
    token: str
    url: str | None = None
    source: str | None = None
    type: str | None = None  # the reporter's name for the token (echoed by /v1/leaks/github)

    def __repr__(self) -> str:
        return f"LeakItem(url={self.url!r}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class LeakAnswer:
    token_hash: str
    token_type: str
    label: str
    key_id: str | None
    # True when this very report made the secret unusable (it was live until now); false
    # for a repeat of a report already acted on, and for a false positive.
    revoked_now: bool = False


def exposure_details(report: ExposureReport) -> dict[str, Any]:
    """An exposure report as an alert keeps it: the key and what it did recently."""
    key, activity = report.key, report.activity
    return {
        "key": {"id": key.id, "api_id": key.api_id, "start": key.start,
                "revoked_at": rfc3339(key.revoked_at)},
        "activity": {
            "since": rfc3339(activity.since), "counts": activity.counts,
            "addresses": [{"ip": a.ip, "first_seen": rfc3339(a.first_seen),
                           "last_seen": rfc3339(a.last_seen), "count": a.count}
                          for a in activity.addresses],
            "events": [{"time": rfc3339(e.time), "code": e.code, "ip": e.ip,
                        "user_agent": e.user_agent} for e in activity.events[:MAX_REPORTED_EVENTS]],
        },
    }


class LeakService:
    def __init__(self, reports: LeakRepository, keys: KeyRepository, hasher: KeyHasher,
                 exposure: Exposure, root_keys: RootKeyService, clients: ClientService,
                 client_hasher: ClientSecretHasher, refresh_tokens: RefreshTokenService,
                 alerts: AlertService, clock: Clock) -> None:
        self._reports = reports
        self._keys = keys
        self._hasher = hasher
        self._exposure = exposure
        self._root_keys = root_keys
        self._clients = clients
        self._client_hasher = client_hasher
        self._refresh_tokens = refresh_tokens
        self._alerts = alerts
        self._clock = clock

    async def report(self, actor: Actor, items: Sequence[LeakItem]) -> list[LeakAnswer]:
        return [await self._one(actor, item) for item in items]

    async def _one(self, actor: Actor, item: LeakItem) -> LeakAnswer:
        digest = token_hash(item.token)
        known = await self._reports.get(digest)
        if known is not None:
            return LeakAnswer(digest, item.type or known.token_type, known.label, known.key_id)
        found = recognise(item.token)
        if found is None:
            return LeakAnswer(digest, item.type or "unknown", FALSE_POSITIVE, None)
        acted = await self._act(actor, found.kind, item)
        if acted is None:
            return LeakAnswer(digest, item.type or found.kind, FALSE_POSITIVE, None)
        subject_kind, subject_id, api_id, details = acted
        await self._alerts.raise_signals([Signal(
            type=KEY_LEAKED, subject_kind=subject_kind, subject_id=subject_id, at=self._clock.now(),
            api_id=api_id, details={"kind": found.kind, "start": found.start, "url": item.url,
                                    "source": item.source, "token_hash": digest, **details})])
        await self._reports.remember(StoredReport(digest, found.kind, TRUE_POSITIVE, subject_id),
                                     url=item.url, at=self._clock.now())
        log.warning("leaked %s %s (%s) reported and made unusable", found.kind, found.start, subject_id)
        return LeakAnswer(digest, item.type or found.kind, TRUE_POSITIVE, subject_id, revoked_now=True)

    async def _act(self, actor: Actor, kind: str, item: LeakItem
                   ) -> tuple[str, str, str | None, dict[str, Any]] | None:
        """Make a live secret unusable: (subject kind, subject id, api_id, details), or None
        when it is not live."""
        now = self._clock.now()
        if kind in ("api_key", "root_key"):
            key = await self._keys.by_hash(self._hasher.hash(item.token))
            if key is None or key.revoked_at is not None or _expired(key.config.expires_at, now):
                return None
            if key.api_id == ADMIN_API_ID:
                try:
                    await self._root_keys.delete_leaked(actor, key.id)
                except NotFound:
                    return None
                return ("key", key.id, None, {"root_key": True})
            report = await self._exposure.expose(actor, key.id, since=None)
            return ("key", key.id, key.api_id, {"report": exposure_details(report)})
        if kind == "client_secret":
            client_id = await self._reports.client_by_secret_hash(self._client_hasher.hash(item.token), now)
            if client_id is None:
                return None
            try:
                await self._clients.roll_secret(actor, client_id, grace_seconds=0)
            except (NotFound, Conflict):
                return None
            return ("client", client_id, None, {"action": "secret rolled; roll it again to get a new one"})
        if kind == "refresh_token":
            grant = await self._refresh_tokens.introspect(item.token)
            if grant is None:
                return None
            await self._refresh_tokens.revoke_family(grant.family_id, reason=LEAKED, actor=actor,
                                                     client_id=grant.client_id, subject=grant.subject)
            return ("client", grant.client_id, None, {"family_id": grant.family_id,
                                                      "subject": grant.subject})
        return None


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now
