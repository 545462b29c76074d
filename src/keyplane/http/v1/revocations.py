"""`GET /v1/revocations`: the JWT deny-list as a feed, for verifiers that check tokens offline.

A verifier polls with `since` = when its previous poll started, minus a margin (30 s is
plenty): entries are listed oldest first with cursor pagination, every unexpired
revocation at or after `since`. Revocations committed out of order across replicas are
caught by the overlap; the verifier keeps a set of jti, so seeing one twice is harmless.
An entry disappears once its token has expired, so the whole list stays small.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.fields import Timestamp
from keyplane.http.v1.common import ERRORS, ListOf, PageParams, Time, render_page
from keyplane.keys.root_keys import Caller
from keyplane.oauth.model import Revocation
from keyplane.pagination import page_of

router = APIRouter(prefix="/v1/revocations", tags=["Tokens"], responses=ERRORS)


class RevocationOut(BaseModel):
    jti: str
    expires_at: Time
    revoked_at: Time


def revocation_to_wire(revocation: Revocation) -> dict[str, Any]:
    return {"jti": revocation.jti, "expires_at": rfc3339(revocation.expires_at),
            "revoked_at": rfc3339(revocation.revoked_at)}


@router.get("", response_model=ListOf[RevocationOut], summary="Revoked JWTs not yet expired",
            description="The deny-list feed for offline verifiers: poll with `since` (the "
                        "start of the previous poll minus 30 s) and refuse every `jti` listed.")
async def list_revocations(
    request: Request, _: Caller = Depends(require("tokens.read")), page: PageParams = Depends(),
    since: Annotated[Timestamp | None, Query()] = None,
) -> dict[str, Any]:
    rows = await services_of(request).tokens.revocations(since=since, after=page.after,
                                                         limit=page.limit + 1)
    return render_page(page_of(rows, page.limit, lambda r: r.id), revocation_to_wire)
