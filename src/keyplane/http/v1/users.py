"""`/v1/users`: people who log in (never their passwords), and their consents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.errors import FieldError, Invalid
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict, Time
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.oauth.refresh_tokens import CONSENT_WITHDRAWN
from keyplane.users.model import Consent, User
from keyplane.users.passwords import MAX_PASSWORD_LENGTH
from keyplane.users.profile import CLEARABLE_FIELDS, MAX_EMAIL_LENGTH, MAX_NAME_LENGTH
from keyplane.users.service import MAX_ROLES, MAX_USERNAME_LENGTH

router = APIRouter(prefix="/v1/users", tags=["Users"], responses=ERRORS)

# Sizes here; what a value may be (a username's form, a password's length, a defined role)
# is the service's rule, the same from every edge.
Username = Annotated[str, Field(max_length=MAX_USERNAME_LENGTH)]
Password = Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)]
RoleRef = Annotated[str, Field(max_length=128)]
DisplayName = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]
Email = Annotated[str, Field(max_length=MAX_EMAIL_LENGTH)]
NAME = ("The user's name as shown (OpenID Connect's `name` claim, scope `profile`): 1 to "
        f"{MAX_NAME_LENGTH} characters, NFC-normalised.")
EMAIL = ("An email address (the `email` claim, scope `email`), stored with its domain "
         "lower-cased: ASCII, an unquoted local part, a domain of two or more labels.")
EMAIL_VERIFIED = ("Whether you vouch that the user controls `email` (the `email_verified` "
                  "claim; keyplane sends no mail). Never true without an email.")


class UserCreate(Strict):
    username: Username
    password: Password = Field(description="8 to 1024 characters; stored as an argon2id hash only.")
    roles: list[RoleRef] = Field(default_factory=list, max_length=MAX_ROLES,
                                 description="Names of roles defined with PUT /v1/roles/{name}.")
    name: DisplayName | None = Field(default=None, description=NAME)
    email: Email | None = Field(default=None, description=EMAIL)
    email_verified: bool = Field(default=False, description=EMAIL_VERIFIED)


class UserPatch(Strict):
    username: Username | None = None
    password: Password | None = Field(default=None, description="A new password ends the "
                                      "user's browser sessions.")
    roles: list[RoleRef] | None = Field(default=None, max_length=MAX_ROLES)
    disabled: bool | None = Field(default=None, description="A disabled user cannot log in; "
                                  "their browser sessions end at once.")
    name: DisplayName | None = Field(default=None, description=NAME + " null clears it.")
    email: Email | None = Field(default=None, description=EMAIL + " null clears it; a new "
                                "address is unverified unless `email_verified: true` comes with it.")
    email_verified: bool | None = Field(default=None, description=EMAIL_VERIFIED)


class UserOut(BaseModel):
    id: str
    username: str
    name: str | None
    email: str | None
    email_verified: bool
    roles: list[str]
    disabled: bool
    created_at: Time
    updated_at: Time
    last_login_at: Time | None


class ConsentOut(BaseModel):
    client_id: str
    scopes: list[str]
    granted_at: Time


class ConsentList(BaseModel):
    items: list[ConsentOut]


def user_to_wire(user: User) -> dict[str, Any]:
    profile = user.profile
    return {"id": user.id, "username": user.username, "name": profile.name,
            "email": profile.email, "email_verified": profile.email_verified,
            "roles": list(user.roles),
            "disabled": user.disabled, "created_at": rfc3339(user.created_at),
            "updated_at": rfc3339(user.updated_at), "last_login_at": rfc3339(user.last_login_at)}


def consent_to_wire(consent: Consent) -> dict[str, Any]:
    return {"client_id": consent.client_id, "scopes": list(consent.scopes),
            "granted_at": rfc3339(consent.granted_at)}


@router.post("", status_code=201, response_model=UserOut, summary="Create a user")
async def create_user(body: UserCreate, request: Request,
                      caller: Caller = Depends(require("users.write"))) -> dict[str, Any]:
    user = await services_of(request).users.create_user(
        caller.actor, body.username, body.password, body.roles, name=body.name, email=body.email,
        email_verified=body.email_verified)
    return user_to_wire(user)


@router.get("", response_model=ListOf[UserOut], summary="List users")
async def list_users(request: Request, _: Caller = Depends(require("users.read")),
                     page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).users.list_users(after=page.after, limit=page.limit)
    return render_page(found, user_to_wire)


@router.get("/{user_id}", response_model=UserOut, summary="Get a user")
async def get_user(user_id: str, request: Request,
                   _: Caller = Depends(require("users.read"))) -> dict[str, Any]:
    return user_to_wire(await services_of(request).users.get_user(user_id))


@router.patch("/{user_id}", response_model=UserOut, summary="Update a user",
              description="Only the fields sent change; `disabled: true` disables the user.")
async def update_user(user_id: str, body: UserPatch, request: Request,
                      caller: Caller = Depends(require("users.write"))) -> dict[str, Any]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    nulls = [name for name, value in changes.items()
             if value is None and name not in CLEARABLE_FIELDS]
    if nulls:
        raise Invalid([FieldError(n, "cannot be null") for n in sorted(nulls)])
    user = await services_of(request).users.update_user(caller.actor, user_id, changes)
    return user_to_wire(user)


@router.delete("/{user_id}", status_code=204, summary="Delete a user",
               description="With their roles, consents and browser sessions.")
async def delete_user(user_id: str, request: Request,
                      caller: Caller = Depends(require("users.write"))) -> Response:
    await services_of(request).users.delete_user(caller.actor, user_id)
    return Response(status_code=204)


@router.get("/{user_id}/consents", response_model=ConsentList, summary="List a user's consents")
async def list_consents(user_id: str, request: Request,
                        _: Caller = Depends(require("users.read"))) -> dict[str, Any]:
    consents = await services_of(request).users.list_consents(user_id)
    return {"items": [consent_to_wire(c) for c in consents]}


@router.delete("/{user_id}/consents/{client_id}", status_code=204, summary="Withdraw a consent",
               description="The user is asked again the next time the client wants their approval, "
                           "and the refresh tokens the client holds for the user are revoked with "
                           "the access tokens issued from them.")
async def withdraw_consent(user_id: str, client_id: str, request: Request,
                           caller: Caller = Depends(require("users.write"))) -> Response:
    services = services_of(request)
    await services.users.withdraw_consent(caller.actor, user_id, client_id)
    await services.refresh_tokens.revoke_grants(client_id, user_id, reason=CONSENT_WITHDRAWN,
                                                actor=caller.actor)
    return Response(status_code=204)
