"""Users: accounts, logins, roles of people and the scopes they restrict, consents.

A username is compared in its NFKC case-folded form (`username_key`), so look-alike and
case variants of one name cannot be two accounts; it is shown as it was given. A role
(`PUT /v1/roles/{name}`) names scopes: a scope named by any role is granted only to users
holding a role that names it; every other scope a client is allowed, any user may grant.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from keyplane.audit import events
from keyplane.audit.events import SYSTEM, Actor, AuditEvent
from keyplane.batching import BatchWriter
from keyplane.clock import Clock
from keyplane.errors import (
    FieldError,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from keyplane.ids import is_id, new_id
from keyplane.keys.apis import role_name_error
from keyplane.oauth.client_metadata import scope_error
from keyplane.pagination import Page, page_of
from keyplane.users.model import ADMIN_ROLE, Consent, Profile, ScopeRole, User
from keyplane.users.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Passwords
from keyplane.users.profile import PROFILE_FIELDS, changed_profile, written_text
from keyplane.users.repository import UserRepository
from keyplane.users.throttle import LoginThrottle

MAX_USERNAME_LENGTH = 200
MAX_ROLES = 50
MAX_ROLE_SCOPES = 100


class LoginFailed(Unauthenticated):
    """Wrong username or password, or a disabled account: one answer for all three."""


class LoginThrottled(TooManyRequests):
    """Too many login attempts for this account or from this address."""


def username_key(username: object) -> str:
    """The form a username is compared in; raises Invalid (field `username`)."""
    written = written_text(username, field="username", max_length=MAX_USERNAME_LENGTH)
    key = unicodedata.normalize("NFKC", written).casefold()
    if len(key) > MAX_USERNAME_LENGTH:
        raise Invalid.field("username", f"must be at most {MAX_USERNAME_LENGTH} characters once normalised")
    return key


def password_error(password: object) -> str | None:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
    if any(unicodedata.category(ch) == "Cs" for ch in password):
        return "must not contain lone surrogates"
    return None


def _roles_field(roles: object) -> tuple[str, ...]:
    if not isinstance(roles, (list, tuple)) or len(roles) > MAX_ROLES:
        raise Invalid.field("roles", f"must be a list of at most {MAX_ROLES} role names")
    errors = [FieldError(f"roles[{i}]", problem) for i, r in enumerate(roles)
              if (problem := "must be a role name" if not isinstance(r, str) else role_name_error(r))]
    if errors:
        raise Invalid(errors)
    return tuple(dict.fromkeys(roles))


class UserService:
    def __init__(self, users: UserRepository, passwords: Passwords, throttle: LoginThrottle,
                 clock: Clock, *, audit: BatchWriter[AuditEvent]) -> None:
        self._users = users
        self._passwords = passwords
        self._throttle = throttle
        self._clock = clock
        self._audit = audit

    # -- accounts ---------------------------------------------------------------------

    async def create_user(self, actor: Actor, username: str, password: str,
                          roles: Iterable[str] = (), *, name: str | None = None,
                          email: str | None = None, email_verified: bool = False) -> User:
        """Raises Invalid (a bad field, an undefined role) or Conflict (username taken)."""
        key = username_key(username)
        problem = password_error(password)
        if problem:
            raise Invalid.field("password", problem)
        profile = changed_profile(Profile(), {"name": name, "email": email,
                                              "email_verified": email_verified})
        role_names = _roles_field(list(roles))
        await self._require_roles(role_names)
        now = self._clock.now()
        user = User(id=new_id("usr", now), username=username, roles=role_names, disabled=False,
                    created_at=now, updated_at=now, last_login_at=None, profile=profile)
        # Who vouched for an address is worth a record; the address itself is not repeated.
        event = AuditEvent.of(actor, events.USER_CREATE, user.id, now, username=username,
                              roles=list(role_names),
                              **({"email_verified": True} if profile.email_verified else {}))
        await self._users.insert(user, username_key=key,
                                 password_hash=await self._passwords.hash(password), event=event)
        return user

    async def get_user(self, user_id: str) -> User:
        """Raises NotFound, for an id of any shape."""
        if not is_id(user_id, "usr"):
            raise NotFound(f"no user {user_id}")
        return await self._users.get(user_id)

    async def list_users(self, *, after: str | None, limit: int) -> Page[User]:
        return page_of(await self._users.page(after=after, limit=limit + 1), limit, lambda u: u.id)

    async def update_user(self, actor: Actor, user_id: str, changes: Mapping[str, Any]) -> User:
        """`changes` may hold username, password, roles, disabled, and the profile's name,
        email, email_verified (users/profile.py: None clears name or email; a new email is
        unverified unless said otherwise). Disabling a user or changing their password ends
        their browser sessions. Raises NotFound, Invalid, Conflict."""
        unknown = sorted(set(changes) - {"username", "password", "roles", "disabled", *PROFILE_FIELDS})
        if unknown:
            raise Invalid([FieldError(f, "cannot be changed") for f in unknown])
        user = await self.get_user(user_id)
        username: tuple[str, str] | None = None
        if "username" in changes:
            username = (changes["username"], username_key(changes["username"]))
        password_hash: str | None = None
        if "password" in changes:
            problem = password_error(changes["password"])
            if problem:
                raise Invalid.field("password", problem)
        roles: tuple[str, ...] | None = None
        if "roles" in changes:
            roles = _roles_field(changes["roles"])
            await self._require_roles(roles)
        disabled = changes.get("disabled")
        if disabled is not None and not isinstance(disabled, bool):
            raise Invalid.field("disabled", "must be true or false")
        profile: Profile | None = None
        if any(f in changes for f in PROFILE_FIELDS):
            profile = changed_profile(user.profile, changes)
        if "password" in changes:
            password_hash = await self._passwords.hash(changes["password"])
        now = self._clock.now()
        details: dict[str, Any] = {"fields": sorted(changes)}  # never the password itself
        if roles is not None:
            details["roles"] = list(roles)
        if disabled is not None:
            details["disabled"] = disabled
        if profile is not None and profile.email_verified != user.profile.email_verified:
            details["email_verified"] = profile.email_verified
        event = AuditEvent.of(actor, events.USER_UPDATE, user.id, now, **details)
        return await self._users.update(user.id, at=now, event=event, username=username,
                                        password_hash=password_hash, roles=roles, disabled=disabled,
                                        profile=profile)

    async def delete_user(self, actor: Actor, user_id: str) -> None:
        user = await self.get_user(user_id)
        now = self._clock.now()
        await self._users.delete(user.id, AuditEvent.of(actor, events.USER_DELETE, user.id, now,
                                                        username=user.username))

    # -- logins -----------------------------------------------------------------------

    async def login(self, username: str, password: str, *, ip: str | None) -> User:
        """The user whose credentials these are. Raises LoginThrottled (before any
        password is checked) or LoginFailed — the same for an unknown username, a wrong
        password and a disabled account, and an unknown username costs an argon2 check
        too. Every outcome is audited; the password never is."""
        now = self._clock.now()
        try:
            key = username_key(username)
        except Invalid:
            key = ""
        if not await self._throttle.allow(key, ip, now):
            self._audit.add(AuditEvent.of(Actor(id="anonymous", ip=ip), events.USER_LOGIN_THROTTLED,
                                          "unknown", now))
            raise LoginThrottled("too many login attempts; try again in a few minutes")
        record = await self._users.login_record(key) if key else None
        bounded = password[:MAX_PASSWORD_LENGTH + 1]
        ok, rehash = await self._passwords.check(record.password_hash if record else None, bounded)
        if record is None or not ok or record.user.disabled:
            reason = "unknown_user" if record is None else "disabled" if ok else "bad_password"
            target = record.user.id if record else "unknown"
            self._audit.add(AuditEvent.of(Actor(id=target, ip=ip), events.USER_LOGIN_FAILURE,
                                          target, now, reason=reason))
            raise LoginFailed("wrong username or password")
        rehashed = await self._passwords.hash(bounded) if rehash else None
        await self._users.record_login(record.user.id, now, AuditEvent.of(
            Actor(id=record.user.id, ip=ip), events.USER_LOGIN, record.user.id, now,
            **({"rehashed": True} if rehashed else {})), rehashed)
        return record.user

    async def active_user(self, user_id: str) -> User | None:
        """The user when they exist and are not disabled (a session's holder)."""
        try:
            user = await self.get_user(user_id)
        except NotFound:
            return None
        return None if user.disabled else user

    # -- roles ------------------------------------------------------------------------

    async def put_role(self, actor: Actor, name: str, scopes: Iterable[str]) -> ScopeRole:
        problem = role_name_error(name)
        if problem:
            raise Invalid.field("name", problem)
        names = list(scopes)
        if len(names) > MAX_ROLE_SCOPES:
            raise Invalid.field("scopes", f"at most {MAX_ROLE_SCOPES} scopes")
        errors = [FieldError(f"scopes[{i}]", p) for i, s in enumerate(names) if (p := scope_error(s))]
        if errors:
            raise Invalid(errors)
        now = self._clock.now()
        role = ScopeRole(name=name, scopes=tuple(dict.fromkeys(names)), created_at=now, updated_at=now)
        event = AuditEvent.of(actor, events.USER_ROLE_PUT, "role", now, role=name,
                              scopes=list(role.scopes))
        return await self._users.put_role(role, event)

    async def ensure_admin_role(self) -> None:
        """Define the role `admin` (the dashboard's, web/dashboard/) with no scopes, unless
        it is defined: at start, so `keyplane users create NAME --role admin` just works."""
        if await self._users.roles([ADMIN_ROLE]):
            return
        now = self._clock.now()
        role = ScopeRole(name=ADMIN_ROLE, scopes=(), created_at=now, updated_at=now)
        await self._users.put_role(role, AuditEvent.of(SYSTEM, events.USER_ROLE_PUT, "role", now,
                                                       role=ADMIN_ROLE, scopes=[]))

    async def list_roles(self) -> list[ScopeRole]:
        return await self._users.roles()

    async def get_role(self, name: str) -> ScopeRole:
        found = [] if role_name_error(name) else await self._users.roles([name])
        if not found:
            raise NotFound(f"no role {name!r}")
        return found[0]

    async def delete_role(self, actor: Actor, name: str) -> None:
        """Raises NotFound, or Conflict while users hold the role (deleting it would make
        its scopes grantable to every user)."""
        if role_name_error(name):
            raise NotFound(f"no role {name!r}")
        now = self._clock.now()
        await self._users.delete_role(name, AuditEvent.of(actor, events.USER_ROLE_DELETE, "role",
                                                          now, role=name))

    async def _require_roles(self, names: tuple[str, ...]) -> None:
        if not names:
            return
        known = {r.name for r in await self._users.roles(list(names))}
        missing = [FieldError(f"roles[{i}]", "no such role; define it with PUT /v1/roles/{name}")
                   for i, n in enumerate(names) if n not in known]
        if missing:
            raise Invalid(missing)

    async def refused_scopes(self, user: User, scopes: Iterable[str]) -> tuple[str, ...]:
        """Those of `scopes` the user may not be granted: scopes some role names, which
        none of the user's roles names."""
        wanted = tuple(scopes)
        if not wanted:
            return ()
        roles = await self._users.roles()
        restricted = {s for r in roles for s in r.scopes}
        held = {s for r in roles if r.name in user.roles for s in r.scopes}
        return tuple(s for s in wanted if s in restricted and s not in held)

    # -- consents ---------------------------------------------------------------------

    async def list_consents(self, user_id: str) -> list[Consent]:
        user = await self.get_user(user_id)
        return await self._users.consents(user.id)

    async def consent(self, user_id: str, client_id: str) -> Consent | None:
        return await self._users.consent(user_id, client_id)

    async def grant_consent(self, user: User, client_id: str, scopes: tuple[str, ...], *,
                            ip: str | None) -> Consent:
        """Remember that `user` approved `scopes` for the client (added to any earlier
        approval of theirs for it)."""
        now = self._clock.now()
        earlier = await self._users.consent(user.id, client_id)
        merged = tuple(dict.fromkeys((*(earlier.scopes if earlier else ()), *scopes)))
        consent = Consent(client_id=client_id, scopes=merged, granted_at=now)
        event = AuditEvent.of(Actor(id=user.id, ip=ip), events.CONSENT_GRANT, user.id, now,
                              client_id=client_id, scopes=list(merged))
        await self._users.grant_consent(user.id, consent, event)
        return consent

    async def withdraw_consent(self, actor: Actor, user_id: str, client_id: str) -> None:
        """Raises NotFound for an unknown user or no consent for that client."""
        user = await self.get_user(user_id)
        if not is_id(client_id, "cli"):
            raise NotFound(f"no consent of {user.id} for {client_id}")
        now = self._clock.now()
        await self._users.withdraw_consent(user.id, client_id, AuditEvent.of(
            actor, events.CONSENT_WITHDRAW, user.id, now, client_id=client_id))


def audited_logout(user_id: str, ip: str | None, at: datetime) -> AuditEvent:
    return AuditEvent.of(Actor(id=user_id, ip=ip), events.USER_LOGOUT, user_id, at)
