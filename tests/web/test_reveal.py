"""A secret sealed for the page after a form post opens only there, for that session, once
in time."""

from keyplane.users.sessions import new_session_value


async def test_a_sealed_secret_opens_only_for_its_session_label_and_time(services, clock):
    sessions = services.sessions
    mine, theirs = new_session_value(), new_session_value()
    sealed = sessions.seal(mine, "key_1", "sk_live_secret", ttl_seconds=120)
    assert "sk_live_secret" not in sealed
    assert sessions.unseal(mine, "key_1", sealed) == "sk_live_secret"
    assert sessions.unseal(theirs, "key_1", sealed) is None
    assert sessions.unseal(mine, "key_2", sealed) is None
    assert sessions.unseal(mine, "key_1", sealed[:-2] + ("AA" if sealed[-2:] != "AA" else "BB")) is None
    assert sessions.unseal(mine, "key_1", "not base64 at all!") is None
    clock.advance(seconds=121)
    assert sessions.unseal(mine, "key_1", sealed) is None
