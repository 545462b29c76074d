"""The services of a keyplane process, built once from Settings; used by the HTTP app
and by the CLI commands that work on the store directly (`bootstrap`, `migrate`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from keyplane.alerts.service import AlertPolicy, AlertService
from keyplane.audit import events
from keyplane.audit.events import AuditEvent
from keyplane.batching import BatchWriter
from keyplane.clock import Clock, SystemClock
from keyplane.config import Settings
from keyplane.credentials.hashing import KeyHasher, derive_subkey
from keyplane.errors import ConfigError
from keyplane.keys.apis import ApiService
from keyplane.keys.change_relay import RedisKeyChangeRelay
from keyplane.keys.changes import REVOCATIONS, KeyChangeHub, TokenChange
from keyplane.keys.exposure import Exposure
from keyplane.keys.root_keys import RootKeyService
from keyplane.keys.service import KeyService
from keyplane.leaks.github import ScanningKeys
from keyplane.leaks.service import LeakService
from keyplane.metering.charge import Metering
from keyplane.metering.leases import LeasedCredits
from keyplane.metrics import Metrics
from keyplane.oauth.client_auth import ClientAuthenticator
from keyplane.oauth.clients import ClientSecretHasher, ClientService
from keyplane.oauth.codes import AuthorizationCodeService
from keyplane.oauth.id_tokens import IdTokenService
from keyplane.oauth.device import DeviceFlow, DevicePolicy
from keyplane.oauth.dpop import DpopService, ProofReplayCache, RedisProofReplayCache
from keyplane.oauth.metadata import TOKEN_PATH
from keyplane.oauth.par import PushedRequests
from keyplane.oauth.refresh_tokens import (
    CodeReplayRevoker,
    RefreshPolicy,
    RefreshTokenService,
)
from keyplane.oauth.resource_servers import ResourceServerService
from keyplane.oauth.signing_keys import SigningKeyService
from keyplane.oauth.signing_thread import SigningThread
from keyplane.oauth.tokens import TokenService
from keyplane.ratelimit.base import Limiter
from keyplane.ratelimit.memory import MemoryLimiter
from keyplane.ratelimit.redis import RedisLimiter
from keyplane.secret_key import load_secret_key
from keyplane.store.alerts import SqlAlertRepository
from keyplane.store.apis import SqlApiRepository
from keyplane.store.audit import SqlAuditLog, record_many
from keyplane.store.authorization_codes import SqlCodeRepository
from keyplane.store.change_notices import ChangeListener
from keyplane.store.clients import SqlClientRepository
from keyplane.store.credits import SqlCreditLedger
from keyplane.store.devices import SqlDeviceRepository
from keyplane.store.dpop_proofs import SqlProofReplayCache
from keyplane.store.engine import Database
from keyplane.store.keys import SqlKeyRepository
from keyplane.store.leaks import SqlLeakRepository
from keyplane.store.meta import SqlMeta
from keyplane.store.migrate import migrate
from keyplane.store.outbox import SqlOutbox
from keyplane.store.pushed_requests import SqlPushedRequestRepository
from keyplane.store.refresh_tokens import SqlRefreshTokenRepository
from keyplane.store.resource_servers import SqlResourceServerRepository
from keyplane.store.sessions import SqlSessionRepository
from keyplane.store.signing_keys import SqlSigningKeyRepository
from keyplane.store.tokens import SqlTokenRepository
from keyplane.store.usage import SqlUsageRepository
from keyplane.store.users import SqlUserRepository
from keyplane.store.webhooks import SqlWebhookRepository
from keyplane.usage.queries import UsageQueries
from keyplane.usage.recorder import UsageRecorder
from keyplane.users.passwords import Passwords
from keyplane.users.service import UserService
from keyplane.users.sessions import SessionService
from keyplane.users.throttle import LoginThrottle
from keyplane.webhooks.delivery import DeliveryPolicy, DeliveryWorker
from keyplane.webhooks.secrets import SecretBox
from keyplane.webhooks.service import WebhookService

log = logging.getLogger("keyplane")

PEPPER_FINGERPRINT = "key_hash_pepper_fingerprint"


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    apis: ApiService
    keys: KeyService
    root_keys: RootKeyService
    audit: SqlAuditLog
    usage: UsageQueries
    recorder: UsageRecorder
    metering: Metering
    limiter: Limiter
    exposure: Exposure
    metrics: Metrics
    signing_keys: SigningKeyService
    clients: ClientService
    tokens: TokenService
    client_auth: ClientAuthenticator
    audit_writer: BatchWriter[AuditEvent]
    users: UserService
    sessions: SessionService
    codes: AuthorizationCodeService
    refresh_tokens: RefreshTokenService
    devices: DeviceFlow
    alerts: AlertService
    webhooks: WebhookService
    deliveries: DeliveryWorker
    leaks: LeakService
    scanning_keys: ScanningKeys
    dpop: DpopService
    resource_servers: ResourceServerService
    pushed_requests: PushedRequests
    id_tokens: IdTokenService

    key_changes: KeyChangeHub
    key_change_relay: RedisKeyChangeRelay | None
    change_listener: ChangeListener | None  # PostgreSQL: lets the hot lookups keep rows (store/change_notices.py)

    def start(self) -> None:
        """Start the background writers (the app's lifespan; CLI commands never do)."""
        self.recorder.start()
        self.metering.start()
        if self.key_change_relay is not None:
            self.key_change_relay.start()
        if self.change_listener is not None:
            self.change_listener.start()
        self.audit_writer.start()
        if self.settings.alerts_enabled:
            self.alerts.start()
        self.deliveries.start()

    async def close(self) -> None:
        """Give back leased credits, flush buffered usage and audit events, then close the
        limiter and the store (graceful shutdown)."""
        try:
            await self.metering.close()
            await self.recorder.close()
            await self.audit_writer.close()
            await self.alerts.close()
            await self.deliveries.close()
        finally:
            self.tokens.close()
            self.key_changes.close_all("the service is stopping")
            if self.key_change_relay is not None:
                await self.key_change_relay.close()
            if self.change_listener is not None:
                await self.change_listener.close()
            await self.limiter.close()
            await self.dpop.close()
            await self.db.dispose()


async def open_services(settings: Settings, *, clock: Clock | None = None,
                        migrate_schema: bool | None = None) -> Services:
    """Connect, migrate (unless told not to), check the secret, and wire the services.

    Raises ConfigError when the secret does not match the one the database was set up with.
    """
    clock = clock or SystemClock()
    secret_key, hasher = _load_secret(settings)
    db = Database(settings.resolved_database_url)
    try:
        if settings.auto_migrate if migrate_schema is None else migrate_schema:
            await migrate(db)
        await _check_secret(db, hasher)
        services = _wire(settings, clock, db, secret_key, hasher)
        await services.apis.ensure_admin_api()
        await services.users.ensure_admin_role()
    except BaseException:
        await db.dispose()
        raise
    return services


def _load_secret(settings: Settings) -> tuple[bytes, KeyHasher]:
    try:
        secret_key = load_secret_key(settings)
        return secret_key, KeyHasher(secret_key)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the secret key: {exc}") from exc


async def _check_secret(db: Database, hasher: KeyHasher) -> None:
    """The first start records the pepper's fingerprint; every later start must match it."""
    stored = await SqlMeta(db).set_default(PEPPER_FINGERPRINT, hasher.fingerprint())
    if stored != hasher.fingerprint():
        raise ConfigError(
            "KEYPLANE_SECRET_KEY differs from the one this database was set up with: "
            "no stored key would verify. Start with the original secret.")


class _KeyArea(NamedTuple):
    """API keys and what a verification touches: the store, credits, usage, changes."""

    repository: SqlKeyRepository
    changes: KeyChangeHub
    relay: RedisKeyChangeRelay | None
    recorder: UsageRecorder
    metering: Metering
    keys: KeyService
    apis: ApiService
    root_keys: RootKeyService
    usage: UsageQueries
    exposure: Exposure


def _key_area(settings: Settings, clock: Clock, db: Database, hasher: KeyHasher, limiter: Limiter,
              alerts: AlertService) -> _KeyArea:
    key_repo = SqlKeyRepository(db)
    api_repo = SqlApiRepository(db)
    usage_repo = SqlUsageRepository(db)
    recorder = UsageRecorder(usage_repo, clock, capacity=settings.usage_buffer_size,
                             flush_seconds=settings.usage_flush_seconds,
                             retention_days=settings.usage_retention_days,
                             observe=alerts.observe_usage if settings.alerts_enabled else None)
    metering = Metering(limiter, LeasedCredits(SqlCreditLedger(db, on_balance=key_repo.note_balance), clock))
    changes = KeyChangeHub()
    changes.watch(key_repo.change_published)
    relay = RedisKeyChangeRelay(settings.redis_url, changes) if settings.redis_url else None
    keys = KeyService(key_repo, api_repo, hasher, clock, metering=metering, recorder=recorder,
                      changes=changes)
    usage = UsageQueries(usage_repo, clock)
    apis = ApiService(api_repo, clock, changes=changes)
    root_keys = RootKeyService(key_repo, hasher, clock, apis=apis)
    return _KeyArea(key_repo, changes, relay, recorder, metering, keys, apis, root_keys, usage,
                    Exposure(keys, recorder, usage))


class _TokenArea(NamedTuple):
    """OAuth clients and the tokens they are issued."""

    token_repository: SqlTokenRepository
    client_repository: SqlClientRepository
    signing_keys: SigningKeyService
    clients: ClientService
    resource_servers: ResourceServerService
    tokens: TokenService
    refresh_tokens: RefreshTokenService


def _token_area(settings: Settings, clock: Clock, db: Database, secret_key: bytes, hasher: KeyHasher,
                changes: KeyChangeHub, audit_writer: BatchWriter[AuditEvent],
                users: UserService) -> _TokenArea:
    # A deny-list entry written here: verifiers following the change stream read the
    # revocation feed at once (docs/sdk.md).
    token_repo = SqlTokenRepository(db, settings.resolved_issuer, on_revoke=partial(
        changes.announce, TokenChange(REVOCATIONS, events.TOKEN_REVOKE)))
    client_repo = SqlClientRepository(db, on_revoked=partial(_client_deleted, token_repo, changes))
    signing_keys = SigningKeyService(SqlSigningKeyRepository(db), secret_key, clock, settings,
                                     changes=changes)
    changes.watch_tokens(signing_keys.change_published)
    resource_servers = ResourceServerService(SqlResourceServerRepository(db), clock)
    tokens = TokenService(signing_keys, token_repo, hasher, clock,
                          issuer=settings.resolved_issuer,
                          default_ttl_seconds=settings.access_token_ttl_seconds,
                          audit=audit_writer, signing=SigningThread(workers=settings.workers),
                          resource_servers=resource_servers)
    # A replayed refresh token or code deny-lists access tokens in its own transaction:
    # the token repository is told, as when it deny-lists one itself.
    refresh_repo = SqlRefreshTokenRepository(db, on_deny_listed=token_repo.deny_listed)
    refresh_tokens = RefreshTokenService(
        refresh_repo, tokens, hasher, clock, RefreshPolicy(
            default_ttl_seconds=settings.refresh_token_ttl_seconds,
            default_idle_seconds=settings.refresh_token_idle_seconds,
            reuse_grace_seconds=settings.refresh_token_reuse_grace_seconds),
        audit=audit_writer, users=users)
    return _TokenArea(token_repo, client_repo, signing_keys,
                      ClientService(client_repo, ClientSecretHasher(secret_key), clock),
                      resource_servers, tokens, refresh_tokens)


def _wire(settings: Settings, clock: Clock, db: Database, secret_key: bytes,
          hasher: KeyHasher) -> Services:
    """Every service of one store, area by area: each step takes what the ones before made."""
    limiter: Limiter = RedisLimiter.from_url(settings.redis_url) if settings.redis_url else MemoryLimiter()
    alerts = AlertService(SqlAlertRepository(db), clock, alert_policy(settings))
    audit_writer: BatchWriter[AuditEvent] = BatchWriter(
        lambda batch: record_many(db, batch), name="audit", flush_seconds=1.0)
    k = _key_area(settings, clock, db, hasher, limiter, alerts)
    users = UserService(SqlUserRepository(db), Passwords(), LoginThrottle(limiter), clock,
                        audit=audit_writer)
    t = _token_area(settings, clock, db, secret_key, hasher, k.changes, audit_writer, users)
    change_listener = (None if db.is_sqlite else ChangeListener(
        db.dsn, [k.repository, t.client_repository, t.token_repository, t.signing_keys]))
    webhook_repo = SqlWebhookRepository(db)
    outbox = SqlOutbox(db)
    box = SecretBox(secret_key)
    issuer = settings.resolved_issuer
    return Services(
        settings=settings, clock=clock, db=db, dpop=_dpop(settings, clock, db, secret_key),
        resource_servers=t.resource_servers,
        pushed_requests=PushedRequests(SqlPushedRequestRepository(db), hasher, clock),
        apis=k.apis, keys=k.keys, root_keys=k.root_keys, audit=SqlAuditLog(db),
        usage=k.usage, recorder=k.recorder, metering=k.metering, limiter=limiter,
        exposure=k.exposure, metrics=Metrics(k.recorder, k.metering, alerts),
        signing_keys=t.signing_keys, clients=t.clients, tokens=t.tokens,
        client_auth=ClientAuthenticator(t.clients, clock, audiences=(issuer + TOKEN_PATH, issuer),
                                        audit=audit_writer),
        audit_writer=audit_writer,
        key_changes=k.changes, key_change_relay=k.relay, change_listener=change_listener,
        users=users,
        codes=AuthorizationCodeService(
            SqlCodeRepository(db, on_deny_listed=t.token_repository.deny_listed), users, clock,
            refresh_families=CodeReplayRevoker(t.refresh_tokens)),
        sessions=SessionService(SqlSessionRepository(db), clock,
                                csrf_key=derive_subkey(secret_key, "keyplane csrf v1"),
                                idle_seconds=settings.session_idle_seconds,
                                absolute_seconds=settings.session_absolute_seconds),
        refresh_tokens=t.refresh_tokens,
        devices=DeviceFlow(SqlDeviceRepository(db), hasher, clock, limiter, device_policy(settings),
                           audit=audit_writer),
        alerts=alerts,
        webhooks=WebhookService(webhook_repo, outbox, box, clock,
                                allow_private=settings.webhooks_allow_private),
        deliveries=DeliveryWorker(outbox, webhook_repo, box, clock, delivery_policy(settings)),
        leaks=LeakService(SqlLeakRepository(db), k.repository, hasher, k.exposure, k.root_keys,
                          t.clients, ClientSecretHasher(secret_key), t.refresh_tokens, alerts, clock),
        scanning_keys=ScanningKeys(settings.github_scanning_keys),
        id_tokens=IdTokenService(t.signing_keys, users, clock, issuer=issuer),
    )


def _dpop(settings: Settings, clock: Clock, db: Database, secret_key: bytes) -> DpopService:
    replay: ProofReplayCache = (RedisProofReplayCache(settings.redis_url) if settings.redis_url
                                else SqlProofReplayCache(db))
    return DpopService(replay, clock, nonce_key=derive_subkey(secret_key, "keyplane dpop-nonce v1"),
                       nonce_required=settings.dpop_nonce_required)


def device_policy(settings: Settings) -> DevicePolicy:
    return DevicePolicy(
        code_ttl_seconds=settings.device_code_ttl_seconds,
        interval_seconds=settings.device_poll_interval_seconds,
        user_code_attempts=settings.device_user_code_attempts,
        user_code_window_seconds=settings.device_user_code_window_seconds)


def alert_policy(settings: Settings) -> AlertPolicy:
    return AlertPolicy(
        enumeration_threshold=settings.alert_enumeration_threshold,
        enumeration_window_seconds=settings.alert_enumeration_window_seconds,
        tracked_addresses=settings.alert_tracked_addresses,
        spike_factor=settings.alert_spike_factor, spike_floor=settings.alert_spike_floor,
        spike_baseline_hours=settings.alert_spike_baseline_hours,
        expiring_days=settings.alert_expiring_days, sweep_seconds=settings.alert_sweep_seconds)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        timeout_seconds=settings.webhook_timeout_seconds,
        retry_base_seconds=settings.webhook_retry_base_seconds,
        retry_max_seconds=settings.webhook_retry_max_seconds,
        retry_for_seconds=settings.webhook_retry_for_seconds,
        poll_seconds=settings.webhook_poll_seconds, concurrency=settings.webhook_concurrency,
        allow_private=settings.webhooks_allow_private)


def _client_deleted(tokens: SqlTokenRepository, changes: KeyChangeHub) -> None:
    """A client deleted here deny-listed all its tokens: forget the tokens found unrevoked,
    and tell verifiers to read the feed."""
    tokens.revoked()
    changes.announce(TokenChange(REVOCATIONS, events.CLIENT_DELETE))


async def greet(services: Services) -> None:
    """At start: make KEYPLANE_ROOT_KEY a root key on a store without one, or say how to
    get one."""
    root_key = services.settings.root_key
    if root_key is not None:
        if await services.root_keys.ensure(root_key.get_secret_value()):
            log.info("KEYPLANE_ROOT_KEY is now a root key with permission *")
        elif not await services.root_keys.is_root_key(root_key.get_secret_value()):
            log.warning("KEYPLANE_ROOT_KEY is not a root key: it becomes one only on the first "
                        "start (a store without root keys), and it was deleted since; create "
                        "root keys with `keyplane root-keys create` instead.")
    elif not await services.root_keys.any_exist():
        log.warning("No root key exists yet. Create one with `keyplane bootstrap` (it prints the "
                    "key once), or set KEYPLANE_ROOT_KEY (32+ characters) before starting.")
