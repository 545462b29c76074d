"""DPoP at resource servers (RFC 9449 §7): a DPoP-bound token, through the Verifier and the
three framework integrations, is refused without a proof, with another key's proof, with a
replayed proof and with a proof for another URL, and accepted with a fresh proof. Tokens
come from keyplane's token endpoint; proofs are made with joserfc."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from dpop_proofs import DpopKey

from keyplane import AuthError, Verifier
from keyplane.app import create_app

AUDIENCE = "https://documents.example.com"
TOKEN_URL = "http://testserver/oauth/token"


@pytest.fixture
async def service(settings, clock, root_key):
    clock.set(datetime.now(UTC).replace(microsecond=0))  # tokens and proofs carry real times
    app = create_app(settings, clock=clock)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers={"Authorization": f"Bearer {root_key}"}) as http:
            yield http, app.state.services


async def bound_token(http: httpx.AsyncClient, key: DpopKey, token_format: str = "jwt") -> str:
    client = (await http.post("/v1/clients", json={
        "name": "reader", "grant_types": ["client_credentials"], "scopes": ["documents.read"],
        "audiences": [AUDIENCE], "token_format": token_format,
        "dpop_bound_access_tokens": True})).json()
    answer = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client["client_id"], client["client_secret"]),
                             headers={"Authorization": "", "DPoP": key.proof("POST", TOKEN_URL)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    return str(answer.json()["access_token"])


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_the_verifier_checks_proof_and_binding(service, settings, clock, token_format):
    http, services = service
    key, other = DpopKey(), DpopKey()
    token = await bound_token(http, key, token_format)
    url = "https://documents.example.com/documents/7"
    verifier = Verifier(services=services, audience=AUDIENCE)

    async def verify(authorization: str, proof: str | None, method: str = "GET", at: str = url):
        return await verifier.verify(authorization, method=method, url=at, dpop=proof)

    principal = await verify(f"DPoP {token}", key.proof("GET", url, access_token=token))
    assert principal.claims["cnf"] == {"jkt": key.jkt}
    # A query string is not part of htu.
    await verify(f"DPoP {token}", key.proof("GET", url, access_token=token), at=url + "?page=2")
    replayed = key.proof("GET", url, access_token=token)
    await verify(f"DPoP {token}", replayed)
    refusals = {
        "no proof": (f"DPoP {token}", None),
        "bearer scheme": (f"Bearer {token}", key.proof("GET", url, access_token=token)),
        "replayed": (f"DPoP {token}", replayed),
        "another key": (f"DPoP {token}", other.proof("GET", url, access_token=token)),
        "another URL": (f"DPoP {token}", key.proof("GET", url + "/edit", access_token=token)),
        "another method": (f"DPoP {token}", key.proof("POST", url, access_token=token)),
        "no ath": (f"DPoP {token}", key.proof("GET", url)),
    }
    for what, (authorization, proof) in refusals.items():
        with pytest.raises(AuthError) as caught:
            await verify(authorization, proof)
        assert caught.value.status == 401, what
        assert caught.value.headers["WWW-Authenticate"].startswith("DPoP "), what
        assert caught.value.error in ("invalid_token", "invalid_dpop_proof"), what
    # keyplane's own introspection shows the binding.
    answer = await http.post("/oauth/introspect", data={"token": token})
    assert answer.json()["cnf"] == {"jkt": key.jkt} and answer.json()["token_type"] == "DPoP"


async def test_an_api_issuing_nonces_asks_for_one(service):
    http, services = service
    key = DpopKey()
    token = await bound_token(http, key)
    url = "https://documents.example.com/documents"
    verifier = Verifier(services=services, audience=AUDIENCE, dpop_nonce_key=b"n" * 32)
    with pytest.raises(AuthError) as caught:
        await verifier.verify(f"DPoP {token}", method="GET", url=url,
                              dpop=key.proof("GET", url, access_token=token))
    assert caught.value.error == "use_dpop_nonce"
    assert 'error="use_dpop_nonce"' in caught.value.headers["WWW-Authenticate"]
    nonce = caught.value.headers["DPoP-Nonce"]
    principal = await verifier.verify(f"DPoP {token}", method="GET", url=url,
                                      dpop=key.proof("GET", url, access_token=token, nonce=nonce))
    assert principal.subject


def _apps(verifier: Verifier):
    import flask
    from fastapi import Depends, FastAPI
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from keyplane.integrations import fastapi as kp_fastapi
    from keyplane.integrations import flask as kp_flask
    from keyplane.integrations.starlette import KeyplaneMiddleware

    fast = FastAPI()
    kp_fastapi.install(fast)
    guard = Depends(kp_fastapi.require(verifier, scopes=["documents.read"]))

    @fast.get("/documents")
    async def fast_read(principal: object = guard) -> dict[str, str]:
        return {"ok": "yes"}

    async def star_read(request: Request) -> JSONResponse:
        return JSONResponse({"ok": "yes"})

    star = KeyplaneMiddleware(Starlette(routes=[Route("/documents", star_read)]),
                              verifier=verifier, scopes=["documents.read"])
    flask_app = flask.Flask("documents")

    @flask_app.get("/documents")
    @kp_flask.require(verifier, scopes=["documents.read"])
    def flask_read() -> dict[str, str]:
        return {"ok": "yes"}

    return {"fastapi": fast, "starlette": star, "flask": flask_app}


@pytest.mark.parametrize("kind", ["fastapi", "starlette", "flask"])
async def test_each_integration_checks_dpop(service, settings, clock, kind):
    http, _services = service
    key, other = DpopKey(), DpopKey()
    token = await bound_token(http, key)
    verifier = Verifier(settings=settings, audience=AUDIENCE, clock=clock)
    app = _apps(verifier)[kind]
    url = "http://api.test/documents"

    async def get(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        if kind == "flask":
            def call() -> tuple[int, dict[str, str]]:
                response = app.test_client().get("/documents", base_url="http://api.test",
                                                 headers=headers)
                return response.status_code, {k.lower(): v for k, v in response.headers.items()}
            return await asyncio.to_thread(call)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api.test") as client:
            response = await client.get("/documents", headers=headers)
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}

    try:
        fresh = key.proof("GET", url, access_token=token)
        assert (await get({"Authorization": f"DPoP {token}", "DPoP": fresh}))[0] == 200
        for headers in ({"Authorization": f"DPoP {token}"},  # no proof
                        {"Authorization": f"DPoP {token}", "DPoP": fresh},  # replayed
                        {"Authorization": f"DPoP {token}",
                         "DPoP": other.proof("GET", url, access_token=token)},  # another key
                        {"Authorization": f"DPoP {token}",  # another URL
                         "DPoP": key.proof("GET", "http://api.test/admin", access_token=token)}):
            status, answer_headers = await get(headers)
            assert status == 401
            assert answer_headers["www-authenticate"].startswith("DPoP ")
    finally:
        await verifier.aclose()
