"""The schema, in SQLAlchemy Core. Alembic migrations (store/migrations) create it.

Layout choices (docs/storage.md): ids are prefixed ULID-style strings, so primary-key order
is creation order and pages are `id > :after`; times are UTC; structured values that are
only ever read whole (metadata, permissions, rate limits) are JSON text, decoded by us, so
both databases store and return exactly the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both databases (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def as_utc(value: Any) -> datetime | None:
    """A stored time (a datetime, or SQLite's text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


ID = sa.String(40)

meta = sa.Table(
    "keyplane_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

apis = sa.Table(
    "apis",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_prefix", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # Rotation policy: a key older than this opens `key.rotation_due` (NULL: no policy).
    sa.Column("rotation_days", sa.Integer),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("api_id", ID, sa.ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("permissions", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

keys = sa.Table(
    "keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("api_id", ID, sa.ForeignKey("apis.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key_hash", sa.LargeBinary(64), nullable=False, unique=True),
    sa.Column("start", sa.String(40), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("owner_id", sa.String(200)),
    sa.Column("permissions", sa.Text, nullable=False),  # JSON list: the key's own grants
    sa.Column("metadata", sa.Text, nullable=False),  # JSON object
    sa.Column("ratelimits", sa.Text, nullable=False),  # JSON list
    sa.Column("credits_remaining", sa.BigInteger),  # NULL: unlimited
    sa.Column("credits_refill", sa.Text),  # JSON object or NULL
    sa.Column("credits_refilled_at", UtcDateTime),  # the refill boundary last applied
    # Set on a rolled key: the key it was rolled into, which keeps the balance both spend
    # (this row's credits_remaining is then NULL, its refill unused).
    sa.Column("credits_key_id", ID),
    sa.Column("ip_allowlist", sa.Text, nullable=False),  # JSON list of CIDRs
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index(None, "api_id", "id"),
    sa.Index(None, "api_id", "owner_id", "id"),
    sa.Index(None, "owner_id", "id"),
    sa.Index(None, "credits_key_id"),
)

key_roles = sa.Table(
    "key_roles",
    metadata,
    sa.Column("key_id", ID, sa.ForeignKey("keys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(128), primary_key=True),
    sa.Column("api_id", ID, nullable=False),
    sa.ForeignKeyConstraint(
        ["api_id", "role"], ["roles.api_id", "roles.name"], ondelete="RESTRICT",
        name="fk_key_roles_role_roles",
    ),
    sa.Index(None, "api_id", "role"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("details", sa.Text, nullable=False),  # JSON object, secret-free
    sa.Index(None, "actor", "id"),
    sa.Index(None, "target", "id"),
    sa.Index(None, "action", "id"),
)

usage_events = sa.Table(
    "usage_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("key_id", ID),
    sa.Column("api_id", ID),
    sa.Column("owner_id", sa.String(200)),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Index(None, "key_id", "id"),  # no index on time: the prune goes by id (0016)
)

# One row a key, hour and outcome: usage queries read these, never the raw events.
usage_hourly = sa.Table(
    "usage_hourly",
    metadata,
    sa.Column("key_id", ID, primary_key=True),  # "" for verifications of no known key
    sa.Column("api_id", ID, primary_key=True),  # "" when unknown
    sa.Column("hour", UtcDateTime, primary_key=True),
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("owner_id", sa.String(200), nullable=False),  # "" when none
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index(None, "api_id", "hour"),
    sa.Index(None, "owner_id", "hour"),
    sa.Index(None, "hour"),  # 0014: the keys verified most since
)

# One row an hour and outcome, over every key (0014): what charts of all verifications read
# (usage_hourly holds one row a key too). Written by the flush that writes usage_hourly.
usage_totals = sa.Table(
    "usage_totals",
    metadata,
    sa.Column("hour", UtcDateTime, primary_key=True),
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    # One row a rotation: replicas rotating at once collide here and only one key is made.
    sa.Column("generation", sa.Integer, nullable=False, unique=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("public_jwk", sa.Text, nullable=False),
    sa.Column("private_key", sa.Text, nullable=False),  # AES-GCM sealed, never in clear
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("activates_at", UtcDateTime, nullable=False),
    sa.Column("retires_at", UtcDateTime),
    sa.Column("withdrawn_at", UtcDateTime),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("grant_types", sa.Text, nullable=False),  # JSON lists from here
    sa.Column("redirect_uris", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("audiences", sa.Text, nullable=False),
    sa.Column("token_format", sa.String(16), nullable=False),
    sa.Column("auth_method", sa.String(32), nullable=False),
    sa.Column("access_token_ttl_seconds", sa.Integer),
    sa.Column("refresh_token_ttl_seconds", sa.Integer),
    sa.Column("refresh_token_idle_seconds", sa.Integer),  # 0005
    sa.Column("pkce_required", sa.Boolean, nullable=False, server_default=sa.true()),  # 0011
    sa.Column("jwks", sa.Text),  # JSON object (private_key_jwt clients)
    sa.Column("secret_hash", sa.LargeBinary(64)),
    sa.Column("secret_start", sa.String(40)),
    sa.Column("previous_secret_hash", sa.LargeBinary(64)),
    sa.Column("previous_secret_expires_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # 0013: RFC 9449 §5.2 and RFC 9126 §6 client metadata
    sa.Column("dpop_bound_access_tokens", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("require_pushed_authorization_requests", sa.Boolean, nullable=False,
              server_default=sa.false()),
    # 0015: OpenID Connect RP-Initiated Logout 1.0 §3.1 (JSON list)
    sa.Column("post_logout_redirect_uris", sa.Text, nullable=False, server_default="[]"),
)

# RFC 7523 §3: a client assertion's `jti` is accepted once until the assertion expires.
client_assertions = sa.Table(
    "client_assertions",
    metadata,
    sa.Column("client_id", ID, primary_key=True),
    sa.Column("jti", sa.String(200), primary_key=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index(None, "expires_at"),
)

opaque_tokens = sa.Table(
    "opaque_tokens",
    metadata,
    sa.Column("token_hash", sa.LargeBinary(64), primary_key=True),
    sa.Column("jti", sa.String(64), nullable=False, unique=True),
    sa.Column("client_id", ID, nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("audience", sa.Text, nullable=False),  # JSON list
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("extra", sa.Text),  # 0013: JSON object of further claims (`act`, `cnf`)
    sa.Index(None, "expires_at"),
)

# RFC 9449 §11.1: the DPoP proofs seen, by a digest of (key thumbprint, `jti`), kept until
# they are too old to be accepted anyway (the replay cache when there is no Redis; 0013).
dpop_proofs = sa.Table(
    "dpop_proofs",
    metadata,
    sa.Column("proof_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index(None, "expires_at"),
)

# APIs whose access tokens are encrypted to their own public key (0013).
resource_servers = sa.Table(
    "resource_servers",
    metadata,
    sa.Column("id", ID, primary_key=True),  # rs_...
    sa.Column("audience", sa.String(2048), nullable=False, unique=True),
    sa.Column("encryption_jwk", sa.Text, nullable=False),  # JSON object, a public JWK
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# RFC 9126 pushed authorization requests: the `request_uri` stored only as a keyed hash,
# used once, within its short lifetime (0013).
pushed_requests = sa.Table(
    "pushed_requests",
    metadata,
    sa.Column("request_hash", sa.LargeBinary(64), primary_key=True),
    sa.Column("client_id", ID, nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # JSON list of the request's [name, value]
    sa.Column("expires_at", UtcDateTime, nullable=False),  # to start the flow
    sa.Column("started_at", UtcDateTime),  # first used at the authorization endpoint
    sa.Index(None, "expires_at"),
)

# The JWT deny-list and its feed: a revoked `jti` stays until the token would have expired.
# A row with a `client_id` and no `jti` (0007) revokes every token of that client issued at
# or before `revoked_at` (a deleted client), kept until the last of them would have expired.
revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("id", ID, primary_key=True),  # rvk_..., time-ordered: the feed's cursor
    sa.Column("jti", sa.String(64), unique=True),  # NULL: the whole client
    sa.Column("client_id", ID),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=False),
    sa.Index(None, "expires_at"),
    sa.Index(None, "client_id", "jti", "revoked_at"),  # 0007: a token's client-wide row
)

# Refresh tokens (0005). A family is one authorization grant: every refresh token rotated
# from the first shares it, with its scope, audience and absolute expiry (which rotation
# never extends). Revoking the family revokes them all, and the access tokens they brought.
refresh_families = sa.Table(
    "refresh_families",
    metadata,
    sa.Column("id", ID, primary_key=True),  # rtf_...
    sa.Column("client_id", ID, nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("audience", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),  # absolute: never extended
    sa.Column("rotated_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("revoke_reason", sa.String(32)),
    sa.Column("dpop_jkt", sa.String(64)),  # 0013: the DPoP key its tokens are bound to
    # 0015: OpenID Connect — the login the grant came from (ID tokens on refresh)
    sa.Column("auth_time", UtcDateTime),
    sa.Column("sid", sa.String(64)),
    sa.Index(None, "client_id"),
    sa.Index(None, "subject"),
    sa.Index(None, "expires_at"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),  # rft_...
    sa.Column("token_hash", sa.LargeBinary(64), nullable=False, unique=True),
    sa.Column("family_id", ID, sa.ForeignKey("refresh_families.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("idle_expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),  # set once, by the rotation that consumed it
    # The access token issued together with this refresh token: revoked with the family.
    sa.Column("access_jti", sa.String(64)),
    sa.Column("access_expires_at", UtcDateTime),
    sa.Index(None, "family_id"),
)

# RFC 8628 device authorizations: codes stored only as keyed hashes.
device_authorizations = sa.Table(
    "device_authorizations",
    metadata,
    sa.Column("id", ID, primary_key=True),  # dva_...
    sa.Column("device_code_hash", sa.LargeBinary(64), nullable=False, unique=True),
    sa.Column("user_code_hash", sa.LargeBinary(64), nullable=False, unique=True),
    sa.Column("client_id", ID, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("audience", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("interval_seconds", sa.Integer, nullable=False),
    sa.Column("last_polled_at", UtcDateTime),
    sa.Column("status", sa.String(16), nullable=False),  # pending approved denied consumed
    sa.Column("subject", sa.String(200)),  # the user who approved or denied
    sa.Column("granted_scope", sa.Text),  # what the user approved
    sa.Column("decided_at", UtcDateTime),
    sa.Index(None, "expires_at"),
)

# People (docs/users.md): `username_key` is the username as compared (NFKC, case-folded),
# so "Alice" and "alice" cannot both exist; `username` is kept as it was given.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", sa.String(200), nullable=False),
    sa.Column("username_key", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id PHC string
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_login_at", UtcDateTime),
    # The profile (users/profile.py), 0017: a display name, an email address and whether
    # an admin vouched for it.
    sa.Column("name", sa.String(200)),
    sa.Column("email", sa.String(254)),
    sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Roles of people (`PUT /v1/roles/{name}`): a scope any role names is granted only to users
# holding such a role. Not the `roles` table above, which holds API keys' permissions.
scope_roles = sa.Table(
    "scope_roles",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("scopes", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # RESTRICT: deleting a held role would silently make its scopes grantable to anyone.
    sa.Column("role", sa.String(128), sa.ForeignKey("scope_roles.name", ondelete="RESTRICT"),
              primary_key=True),
    sa.Index(None, "role"),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("client_id", ID, sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("scopes", sa.Text, nullable=False),  # JSON list
    sa.Column("granted_at", UtcDateTime, nullable=False),
    sa.Index(None, "client_id"),
)

# Logged-in browsers: the cookie holds a random id; only its SHA-256 is stored.
browser_sessions = sa.Table(
    "browser_sessions",
    metadata,
    sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),  # the absolute lifetime's end
    sa.Column("ip", sa.String(64)),
    sa.Index(None, "user_id"),
    sa.Index(None, "expires_at"),
)

# RFC 6749 §4.1.2: codes stored hashed, single-use (`used_at`), bound to client, redirect
# URI, PKCE challenge and user; what a code issued is kept so a replay can revoke it.
authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("client_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("code_challenge", sa.String(128)),  # S256 only; NULL: no PKCE (confidential)
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("audience", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
    sa.Column("reused_at", UtcDateTime),
    sa.Column("access_jti", sa.String(64)),
    sa.Column("access_expires_at", UtcDateTime),
    sa.Column("refresh_family_id", sa.String(64)),  # set by the refresh-token grant's issuer
    # 0015: OpenID Connect — the request's nonce, and the login's time and session id
    sa.Column("nonce", sa.Text),
    sa.Column("auth_time", UtcDateTime),
    sa.Column("sid", sa.String(64)),
    sa.Index(None, "expires_at"),
)

# Security alerts (docs/alerts.md). At most one alert per (type, subject) is open or
# acknowledged at a time: the partial unique index is what every worker and replica upserts
# against, so a repeat bumps `count` and `last_seen` of that one instead of opening another.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", ID, primary_key=True),  # alr_..., time-ordered: newest first is id desc
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("subject_kind", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("api_id", ID),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON object
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("uq_alerts_active", "type", "subject_kind", "subject_id", unique=True,
             sqlite_where=sa.text("state != 'resolved'"),
             postgresql_where=sa.text("state != 'resolved'")),
    sa.Index(None, "type", "id"),
    sa.Index(None, "state", "id"),
)

# Webhook targets (docs/webhooks.md). Secrets sign every delivery, so they are kept
# encrypted (AES-GCM under a key derived from KEYPLANE_SECRET_KEY), not hashed; during a
# roll the previous one signs beside the new one until `previous_secret_expires_at`.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", ID, primary_key=True),  # whk_...
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),  # JSON list of patterns
    sa.Column("description", sa.Text),
    sa.Column("secret", sa.LargeBinary, nullable=False),  # sealed
    sa.Column("previous_secret", sa.LargeBinary),  # sealed
    sa.Column("previous_secret_expires_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The durable outbox: an event is inserted in the transaction of what caused it (an alert
# opening, an audit entry), with one delivery row per webhook subscribed to it then.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", ID, primary_key=True),  # the `webhook-id` header: evt_... or alr_...-based
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the exact JSON payload every attempt sends
    sa.Index(None, "created_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),  # dlv_...
    sa.Column("webhook_id", ID, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", ID, sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime),
    # A worker owns an attempt until then (its claim); a crashed worker's claim lapses.
    sa.Column("claimed_until", UtcDateTime),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", UtcDateTime),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "webhook_id", "id"),
)

# Leak reports (docs/leaks.md): one row a reported token, by the SHA-256 of the token, so a
# repeated report answers as the first one did and exposes nothing twice.
leak_reports = sa.Table(
    "leak_reports",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 hex
    sa.Column("token_type", sa.String(40), nullable=False),
    sa.Column("label", sa.String(20), nullable=False),
    sa.Column("key_id", ID),  # the key, client or refresh family the token belonged to
    sa.Column("url", sa.Text),
    sa.Column("reported_at", UtcDateTime, nullable=False),
)
