"""The keys that sign keyplane's tokens: made on first use, rotated on a schedule,
published ahead of use and kept published until every token they signed has expired.

A key's life, one row a key (`generation` 1, 2, 3... UNIQUE):

    pending ──activates_at──▶ active ──retires_at──▶ retired ──+ retention──▶ (unpublished)
       └────────────── immediate rotation ──────────────▶ withdrawn (unpublished at once)

- The signing key is the newest (highest generation) key whose `activates_at` has passed
  and that is not withdrawn. Every replica computes it from the same rows and the clock, so
  all switch at `activates_at` without talking to each other.
- Rotation inserts generation n+1, published `signing_key_publish_ahead_seconds` before it
  signs, and sets the current key's `retires_at` to that moment, in one transaction with
  its audit event. Two replicas rotating at once insert the same generation: the store
  refuses the second, which then reloads the winner's key. So there is one new key, and the
  JWKS never lacks a key that signs or has signed a live token.
- A retired key stays published (JWKS and keyplane's own verification) for `retention`:
  the longest lifetime a token can have plus clock skew, so a token signed just before the
  switch verifies until its `exp`.
- An immediate rotation (a compromised key) makes a key that signs at once and withdraws
  the current key (and any pending one) from the JWKS at once: tokens it signed stop
  verifying here, and at resource servers when their JWKS cache expires.

Private keys are sealed with AES-256-GCM under a key derived (HKDF) from
KEYPLANE_SECRET_KEY, with the `kid` as associated data (a sealed key moved to another row
does not open). They are opened once per process and kept in memory.

Nothing here reads the store per token: the key list is cached and reloaded at most every
`RELOAD_SECONDS`, and at every moment a key changes state (activation, end of publication,
rotation due), and at once when a replica rotates (PostgreSQL's notice, the change hub).

Every new key is announced on the change hub (keys/changes.py, `TokenChange`
`signing-keys`): verifiers following `GET /v1/keys/changes` fetch the JWKS again at once,
so a key published ahead is known everywhere long before it signs, and a key withdrawn by
an immediate rotation stops verifying within a round trip, not at the JWKS cache's expiry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from keyplane.audit import events
from keyplane.audit.events import SYSTEM, Actor, AuditEvent
from keyplane.clock import Clock, rfc3339
from keyplane.config import Settings
from keyplane.credentials.hashing import derive_subkey
from keyplane.errors import ConfigError, Conflict
from keyplane.ids import new_id
from keyplane.jose.algorithms import (
    PrivateKey,
    PublicKey,
    generate_private_key,
    key_fits,
)
from keyplane.jose.jwk import public_jwk, public_key_from_jwk
from keyplane.jose.jws import encode_json
from keyplane.jose.jwt import DEFAULT_LEEWAY_SECONDS, JwtSigner
from keyplane.keys.changes import SIGNING_KEYS, KeyChangePublisher, TokenChange
from keyplane.oauth.model import SigningKeyInfo

SEALING_PURPOSE = "keyplane signing-key encryption v1"
RELOAD_SECONDS = 30
"""How stale a replica's key list may be. A key published ahead by another replica shows
in this one's JWKS within this time; so does an immediate rotation."""
MAX_TOKEN_LIFETIME_SECONDS = 86_400
"""The longest lifetime of any token keyplane signs: the upper bound of
`access_token_ttl_seconds`, in the settings and per client. A retired key stays published
this long (plus `CLOCK_SKEW_SECONDS`) after it stops signing."""
CLOCK_SKEW_SECONDS = 2 * DEFAULT_LEEWAY_SECONDS
JWKS_MAX_AGE_CAP_SECONDS = 900
"""The JWKS `Cache-Control: max-age` never exceeds this: after an immediate rotation,
caches that honour it drop the withdrawn key within 15 minutes."""
KID_PREFIX = "sig"

Status = Literal["pending", "active", "retired", "withdrawn"]
_SEALED_VERSION = "v1."
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class StoredSigningKey:
    """A signing key as stored: public JWK in clear, private key sealed."""

    kid: str
    generation: int
    alg: str
    public_jwk: dict[str, str]
    sealed_private_key: str
    created_at: datetime
    activates_at: datetime
    retires_at: datetime | None = None
    withdrawn_at: datetime | None = None

    def __repr__(self) -> str:
        return f"StoredSigningKey(kid={self.kid!r}, generation={self.generation}, alg={self.alg!r})"

    def status_at(self, now: datetime) -> Status:
        if self.withdrawn_at is not None:
            return "withdrawn"
        if now < self.activates_at:
            return "pending"
        if self.retires_at is not None and self.retires_at <= now:
            return "retired"
        return "active"

    def info(self, now: datetime) -> SigningKeyInfo:
        return SigningKeyInfo(kid=self.kid, alg=self.alg, created_at=self.created_at,
                              activates_at=self.activates_at, retires_at=self.retires_at,
                              withdrawn_at=self.withdrawn_at, status=self.status_at(now))


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """The key that signs now. The private key never leaves the process."""

    kid: str
    alg: str
    private_key: PrivateKey = field(repr=False)
    # A prepared signer by `typ`: the same ActiveKey signs until the keys change.
    _signers: dict[str, JwtSigner] = field(default_factory=dict, repr=False, compare=False)

    def jwt_signer(self, typ: str) -> JwtSigner:
        """The prepared signer of compact JWS with header `{"alg", "kid", "typ"}` (RFC 9068
        §2.1: `typ="at+jwt"` for access tokens); safe to call from any thread."""
        signer = self._signers.get(typ)
        if signer is None:
            signer = self._signers[typ] = JwtSigner(self.private_key, self.alg, kid=self.kid, typ=typ)
        return signer


class SigningKeyRepository(Protocol):
    async def all(self) -> list[StoredSigningKey]:
        """Every key, by generation."""
        ...

    async def insert(self, key: StoredSigningKey, *, retire: Mapping[str, datetime],
                     withdraw: Sequence[str], event: AuditEvent) -> None:
        """Insert `key`, set `retires_at` of the keys in `retire`, and `withdrawn_at =
        key.created_at` of those in `withdraw`, with `event`, in one transaction. Raises
        Conflict when `key.generation` exists already (another replica rotated first)."""
        ...


class KeySealer:
    """Seals private keys for storage: AES-256-GCM, a random 96-bit nonce a key, the `kid`
    as associated data, under a key derived from KEYPLANE_SECRET_KEY."""

    __slots__ = ("_aead",)

    def __init__(self, secret_key: bytes) -> None:
        self._aead = AESGCM(derive_subkey(secret_key, SEALING_PURPOSE))

    def __repr__(self) -> str:
        return "KeySealer(<key>)"

    def seal(self, private_key: PrivateKey, kid: str) -> str:
        plain = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, kid.encode())
        return _SEALED_VERSION + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, sealed: str, kid: str) -> PrivateKey:
        """The private key sealed in `sealed` for `kid`; raises ConfigError when it does not
        open (another KEYPLANE_SECRET_KEY, or a value altered or moved between rows)."""
        try:
            if not sealed.startswith(_SEALED_VERSION):
                raise ValueError("unknown sealing version")
            raw = base64.urlsafe_b64decode(sealed[len(_SEALED_VERSION):])
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], kid.encode())
            key = load_der_private_key(plain, password=None)
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise ConfigError(f"signing key {kid} does not decrypt with this KEYPLANE_SECRET_KEY "
                              "(or its stored value was altered)") from exc
        if not isinstance(key, (ec.EllipticCurvePrivateKey, Ed25519PrivateKey, rsa.RSAPrivateKey)):
            raise ConfigError(f"signing key {kid} is not an EC, Ed25519 or RSA key")
        return key


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What this process knows about the keys, valid until `valid_until`."""

    valid_until: datetime
    signing: ActiveKey
    jwks: dict[str, Any]
    jwks_json: bytes
    verification: Mapping[str, tuple[str, PublicKey]]


class SigningKeyService:
    """The signing keys: the one that signs now, the published set, rotation."""

    def __init__(self, repository: SigningKeyRepository, secret_key: bytes, clock: Clock,
                 settings: Settings, *, changes: KeyChangePublisher | None = None) -> None:
        self._repository = repository
        self._changes = changes
        self._sealer = KeySealer(secret_key)
        self._clock = clock
        self._alg = settings.signing_alg
        self._rotation = timedelta(days=settings.signing_key_rotation_days)
        self._publish_ahead = timedelta(seconds=settings.signing_key_publish_ahead_seconds)
        self._retention = timedelta(
            seconds=max(MAX_TOKEN_LIFETIME_SECONDS, settings.access_token_ttl_seconds)
            + CLOCK_SKEW_SECONDS)
        self._snapshot: _Snapshot | None = None
        self._notices = 0  # PostgreSQL's notices of a changed key list, counted
        self._lock = asyncio.Lock()
        self._private: dict[str, ActiveKey] = {}
        self._public: dict[str, tuple[str, PublicKey]] = {}

    @property
    def retention_seconds(self) -> int:
        """How long a retired key stays published after it stopped signing."""
        return int(self._retention.total_seconds())

    @property
    def jwks_max_age_seconds(self) -> int:
        """`max-age` for the JWKS (see `jwks_max_age_seconds`)."""
        return jwks_max_age_seconds(int(self._publish_ahead.total_seconds()))

    async def active(self) -> ActiveKey:
        """The key that signs now (made on first use)."""
        return (await self._current()).signing

    async def jwks(self) -> dict[str, Any]:
        """The JWK Set to publish: every pending, active, and retired-but-retained key;
        public members only; never a withdrawn key."""
        jwks = (await self._current()).jwks
        return {"keys": [dict(k) for k in jwks["keys"]]}

    async def jwks_json(self) -> bytes:
        """`jwks()` encoded once per reload, for the JWKS route."""
        return (await self._current()).jwks_json

    async def verification_keys(self) -> Mapping[str, tuple[str, PublicKey]]:
        """What keyplane's own token verification trusts: the JWKS keys by `kid`, each with
        its algorithm (`jose.jws.verify_compact` takes it as is)."""
        return (await self._current()).verification

    async def list_keys(self) -> list[SigningKeyInfo]:
        """Every key, newest first, with its status now (read afresh from the store)."""
        await self._current()
        now = self._clock.now()
        return [k.info(now) for k in reversed(await self._repository.all())]

    async def rotate(self, actor: Actor, *, immediate: bool = False) -> SigningKeyInfo:
        """Make the next key. It signs after the publish-ahead period; with `immediate`, at
        once, and the current key (and any pending one) is withdrawn from the JWKS at once.

        Raises Conflict when a key is already published ahead (a second scheduled rotation
        would cut its publication short), or when another rotation won a race to the same
        generation.
        """
        async with self._lock:
            now = self._clock.now()
            keys = await self._repository.all()
            if not immediate:
                pending = [k for k in keys if k.withdrawn_at is None and k.activates_at > now]
                if pending:
                    raise Conflict(
                        f"key {pending[-1].kid} is published ahead and signs from "
                        f"{rfc3339(pending[-1].activates_at)}; rotate with immediate=true to "
                        "replace it and the current key now")
            try:
                created = await self._create(keys, now, actor, immediate=immediate,
                                             reason="immediate" if immediate else "manual")
            except Conflict:
                raise Conflict("another rotation made the next key at the same moment; "
                               "see GET /v1/signing-keys") from None
            finally:
                self._snapshot = None  # whatever happened, the next use reloads
            return created.info(now)

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._clock.now() < snapshot.valid_until:
            return snapshot
        async with self._lock:
            now = self._clock.now()
            snapshot = self._snapshot
            if snapshot is None or now >= snapshot.valid_until:
                notices = self._notices
                snapshot = await self._reload(now)
                if notices == self._notices:  # else the list changed while it was read
                    self._snapshot = snapshot
            return snapshot

    def notice(self, payload: str) -> None:
        """PostgreSQL told of a change (store/change_notices.py): `signing-keys` when another
        replica rotated, so its key is used and published here at once, not a reload later."""
        if payload == "signing-keys":
            self._notices += 1
            self._snapshot = None

    def change_published(self, change: TokenChange) -> None:
        """The change hub's token changes (this replica's, and the others' through Redis,
        which may come before PostgreSQL's notice): a new key is read before a verifier
        told of it asks for the JWKS. Not counted as a notice: this process's own rotation
        comes here too, from within the reload that made the key, whose snapshot is exact;
        a reload that crossed another replica's rotation is caught by PostgreSQL's notice."""
        if change.what == SIGNING_KEYS:
            self._snapshot = None

    def set_listening(self, listening: bool) -> None:
        """Nothing to drop: without notices the key list is still reloaded every
        `RELOAD_SECONDS` (and at each moment a key changes state)."""

    async def _reload(self, now: datetime) -> _Snapshot:
        keys = await self._repository.all()
        signing = _signing_tolerant(keys, now)
        if signing is None:
            keys = await self._create_racing(keys, now, "first use")
            signing = _signing_tolerant(keys, now)
        elif (signing.activates_at + self._rotation - self._publish_ahead <= now
              and not any(k.generation > signing.generation and k.withdrawn_at is None
                          for k in keys)):
            keys = await self._create_racing(keys, now, "schedule")
            signing = _signing_tolerant(keys, now)
        if signing is None:  # every key made since is withdrawn already: a race lost twice
            raise Conflict("no usable signing key yet; retry")
        return self._snapshot_of(keys, signing, now)

    async def _create_racing(self, keys: list[StoredSigningKey], now: datetime,
                             reason: str) -> list[StoredSigningKey]:
        """Make the next key, as the one replica that wins the generation; a loser takes
        the winner's. Returns the key list afterwards."""
        try:
            await self._create(keys, now, SYSTEM, immediate=False, reason=reason)
        except Conflict:
            pass  # another replica made this generation a moment ago: use theirs
        return await self._repository.all()

    async def _create(self, keys: list[StoredSigningKey], now: datetime, actor: Actor, *,
                      immediate: bool, reason: str) -> StoredSigningKey:
        signing = _signing(keys, now)
        activates_at = now if signing is None or immediate else now + self._publish_ahead
        # Whatever would sign until now stops when the new key starts: normally the signing
        # key alone (a pending key makes a scheduled rotation a Conflict first).
        retire = {k.kid: activates_at for k in keys if k.withdrawn_at is None and k.retires_at is None}
        withdraw: list[str] = []
        if immediate and signing is not None:
            retire[signing.kid] = activates_at
            withdraw = [k.kid for k in keys if k.withdrawn_at is None
                        and (k is signing or k.activates_at > now)]
        private_key = await asyncio.to_thread(generate_private_key, self._alg)  # RSA: ~0.1 s
        kid = new_id(KID_PREFIX, now)
        key = StoredSigningKey(
            kid=kid, generation=max((k.generation for k in keys), default=0) + 1,
            alg=self._alg, public_jwk=public_jwk(private_key, kid=kid, alg=self._alg),
            sealed_private_key=self._sealer.seal(private_key, kid),
            created_at=now, activates_at=activates_at)
        event = AuditEvent.of(actor, events.SIGNING_KEY_ROTATE, kid, now, alg=key.alg,
                              generation=key.generation, reason=reason, immediate=immediate,
                              activates_at=rfc3339(activates_at), retired=list(retire),
                              withdrawn=withdraw)
        await self._repository.insert(key, retire=retire, withdraw=withdraw, event=event)
        self._private[kid] = ActiveKey(kid=kid, alg=key.alg, private_key=private_key)
        self._snapshot = None  # before verifiers hear of it: their JWKS fetch reads the new list
        if self._changes is not None:
            await self._changes.publish(TokenChange(SIGNING_KEYS, events.SIGNING_KEY_ROTATE))
        return key

    def _snapshot_of(self, keys: list[StoredSigningKey], signing: StoredSigningKey,
                     now: datetime) -> _Snapshot:
        published = [k for k in keys if self._published(k, now)]
        verification = {k.kid: self._public_key(k) for k in published}
        jwks = {"keys": [k.public_jwk for k in reversed(published)]}  # newest first
        # The next moment the answer changes: a pending key activates, a retired key's
        # retention ends, or the signing key falls due for rotation.
        changes = [signing.activates_at + self._rotation - self._publish_ahead]
        changes += [k.activates_at for k in published]
        changes += [k.retires_at + self._retention for k in published if k.retires_at is not None]
        valid_until = min([now + timedelta(seconds=RELOAD_SECONDS), *(c for c in changes if c > now)])
        return _Snapshot(valid_until=valid_until, signing=self._opened(signing), jwks=jwks,
                         jwks_json=encode_json(jwks), verification=verification)

    def _published(self, key: StoredSigningKey, now: datetime) -> bool:
        return key.withdrawn_at is None and (key.retires_at is None
                                             or now < key.retires_at + self._retention)

    def _public_key(self, key: StoredSigningKey) -> tuple[str, PublicKey]:
        found = self._public.get(key.kid)
        if found is None:
            _kid, alg, public = public_key_from_jwk(key.public_jwk)
            if alg != key.alg:
                raise ConfigError(f"signing key {key.kid}: its JWK is for {alg}, not {key.alg}")
            found = self._public[key.kid] = (alg, public)
        return found

    def _opened(self, key: StoredSigningKey) -> ActiveKey:
        found = self._private.get(key.kid)
        if found is None:
            private_key = self._sealer.open(key.sealed_private_key, key.kid)
            if not key_fits(key.alg, private_key):
                raise ConfigError(f"signing key {key.kid} does not fit its algorithm {key.alg}")
            found = self._private[key.kid] = ActiveKey(kid=key.kid, alg=key.alg,
                                                        private_key=private_key)
        return found


def jwks_max_age_seconds(publish_ahead_seconds: int) -> int:
    """The JWKS `max-age`: at most half of what is left of the publish-ahead period once
    every replica has reloaded, so every cache sees a new key before it signs, and never
    more than `JWKS_MAX_AGE_CAP_SECONDS`."""
    margin = publish_ahead_seconds - RELOAD_SECONDS
    return max(0, min(JWKS_MAX_AGE_CAP_SECONDS, margin // 2))


def _signing_tolerant(keys: Sequence[StoredSigningKey], now: datetime) -> StoredSigningKey | None:
    """`_signing`; but with no key signing yet, a key another replica made a moment ago by
    a clock a little ahead of ours is the first key, not a reason to make a second one."""
    return _signing(keys, now) or _signing(keys, now + timedelta(seconds=CLOCK_SKEW_SECONDS))


def _signing(keys: Sequence[StoredSigningKey], now: datetime) -> StoredSigningKey | None:
    """The newest key that has activated and is not withdrawn."""
    for key in reversed(keys):  # by generation
        if key.withdrawn_at is None and key.activates_at <= now:
            return key
    return None
