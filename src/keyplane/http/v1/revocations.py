"""`GET /v1/revocations`: the JWT deny-list as a feed, for verifiers that check tokens offline.

A verifier polls with `since` = when its previous poll started, minus a margin (30 s is
plenty): entries are listed oldest first with cursor pagination, every unexpired
revocation at or after `since`. Revocations committed out of order across replicas are
caught by the overlap; the verifier keeps a set of jti, so seeing one twice is harmless.
An entry disappears once its token has expired, so the whole list stays small.

Two kinds of entry share the feed and its cursor: `{jti, expires_at, revoked_at}` refuses
one token; `{jti: null, client_id, expires_at, revoked_at}` (a deleted client) refuses
every token of `client_id` whose `iat` is at or before `revoked_at`, and leaves the feed
when the last of them would have expired. A verifier that does not know the second kind
skips it (it has no `jti`) and honours such tokens until they expire.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Time, Timestamp
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.oauth.model import Revocation
from keyplane.pagination import page_of

router = APIRouter(prefix="/v1/revocations", tags=["Tokens"], responses=ERRORS)


class RevocationOut(BaseModel):
    jti: str | None = Field(description="The revoked token; null: every token of `client_id`")
    client_id: str | None = Field(
        default=None, description="Only with `jti` null: the client whose tokens issued at or "
                                  "before `revoked_at` (their `iat`) are all revoked")
    expires_at: Time
    revoked_at: Time


def revocation_to_wire(revocation: Revocation) -> dict[str, Any]:
    wire: dict[str, Any] = {"jti": revocation.jti, "expires_at": rfc3339(revocation.expires_at),
            "revoked_at": rfc3339(revocation.revoked_at)}
    if revocation.jti is None:  # a whole client; a jti entry reads as it always did
        wire["client_id"] = revocation.client_id
    return wire


@router.get("", response_model=ListOf[RevocationOut], response_model_exclude_unset=True,
            summary="Revoked JWTs not yet expired",
            description="The deny-list feed for offline verifiers: poll with `since` (the "
                        "start of the previous poll minus 30 s) and refuse every `jti` listed, "
                        "and every token of a listed `client_id` (an entry with `jti` null) "
                        "whose `iat` is at or before its `revoked_at`.")
async def list_revocations(
    request: Request, _: Caller = Depends(require("tokens.read")), page: PageParams = Depends(),
    since: Annotated[Timestamp | None, Query()] = None,
) -> dict[str, Any]:
    rows = await services_of(request).tokens.revocations(since=since, after=page.after,
                                                         limit=page.limit + 1)
    return render_page(page_of(rows, page.limit, lambda r: r.id), revocation_to_wire)
