"""`/v1/clients`: OAuth clients (RFC 7591 field names), their secrets shown once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.errors import FieldError, Invalid
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Name, Strict, Time
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.oauth.client_metadata import MAX_SCOPE_LENGTH, MAX_URI_LENGTH
from keyplane.oauth.clients import (
    ACCESS_TOKEN_TTL_SECONDS,
    MAX_GRACE_SECONDS,
    REFRESH_TOKEN_TTL_SECONDS,
    ClientFields,
)
from keyplane.oauth.model import AuthMethod, Client, IssuedClient

router = APIRouter(prefix="/v1/clients", tags=["Clients"], responses=ERRORS)

# Sizes here; what a value means (a grant type keyplane supports, a redirect URI it allows)
# is the service's rule, so the same rules hold whichever edge a client comes through.
Uri = Annotated[str, Field(max_length=MAX_URI_LENGTH)]
Scope = Annotated[str, Field(max_length=MAX_SCOPE_LENGTH)]
GrantType = Annotated[str, Field(max_length=100)]
AccessTtl = Annotated[int, Field(ge=ACCESS_TOKEN_TTL_SECONDS[0], le=ACCESS_TOKEN_TTL_SECONDS[1])]
RefreshTtl = Annotated[int, Field(ge=REFRESH_TOKEN_TTL_SECONDS[0], le=REFRESH_TOKEN_TTL_SECONDS[1])]
TokenFormat = Literal["jwt", "opaque"]
# The client field each wire name sets, where they differ.
_FIELDS = {"token_endpoint_auth_method": "auth_method"}
_NULLABLE = {"token_endpoint_auth_method", "access_token_ttl_seconds", "refresh_token_ttl_seconds",
             "jwks", "refresh_token_idle_seconds"}


class ClientCreate(Strict):
    name: Name
    type: Literal["confidential", "public"] | None = Field(
        default=None, description="Default: public when token_endpoint_auth_method is none, "
                                  "confidential otherwise.")
    grant_types: list[GrantType] | None = Field(
        default=None, max_length=10, description="Default: client_credentials for a "
        "confidential client, authorization_code for a public one. Never implicit or password.")
    redirect_uris: list[Uri] = Field(default_factory=list, max_length=20, description=(
        "Exact redirect URIs: https, http on a loopback address, or a private-use scheme "
        "(com.example.app:/cb); required for authorization_code."))
    scopes: list[Scope] = Field(default_factory=list, max_length=100,
                                description="The scopes this client may be granted.")
    audiences: list[Uri] = Field(default_factory=list, max_length=20, description=(
        "Absolute URIs of the APIs its tokens are for; the first is the default `aud`."))
    token_format: TokenFormat = "jwt"
    token_endpoint_auth_method: AuthMethod | None = Field(
        default=None, description="Default: client_secret_basic for a confidential client, "
                                  "none for a public one.")
    access_token_ttl_seconds: AccessTtl | None = Field(
        default=None, description="Default: the service's setting.")
    refresh_token_ttl_seconds: RefreshTtl | None = Field(
        default=None, description="Default: the service's setting.")
    jwks: dict[str, Any] | None = Field(default=None, description=(
        "The public keys of a private_key_jwt client, as a JWK Set (EC P-256, Ed25519, RSA)."))
    refresh_token_idle_seconds: RefreshTtl | None = Field(
        default=None, description="How long a refresh token may go unused before it expires "
                                  "(capped by refresh_token_ttl_seconds). Default: the service's "
                                  "setting.")
    pkce_required: bool = Field(default=True, description=(
        "Authorization requests must carry a PKCE challenge (S256). Always true for a public "
        "client; a confidential client may opt out with false (RFC 9700 §2.1.1 recommends "
        "PKCE for every client)."))
    dpop_bound_access_tokens: bool = Field(default=False, description=(
        "RFC 9449 §5.2: every token request must carry a DPoP proof; tokens are bound to its key."))
    require_pushed_authorization_requests: bool = Field(default=False, description=(
        "RFC 9126 §6: authorization requests only by reference to a pushed request."))
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=20, description=(
        "OpenID Connect RP-Initiated Logout: where the end-session endpoint may send the user "
        "after logging out (exact match; the rules of redirect_uris)."))


class ClientPatch(Strict):
    """Any create field but `type`; only the fields sent change, and the result must
    still follow every rule."""

    name: Name | None = None
    type: str | None = Field(default=None, description="Cannot change: sending it is a 422.")
    grant_types: list[GrantType] | None = Field(default=None, max_length=10)
    redirect_uris: list[Uri] | None = Field(default=None, max_length=20)
    scopes: list[Scope] | None = Field(default=None, max_length=100)
    audiences: list[Uri] | None = Field(default=None, max_length=20)
    token_format: TokenFormat | None = None
    token_endpoint_auth_method: AuthMethod | None = None
    access_token_ttl_seconds: AccessTtl | None = None
    refresh_token_ttl_seconds: RefreshTtl | None = None
    jwks: dict[str, Any] | None = None
    refresh_token_idle_seconds: RefreshTtl | None = None
    pkce_required: bool | None = None
    dpop_bound_access_tokens: bool | None = None
    require_pushed_authorization_requests: bool | None = None
    post_logout_redirect_uris: list[Uri] | None = Field(default=None, max_length=20)


class RollIn(Strict):
    grace_seconds: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS, description=(
        "How long the current secret keeps working next to the new one."))] = 0


class ClientOut(BaseModel):
    client_id: str
    name: str
    type: str
    grant_types: list[str]
    redirect_uris: list[str]
    scopes: list[str]
    audiences: list[str]
    token_format: str
    token_endpoint_auth_method: str
    access_token_ttl_seconds: int | None
    refresh_token_ttl_seconds: int | None
    refresh_token_idle_seconds: int | None = None
    pkce_required: bool = True
    dpop_bound_access_tokens: bool = False
    require_pushed_authorization_requests: bool = False
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    jwks: dict[str, Any] | None
    client_secret_start: str | None = Field(description=(
        "The first characters of the current secret, to tell secrets apart; null without one."))
    created_at: Time
    updated_at: Time


class IssuedClientOut(ClientOut):
    client_secret: str | None = Field(default=None, description=(
        "Present for a client with a secret method: shown only in this response, never again."))
    client_secret_expires_at: int | None = Field(default=None, description=(
        "0: the secret does not expire (RFC 7591 §3.2.1); present with client_secret."))


def client_to_wire(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.id, "name": client.name, "type": client.type,
        "grant_types": list(client.grant_types), "redirect_uris": list(client.redirect_uris),
        "scopes": list(client.scopes), "audiences": list(client.audiences),
        "token_format": client.token_format, "token_endpoint_auth_method": client.auth_method,
        "access_token_ttl_seconds": client.access_token_ttl_seconds,
        "refresh_token_ttl_seconds": client.refresh_token_ttl_seconds,
        "refresh_token_idle_seconds": client.refresh_token_idle_seconds,
        "pkce_required": client.pkce_required, "jwks": client.jwks,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "client_secret_start": client.secret_start,
        "created_at": rfc3339(client.created_at), "updated_at": rfc3339(client.updated_at),
    }


def _issued_to_wire(issued: IssuedClient) -> dict[str, Any]:
    wire = client_to_wire(issued.client)
    if issued.secret is not None:
        wire.update(client_secret=issued.secret, client_secret_expires_at=0)
    return wire


def client_changes(body: Strict) -> dict[str, Any]:
    """The fields sent, by client field name; lists as tuples."""
    changes: dict[str, Any] = {}
    nulls = []
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in _NULLABLE and name != "type":
            nulls.append(FieldError(name, "cannot be null; send [] to empty a list"))
        changes[_FIELDS.get(name, name)] = tuple(value) if isinstance(value, list) else value
    if nulls:
        raise Invalid(nulls)
    return changes


@router.post("", status_code=201, response_model=IssuedClientOut,
             response_model_exclude_unset=True, summary="Register a client",
             description="A confidential client with a secret method gets `client_secret`, "
                         "shown in this response only.")
async def create_client(body: ClientCreate, request: Request,
                        caller: Caller = Depends(require("clients.write"))) -> dict[str, Any]:
    fields = ClientFields(**client_changes(body))
    issued = await services_of(request).clients.create_client(caller.actor, fields)
    return _issued_to_wire(issued)


@router.get("", response_model=ListOf[ClientOut], summary="List clients")
async def list_clients(request: Request, _: Caller = Depends(require("clients.read")),
                       page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).clients.list_clients(after=page.after, limit=page.limit)
    return render_page(found, client_to_wire)


@router.get("/{client_id}", response_model=ClientOut, summary="Get a client")
async def get_client(client_id: str, request: Request,
                     _: Caller = Depends(require("clients.read"))) -> dict[str, Any]:
    return client_to_wire(await services_of(request).clients.get_client(client_id))


@router.patch("/{client_id}", response_model=ClientOut, summary="Update a client",
              description="Any create field but `type`; only the fields sent change. A client "
                          "switched to a secret method has no secret until it is rolled.")
async def update_client(client_id: str, body: ClientPatch, request: Request,
                        caller: Caller = Depends(require("clients.write"))) -> dict[str, Any]:
    client = await services_of(request).clients.update_client(caller.actor, client_id, client_changes(body))
    return client_to_wire(client)


@router.delete("/{client_id}", status_code=204, summary="Delete a client")
async def delete_client(client_id: str, request: Request,
                        caller: Caller = Depends(require("clients.write"))) -> Response:
    await services_of(request).clients.delete_client(caller.actor, client_id)
    return Response(status_code=204)


@router.post("/{client_id}/secret/roll", response_model=IssuedClientOut,
             summary="Roll a client's secret",
             description="A new `client_secret`, shown in this response only; the current one "
                         "keeps working for `grace_seconds` (default 0).")
async def roll_secret(client_id: str, request: Request, body: RollIn | None = None,
                      caller: Caller = Depends(require("clients.write"))) -> dict[str, Any]:
    grace = body.grace_seconds if body is not None else 0
    issued = await services_of(request).clients.roll_secret(caller.actor, client_id,
                                                           grace_seconds=grace)
    return _issued_to_wire(issued)
