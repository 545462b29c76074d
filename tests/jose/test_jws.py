"""The lean compact JWS: round trips, interop with PyJWT, and every RFC 8725 refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from jose_keys import ALGS, jwk_of, keys_for, kid_of, private_key, public_key

from keyplane.errors import InvalidToken
from keyplane.jose.algorithms import ALGORITHMS, ES256, RS256
from keyplane.jose.jws import (
    MAX_TOKEN_LENGTH,
    b64url_decode,
    sign_compact,
    verify_compact,
)

ALL = set(ALGORITHMS)
PAYLOAD = b'{"sub":"someone","n":1}'


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(alg: str = ES256, *, payload: bytes = PAYLOAD, **header: Any) -> str:
    return sign_compact({"kid": kid_of(alg), **header}, payload, private_key(alg), alg)


def refused(token: str | bytes, keys: Any = None, *, algorithms: set[str] | None = None,
            typ: str | None = None) -> str:
    """Assert that verification refuses `token`; return the reason."""
    with pytest.raises(InvalidToken) as caught:
        verify_compact(token, keys if keys is not None else keys_for(ES256),
                       algorithms=algorithms or ALL, typ=typ)
    return str(caught.value)


@pytest.mark.parametrize("alg", ALGS)
def test_a_signed_token_verifies_and_returns_its_header_and_payload(alg: str) -> None:
    token = signed(alg, typ="at+jwt")
    header, payload = verify_compact(token, keys_for(alg), algorithms={alg}, typ="at+jwt")
    assert header == {"kid": kid_of(alg), "typ": "at+jwt", "alg": alg}
    assert payload == PAYLOAD


@pytest.mark.parametrize("alg", ALGS)
def test_our_tokens_verify_with_pyjwt_and_its_tokens_verify_with_ours(alg: str) -> None:
    claims = {"sub": "someone", "aud": "https://api.example.com"}
    ours = sign_compact({"kid": kid_of(alg), "typ": "JWT"}, json.dumps(claims).encode(),
                        private_key(alg), alg)
    key = pyjwt.PyJWK(jwk_of(alg)).key
    assert pyjwt.decode(ours, key=key, algorithms=[alg], audience="https://api.example.com") == claims

    theirs = pyjwt.encode(claims, private_key(alg), algorithm=alg, headers={"kid": kid_of(alg)})
    header, payload = verify_compact(theirs, keys_for(alg), algorithms={alg}, typ=None)
    assert header["alg"] == alg and json.loads(payload) == claims


def test_alg_none_is_refused_whatever_the_allow_list_says() -> None:
    header = b64(json.dumps({"alg": "none", "kid": kid_of(ES256)}))
    assert "not a compact JWS" in refused(f"{header}.{b64(PAYLOAD)}.")
    assert "not allowed" in refused(f"{header}.{b64(PAYLOAD)}.{b64(b'x')}",
                                    algorithms={"none", ES256})
    for spelling in ("None", "NONE", "nOnE"):
        header = b64(json.dumps({"alg": spelling, "kid": kid_of(ES256)}))
        assert "not allowed" in refused(f"{header}.{b64(PAYLOAD)}.{b64(b'x')}",
                                        algorithms={spelling, ES256})


@pytest.mark.parametrize("alg", ALGS)
def test_hmac_signed_with_the_public_key_bytes_is_refused(alg: str) -> None:
    # The classic algorithm confusion: the attacker signs HS256 with the server's public key
    # as the HMAC secret, hoping the verifier feeds "the key" to whatever `alg` says.
    for secret in (public_key(alg).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
                   public_key(alg).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)):
        signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid_of(alg)}))}.{b64(PAYLOAD)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64(mac)}"
        assert "not allowed" in refused(token, keys_for(alg), algorithms={"HS256", alg})


def test_a_token_whose_kid_is_unknown_is_refused() -> None:
    token = signed(ES256, kid="someone-elses-key")
    assert "unknown kid" in refused(token)


def test_a_tampered_payload_is_refused() -> None:
    header, _payload, signature = signed(ES256).split(".")
    forged = b64(b'{"sub":"admin","n":1}')
    assert "bad signature" in refused(f"{header}.{forged}.{signature}")


def test_a_tampered_header_is_refused() -> None:
    _header, payload, signature = signed(ES256, typ="JWT").split(".")
    forged = b64(json.dumps({"kid": kid_of(ES256), "typ": "at+jwt", "alg": ES256},
                            separators=(",", ":")))
    assert "bad signature" in refused(f"{forged}.{payload}.{signature}", typ="at+jwt")


def test_a_signature_from_another_key_with_the_same_kid_is_refused() -> None:
    token = sign_compact({"kid": kid_of(ES256)}, PAYLOAD, private_key(ES256, 1), ES256)
    assert "bad signature" in refused(token)


@pytest.mark.parametrize("found", ["JWT", "at+jwt+x", "jwt", "application/jwt", "", None, 1])
def test_a_token_of_another_typ_is_refused_when_a_typ_is_required(found: Any) -> None:
    token = signed(ES256, typ=found) if found is not None else signed(ES256)
    assert "typ" in refused(token, typ="at+jwt")


@pytest.mark.parametrize("found", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"])
def test_typ_matches_case_insensitively_with_or_without_the_application_prefix(found: str) -> None:
    header, _ = verify_compact(signed(ES256, typ=found), keys_for(ES256), algorithms={ES256},
                               typ="at+jwt")
    assert header["typ"] == found


@pytest.mark.parametrize("bad", ["+", "/", "=", " ", "\n", "%", "é", "\x00"])
def test_characters_outside_unpadded_base64url_are_refused(bad: str) -> None:
    header, payload, signature = signed(ES256).split(".")
    for token in (f"{header}.{payload}{bad}.{signature}", f"{header}.{payload}.{signature}{bad}",
                  f"{bad}{header}.{payload}.{signature}"):
        refused(token)


def test_padding_and_non_canonical_base64url_are_refused() -> None:
    header, payload, signature = signed(ES256).split(".")
    assert len(signature) % 4 == 2  # 64 bytes: the last character carries 4 unused bits
    padded = f"{header}.{payload}.{signature}=="
    refused(padded)
    # The same bytes, spelled with the unused bits set: decoders that ignore them accept it.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(signature + "==")
    assert "canonical" in refused(f"{header}.{payload}.{twin}")
    for bad in ("A", "e30=", "e3+0", "a/b_", "e3 0"):  # a length no encoding has; not base64url
        with pytest.raises(InvalidToken):
            b64url_decode(bad)


def test_a_token_over_the_size_limit_is_refused_before_any_decoding() -> None:
    token = signed(ES256, payload=b'{"pad":"' + b"x" * MAX_TOKEN_LENGTH + b'"}')
    assert "longer than" in refused(token)
    assert "longer than" in refused("!" * (MAX_TOKEN_LENGTH + 1))  # not even looked at


def test_an_rs256_key_is_never_used_for_an_es256_token() -> None:
    rsa_keys = {kid_of(ES256): (RS256, public_key(RS256))}
    assert "the key is for RS256" in refused(signed(ES256), rsa_keys)
    # Even if someone registered the RSA key as an ES256 key, nothing verifies with it.
    mislabelled = {kid_of(ES256): (ES256, public_key(RS256))}
    assert "bad signature" in refused(signed(ES256), mislabelled)
    # And an RS256 token cannot be checked against an EC key labelled RS256.
    ec_as_rsa = {kid_of(RS256): (RS256, public_key(ES256))}
    assert "bad signature" in refused(signed(RS256), ec_as_rsa)


def test_an_algorithm_outside_the_allow_list_is_refused() -> None:
    assert "not allowed" in refused(signed(ES256), algorithms={RS256})


def test_a_critical_header_parameter_is_refused() -> None:
    assert "crit" in refused(signed(ES256, crit=["exp"], exp=1))


def test_a_token_without_kid_verifies_only_against_a_single_key() -> None:
    token = sign_compact({}, PAYLOAD, private_key(ES256), ES256)
    assert verify_compact(token, keys_for(ES256), algorithms={ES256}, typ=None)[1] == PAYLOAD
    two = {**keys_for(ES256), **keys_for(ES256, 1)}
    assert "no kid" in refused(token, two)


def test_a_der_encoded_ecdsa_signature_is_refused() -> None:
    # RFC 7518 §3.4: ES256 signatures are R || S; a DER one (what OpenSSL emits) is not JWS.
    header, payload, _ = signed(ES256).split(".")
    der = private_key(ES256).sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    assert "bad signature" in refused(f"{header}.{payload}.{b64(der)}")


@pytest.mark.parametrize("token", [
    "", ".", "..", "a.b", "a.b.c.d", "e30.e30.", ".e30.e30", "e30..e30",
    f"{b64('[]')}.{b64('{}')}.{b64('sig')}",
    f"{b64('not json')}.{b64('{}')}.{b64('sig')}",
    f"{b64(json.dumps({'alg': ['ES256']}))}.{b64('{}')}.{b64('sig')}",
    f"{b64(json.dumps({'alg': 'ES256', 'kid': 5}))}.{b64('{}')}.{b64('sig')}",
    b"\xff\xfe.e30.e30",
])
def test_malformed_tokens_are_refused(token: str | bytes) -> None:
    refused(token)


@pytest.mark.parametrize("alg", ALGS)
def test_signing_refuses_a_key_of_another_algorithm_or_a_header_that_disagrees(alg: str) -> None:
    other = next(a for a in ALGS if a != alg)
    with pytest.raises(ValueError):
        sign_compact({}, PAYLOAD, private_key(other), alg)
    with pytest.raises(ValueError):
        sign_compact({"alg": other}, PAYLOAD, private_key(alg), alg)
    for name in ("none", "HS256"):
        with pytest.raises(ValueError):
            sign_compact({}, PAYLOAD, private_key(alg), name)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_changing_any_one_character_of_a_token_makes_it_refused(data: st.DataObject) -> None:
    token = signed(ES256, typ="at+jwt")
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[position]))
    with pytest.raises(InvalidToken):
        verify_compact(token[:position] + replacement + token[position + 1:], keys_for(ES256),
                       algorithms={ES256}, typ="at+jwt")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                 st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789-_", max_size=40), min_size=3, max_size=3)
                 .map(".".join)))
def test_arbitrary_input_is_refused_with_invalid_token_and_nothing_else(token: str | bytes) -> None:
    with pytest.raises(InvalidToken):
        verify_compact(token, keys_for(ES256), algorithms=ALL, typ=None)
