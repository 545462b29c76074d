"""The verifier's caches and lists, with time moved by hand (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyplane.clock import FakeClock
from keyplane.sdk.introspection import IntrospectionCache, principal_of_introspection
from keyplane.sdk.jwks import JwksCache
from keyplane.sdk.keys import KeyCache, cache_key, cacheable
from keyplane.sdk.principal import Principal
from keyplane.sdk.revocations import OVERLAP_SECONDS, RevocationList

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def key_principal(key_id="key_1"):
    return Principal(kind="api_key", subject=key_id, key_id=key_id)


@pytest.fixture
def cache():
    cache = KeyCache(ttl_seconds=30, max_entries=3)
    cache.enable()
    return cache


def put(cache, name, *, key_id="key_1", api_id="api_1", expires_at=None, now=T0, ticket=None):
    return cache.put(cache_key(name, None), key_principal(key_id), api_id=api_id,
                     expires_at=expires_at, ticket=ticket or cache.ticket(), now=now)


def test_an_entry_is_served_until_its_ttl(cache):
    assert put(cache, "k1")
    assert cache.get(cache_key("k1", None), T0 + 29.9).key_id == "key_1"
    assert cache.get(cache_key("k1", None), T0 + 30) is None
    assert len(cache) == 0


def test_an_entry_never_outlives_the_key(cache):
    put(cache, "k1", expires_at=T0 + 5)
    assert cache.get(cache_key("k1", None), T0 + 4.9) is not None
    assert cache.get(cache_key("k1", None), T0 + 5) is None


def test_an_already_expired_key_is_not_stored(cache):
    assert not put(cache, "k1", expires_at=T0 - 1)


def test_entries_are_per_client_address(cache):
    cache.put(cache_key("k1", "203.0.113.7"), key_principal(), api_id="api_1", expires_at=None,
              ticket=cache.ticket(), now=T0)
    assert cache.get(cache_key("k1", "203.0.113.7"), T0) is not None
    assert cache.get(cache_key("k1", "198.51.100.1"), T0) is None
    assert cache.get(cache_key("k1", None), T0) is None


def test_a_change_of_the_key_drops_its_entries_at_once(cache):
    put(cache, "k1", key_id="key_1")
    put(cache, "k2", key_id="key_2")
    assert cache.invalidate(api_id="api_1", key_id="key_1") == 1
    assert cache.get(cache_key("k1", None), T0) is None
    assert cache.get(cache_key("k2", None), T0) is not None


def test_a_change_of_the_api_drops_every_key_of_it(cache):
    put(cache, "k1", key_id="key_1")
    put(cache, "k2", key_id="key_2", api_id="api_2")
    assert cache.invalidate(api_id="api_1", key_id=None) == 1
    assert cache.get(cache_key("k1", None), T0) is None
    assert cache.get(cache_key("k2", None), T0) is not None


def test_an_answer_older_than_a_change_of_its_key_is_not_stored(cache):
    ticket = cache.ticket()  # the verify request leaves...
    cache.invalidate(api_id="api_1", key_id="key_1")  # ...the key is revoked meanwhile...
    assert not put(cache, "k1", key_id="key_1", ticket=ticket)  # ...its answer may predate it
    assert put(cache, "k2", key_id="key_2", ticket=ticket)  # another key's answer is fine


def test_an_answer_is_not_stored_when_too_many_changes_passed_to_tell(cache):
    ticket = cache.ticket()
    for i in range(5000):
        cache.invalidate(api_id="api_9", key_id=f"key_{i}")
    assert not put(cache, "k1", ticket=ticket)


def test_nothing_is_cached_while_not_subscribed():
    cache = KeyCache(ttl_seconds=30, max_entries=10)
    assert not put(cache, "k1")
    assert cache.get(cache_key("k1", None), T0) is None


def test_losing_the_subscription_clears_and_an_answer_from_before_is_not_stored(cache):
    put(cache, "k1")
    ticket = cache.ticket()
    cache.disable()
    assert len(cache) == 0
    cache.enable()  # reconnected: starts from nothing
    assert not put(cache, "k2", ticket=ticket)
    assert put(cache, "k2")


def test_the_cache_is_bounded(cache):
    for i in range(5):
        put(cache, f"k{i}", key_id=f"key_{i}")
    assert len(cache) == 3
    assert cache.get(cache_key("k0", None), T0) is None and cache.get(cache_key("k4", None), T0)


def test_only_valid_answers_of_unmetered_keys_are_cacheable():
    assert cacheable({"code": "VALID", "ratelimits": [], "credits_remaining": None})
    assert not cacheable({"code": "VALID", "ratelimits": [{"name": "r"}], "credits_remaining": None})
    assert not cacheable({"code": "VALID", "ratelimits": [], "credits_remaining": 5})
    assert not cacheable({"code": "REVOKED", "ratelimits": [], "credits_remaining": None})


def test_an_unknown_kid_triggers_one_refetch_per_interval():
    clock = FakeClock()
    jwks = JwksCache(algorithms=None, refetch_interval_seconds=60, max_age_seconds=3600)
    now = clock.now().timestamp()
    jwks.install({}, now)
    assert jwks.claim_refetch(now)
    assert not any(jwks.claim_refetch(now + i) for i in range(1, 60))
    assert jwks.claim_refetch(now + 60)


def test_the_algorithm_allow_list_is_the_published_keys_narrowed_by_configuration():
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    keys = {"a": ("ES256", ec.generate_private_key(ec.SECP256R1()).public_key()),
            "b": ("EdDSA", ed25519.Ed25519PrivateKey.generate().public_key())}
    jwks = JwksCache(algorithms=frozenset({"ES256"}), refetch_interval_seconds=60, max_age_seconds=60)
    jwks.install(keys, T0)
    assert jwks.algorithms == {"ES256"} and set(jwks.keys) == {"a"}
    assert not jwks.stale(T0 + 59) and jwks.stale(T0 + 60)
    with pytest.raises(ValueError):
        JwksCache(algorithms=frozenset({"none"}), refetch_interval_seconds=1, max_age_seconds=1)


def test_revocations_are_fresh_for_the_stated_bound_only():
    feed = RevocationList(poll_seconds=5, max_staleness_seconds=60)
    assert not feed.fresh(T0)  # no poll yet: no JWT is accepted
    assert feed.since() is None
    feed.apply([], started_at=T0, now=T0)
    assert feed.fresh(T0 + 60) and not feed.fresh(T0 + 60.001)
    since = datetime.fromisoformat(feed.since())
    assert since == datetime.fromtimestamp(T0, UTC) - timedelta(seconds=OVERLAP_SECONDS)


def test_revoked_jtis_are_kept_until_their_token_expires():
    feed = RevocationList(poll_seconds=5, max_staleness_seconds=60)
    exp = datetime.fromtimestamp(T0 + 100, UTC).isoformat()
    feed.apply([{"jti": "j1", "expires_at": exp, "revoked_at": exp}, {"bogus": 1}],
               started_at=T0, now=T0)
    assert "j1" in feed and len(feed) == 1
    feed.apply([], started_at=T0 + 101, now=T0 + 101)
    assert "j1" not in feed


def test_the_staleness_bound_cannot_be_shorter_than_the_poll():
    with pytest.raises(ValueError):
        RevocationList(poll_seconds=10, max_staleness_seconds=5)


def test_introspection_answers_are_kept_briefly_and_never_past_exp():
    cache = IntrospectionCache(ttl_seconds=10, max_entries=10)
    principal = Principal(kind="access_token", subject="s")
    cache.put(b"t", principal, exp=T0 + 4, now=T0)
    assert cache.get(b"t", T0 + 3.9) is principal and cache.get(b"t", T0 + 4) is None
    cache.put(b"u", principal, exp=T0 + 100, now=T0)
    assert cache.get(b"u", T0 + 9.9) is principal and cache.get(b"u", T0 + 10) is None


@pytest.mark.parametrize("answer", [
    {"active": False},
    {"active": True, "iss": "https://other", "aud": "https://api", "exp": int(T0) + 60},
    {"active": True, "iss": "https://auth", "aud": "https://elsewhere", "exp": int(T0) + 60},
    {"active": True, "iss": "https://auth", "aud": ["https://x", "https://y"], "exp": int(T0) + 60},
    {"active": True, "iss": "https://auth", "aud": "https://api", "exp": int(T0)},
])
def test_an_introspection_answer_for_another_api_or_issuer_is_refused(answer):
    assert principal_of_introspection(answer, issuer="https://auth", audience="https://api", now=T0) is None


def test_an_introspection_answer_for_this_api_is_a_principal():
    answer = {"active": True, "iss": "https://auth", "aud": ["https://x", "https://api"],
              "exp": int(T0) + 60, "sub": "usr_1", "client_id": "cli_1", "scope": "a b"}
    p = principal_of_introspection(answer, issuer="https://auth", audience="https://api", now=T0)
    assert (p.kind, p.subject, p.client_id, p.scopes) == ("access_token", "usr_1", "cli_1", {"a", "b"})


def test_since_is_measured_on_the_services_clock_when_it_says_its_time():
    feed = RevocationList(poll_seconds=5, max_staleness_seconds=60)
    feed.apply([], started_at=T0 + 3600, now=T0 + 3600, server_started_at=T0)  # verifier 1 h fast
    assert datetime.fromisoformat(feed.since()) == datetime.fromtimestamp(T0 - OVERLAP_SECONDS, UTC)
    assert feed.fresh(T0 + 3600 + 60)  # staleness stays on the verifier's own clock


def test_a_remote_verifier_needs_its_issuer():
    from keyplane import Verifier

    with pytest.raises(ValueError, match="issuer"):
        Verifier(url="http://127.0.0.1:9", audience="https://api", api_id="api_1", root_key="r" * 40)
