"""JWT claims: exp, nbf, iat with leeway; iss exact; aud a string or a list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jose_keys import ALGS, jwk_of, keys_for, kid_of, private_key

from keyplane.errors import InvalidToken
from keyplane.jose.algorithms import ES256
from keyplane.jose.jws import sign_compact
from keyplane.jose.jwt import JwtSigner, decode_jwt, encode_jwt

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"


def token_with(alg: str = ES256, **claims: Any) -> str:
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client", "iat": NOW, "exp": NOW + 600}
    base.update(claims)
    return encode_jwt({k: v for k, v in base.items() if v is not None}, private_key(alg), alg,
                      kid=kid_of(alg), typ="at+jwt")


def decode(token: str, *, now: float | datetime = NOW, alg: str = ES256, **checks: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"typ": "at+jwt", "issuer": ISSUER, "audience": AUDIENCE}
    options.update(checks)
    return decode_jwt(token, keys_for(alg), algorithms={alg}, now=now, **options)


def refused(token: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        decode(token, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize("alg", ALGS)
def test_an_access_token_decodes_here_and_in_pyjwt_to_the_same_claims(alg: str) -> None:
    token = token_with(alg, scope="documents.read")
    ours = decode(token, alg=alg)
    theirs = pyjwt.decode(token, key=pyjwt.PyJWK(jwk_of(alg)).key, algorithms=[alg],
                          audience=AUDIENCE, issuer=ISSUER,
                          options={"verify_exp": False, "verify_iat": False})
    assert ours == theirs
    assert pyjwt.get_unverified_header(token) == {"alg": alg, "kid": kid_of(alg), "typ": "at+jwt"}


def test_now_may_be_a_datetime() -> None:
    assert decode(token_with(), now=datetime.fromtimestamp(NOW, UTC))["sub"] == "client"


def test_an_expired_token_is_refused_after_the_leeway() -> None:
    token = token_with(exp=NOW)
    assert decode(token, now=NOW + 29)["exp"] == NOW
    assert "expired" in refused(token, now=NOW + 30)
    assert "expired" in refused(token, now=NOW, leeway_seconds=0)


def test_a_token_without_exp_or_with_a_non_numeric_exp_is_refused() -> None:
    assert "no exp" in refused(token_with(exp=None))
    for exp in (str(NOW + 600), True, [NOW + 600], {"t": 1}, 1 << 60):
        assert "exp" in refused(token_with(exp=exp))


def test_a_token_not_valid_yet_is_refused_beyond_the_leeway() -> None:
    token = token_with(nbf=NOW + 100)
    assert "nbf" in refused(token, now=NOW + 69)
    assert decode(token, now=NOW + 70)["nbf"] == NOW + 100


def test_a_token_issued_in_the_future_is_refused_beyond_the_leeway() -> None:
    assert "iat" in refused(token_with(iat=NOW + 31))
    assert decode(token_with(iat=NOW + 30))["iat"] == NOW + 30
    assert "iat" in refused(token_with(iat="yesterday"))


def test_the_issuer_must_match_exactly() -> None:
    for iss in (ISSUER + "/", ISSUER.upper(), None, [ISSUER]):
        assert "iss" in refused(token_with(iss=iss))
    assert decode(token_with(iss="someone"), issuer=None)["iss"] == "someone"


def test_the_audience_may_be_a_string_or_a_list_that_contains_it() -> None:
    assert decode(token_with(aud=[AUDIENCE, "https://other"]))["aud"][0] == AUDIENCE
    for aud in ("https://other", [], ["https://other"], None, AUDIENCE + "/", {"aud": AUDIENCE}):
        assert "aud" in refused(token_with(aud=aud))
    assert decode(token_with(aud="https://other"), audience=None)["aud"] == "https://other"


def test_only_the_audience_failure_names_aud() -> None:
    # The client-authentication code tells an audience mismatch from other failures this way.
    for token, kwargs in ((token_with(exp=NOW - 100), {}), (token_with(iss="x"), {}),
                          (token_with(nbf=NOW + 999), {}), (token_with(), {"typ": "JWT"}),
                          (token_with(exp=None), {}), (token_with(iat=NOW + 999), {})):
        assert "aud" not in refused(token, **kwargs)


def test_a_payload_that_is_not_a_json_object_is_refused() -> None:
    for payload in (b"[]", b'"claims"', b"not json", b"\xff"):
        token = sign_compact({"kid": kid_of(ES256), "typ": "at+jwt"}, payload, private_key(ES256), ES256)
        assert "payload" in refused(token)


def test_the_typ_is_checked_when_asked_for() -> None:
    plain = encode_jwt({"exp": NOW + 60}, private_key(ES256), ES256, kid=kid_of(ES256))
    assert "typ" in refused(plain, issuer=None, audience=None)
    assert decode(plain, typ=None, issuer=None, audience=None) == {"exp": NOW + 60}


claim_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(st.text(max_size=12).filter(
    lambda k: k not in ("exp", "nbf", "iat", "iss", "aud")), claim_values, max_size=6),
    lifetime=st.integers(1, 86_400))
def test_any_claims_round_trip(extra: dict[str, Any], lifetime: int) -> None:
    claims = {**extra, "iss": ISSUER, "aud": AUDIENCE, "exp": NOW + lifetime}
    token = encode_jwt(claims, private_key(ES256), ES256, kid=kid_of(ES256), typ="at+jwt")
    assert decode(token, leeway_seconds=0) == claims


@pytest.mark.parametrize("alg", ALGS)
def test_a_prepared_signer_makes_the_tokens_encode_jwt_makes(alg: str) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client", "iat": NOW, "exp": NOW + 600}
    signer = JwtSigner(private_key(alg), alg, kid=kid_of(alg), typ="at+jwt")
    made, reference = signer.sign(claims), encode_jwt(claims, private_key(alg), alg, kid=kid_of(alg), typ="at+jwt")
    assert made.split(".")[:2] == reference.split(".")[:2]  # ECDSA signatures differ each time
    assert decode(made, alg=alg) == claims and decode(signer.sign(claims), alg=alg) == claims


def test_a_prepared_signer_refuses_a_key_that_does_not_fit_at_once() -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        JwtSigner(private_key("EdDSA"), ES256, kid="k")
