"""The verifier following a real feed: what `GET /v1/revocations` answers, polled by the
SDK's own poller (sdk/background.py) over HTTP from the service in this process, on SQLite
and PostgreSQL. The verifier's clock is the service's (a FakeClock at the real time)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sdk_clients import AUDIENCE, client_and_token

from keyplane import AuthError, Verifier
from keyplane.app import create_app
from keyplane.sdk.background import Background

ISSUER = "http://testserver"


@pytest.fixture
async def service(settings, clock, root_key):
    clock.set(datetime.now(UTC).replace(microsecond=0))  # tokens carry real times
    app = create_app(settings.model_copy(update={"issuer": ISSUER}), clock=clock)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER,
                                     headers={"Authorization": f"Bearer {root_key}"}) as http:
            yield http, transport


def _refused(verifier: Verifier, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify_sync(f"Bearer {token}")
    return caught.value


async def test_a_deleted_clients_jwts_are_refused_after_the_next_poll(service, clock, root_key):
    http, transport = service
    doomed, token = await client_and_token(http)
    other, other_token = await client_and_token(http)
    # The verifier's own engine never runs (nothing listens at its URL): its poller runs here,
    # on this loop, against the service in process.
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, root_key=root_key, url="http://127.0.0.1:9",
                        clock=clock, timeout_seconds=2)
    poller = Background(url=ISSUER, issuer=ISSUER, root_key=root_key, timeout_seconds=2,
                        transport=transport, api_id=None, audience=AUDIENCE, follow_revocations=True,
                        settings=None, jwks=verifier.jwks, revocations=verifier.revocations,
                        keys=verifier.keys, now=lambda: clock.now().timestamp())
    await poller.start()
    try:
        await poller.refresh_jwks(only_if_older_than=None)
        await poller.poll(unless_fresh=False)
        assert verifier.verify_sync(f"Bearer {token}").client_id == doomed["client_id"]
        assert (await http.delete(f"/v1/clients/{doomed['client_id']}")).status_code == 204
        assert verifier.verify_sync(f"Bearer {token}")  # until the next poll: the stated staleness
        clock.advance(seconds=5)
        await poller.poll(unless_fresh=False)
        assert _refused(verifier, token).description == "the access token was revoked"
        assert verifier.verify_sync(f"Bearer {other_token}").client_id == other["client_id"]
    finally:
        await poller.stop()
        verifier.close()
