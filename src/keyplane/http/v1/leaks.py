"""`/v1/leaks`: leak reports, from keyplane's own scanner or a root key holder
(`leaks.report`), and from a code host's secret-scanning partner program (signed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from keyplane.audit.events import Actor
from keyplane.errors import Invalid, Unauthenticated
from keyplane.http.auth import require
from keyplane.http.context import client_ip, services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict
from keyplane.keys.root_keys import Caller
from keyplane.leaks.service import LeakAnswer, LeakItem

router = APIRouter(prefix="/v1/leaks", tags=["Leaked credentials"], responses=ERRORS)

MAX_ITEMS = 100
Token = Annotated[str, Field(min_length=1, max_length=1024)]
Url = Annotated[str, Field(max_length=2000)]
Source = Annotated[str, Field(max_length=200)]
GITHUB_ACTOR = "github-secret-scanning"


class LeakIn(Strict):
    token: Token
    url: Url | None = None
    source: Source | None = None


class LeakReport(Strict):
    items: list[LeakIn] = Field(min_length=1, max_length=MAX_ITEMS)


class LeakOut(BaseModel):
    token_hash: str
    token_type: str
    label: Literal["true_positive", "false_positive"]
    key_id: str | None
    revoked_now: bool = Field(description=(
        "True only in the answer to the report that made the secret unusable; a repeat of a "
        "report already acted on answers its first label with false here."))


class LeakReportOut(BaseModel):
    items: list[LeakOut]


class _GithubItem(msgspec.Struct, forbid_unknown_fields=False):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    type: Annotated[str, msgspec.Meta(max_length=200)] = ""
    url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=200)] | None = None


_github_decoder = msgspec.json.Decoder(Annotated[list[_GithubItem], msgspec.Meta(max_length=MAX_ITEMS)])


def _answer(a: LeakAnswer) -> dict[str, Any]:
    return {"token_hash": a.token_hash, "token_type": a.token_type, "label": a.label,
            "key_id": a.key_id, "revoked_now": a.revoked_now}


@router.post("", response_model=LeakReportOut, summary="Report leaked tokens",
             description="Each token is recognised by prefix and checksum; a live one is made "
                         "unusable at once and opens a `key.leaked` alert. Repeats are idempotent.")
async def report_leaks(body: LeakReport, request: Request,
                       caller: Caller = Depends(require("leaks.report"))) -> dict[str, Any]:
    answers = await services_of(request).leaks.report(
        caller.actor, [LeakItem(token=i.token, url=i.url, source=i.source) for i in body.items])
    return {"items": [_answer(a) for a in answers]}


@router.post("/github", summary="A code host's secret-scanning report (signed)",
             description="Body: `[{token, type, url, source}]`, signed with ECDSA P-256 / SHA-256 "
                         "(`GITHUB-PUBLIC-KEY-IDENTIFIER`, `GITHUB-PUBLIC-KEY-SIGNATURE`) by a key "
                         "in KEYPLANE_GITHUB_SCANNING_KEYS; 401 otherwise, and nothing happens.")
async def report_github_leaks(request: Request) -> JSONResponse:
    services = services_of(request)
    body = await request.body()
    if not services.scanning_keys.verify(body, request.headers.get("github-public-key-identifier"),
                                         request.headers.get("github-public-key-signature")):
        raise Unauthenticated("the report's signature does not verify with a configured secret-scanning key")
    try:
        items = _github_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise Invalid.field("body", str(exc), status=400) from None
    except msgspec.DecodeError:
        raise Invalid.field("body", "not a JSON array of {token, type, url, source}", status=400) from None
    answers = await services.leaks.report(Actor(id=GITHUB_ACTOR, ip=client_ip(request)), [
        LeakItem(token=i.token, url=i.url, source=i.source, type=i.type) for i in items])
    return JSONResponse([{"token_hash": a.token_hash, "token_type": a.token_type, "label": a.label}
                         for a in answers])
