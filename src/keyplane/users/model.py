"""The values of the users domain, shared by its services, stores and routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


# The role that opens the web dashboard (web/dashboard/). Defined at start when it is not
# (`UserService.ensure_admin_role`), naming no scopes unless an operator gives it some.
ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class Profile:
    """What a user is called and how to reach them, as OpenID Connect's `profile` and `email`
    scopes release it (oauth/user_claims.py): all optional, checked by users/profile.py.
    `email_verified` is the word of the admin who set it (keyplane sends no mail); it is
    never true without an `email`."""

    name: str | None = None
    email: str | None = None
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class User:
    """A person who logs in. The password hash never leaves the store's login lookup."""

    id: str
    username: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    profile: Profile = Profile()

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """What a login compares against: the user and their stored argon2id hash."""

    user: User
    password_hash: str

    def __repr__(self) -> str:
        return f"LoginRecord(id={self.user.id!r})"


@dataclass(frozen=True, slots=True)
class ScopeRole:
    """A role of people: the scopes it names are granted only to users holding a role
    that names them (docs/users.md, "Users and roles")."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Consent:
    """A user's remembered approval of scopes for one client."""

    client_id: str
    scopes: tuple[str, ...]
    granted_at: datetime
