"""The rules a client's settings follow, without a store: each value alone
(client_metadata) and how they combine (check_client)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey, RSAKey

from keyplane.errors import Invalid
from keyplane.oauth.client_metadata import (
    jwks_errors,
    redirect_uri_error,
    resource_uri_error,
    scope_error,
    text_error,
)
from keyplane.oauth.clients import ClientFields, check_client

RSA_2048 = RSAKey.generate_key(2048)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ec_jwk(**extra: Any) -> dict[str, Any]:
    return {**ECKey.generate_key("P-256").as_dict(private=False), **extra}


def fields_errors(**fields: Any) -> list[str]:
    """The fields a check_client failure names (empty when the fields are accepted)."""
    try:
        check_client(ClientFields(**{"name": "c", **fields}))
    except Invalid as failure:
        return [e.field for e in failure.errors]
    return []


# --- redirect URIs, audiences, scopes, names --------------------------------------------------

GOOD_REDIRECTS = [
    "https://app.example.com/callback", "https://app.example.com:8443/cb?x=1",
    "https://APP.example.com/cb", "http://127.0.0.1/cb", "http://127.0.0.1:53682/cb",
    "http://[::1]:8080/cb", "http://localhost:3000/cb", "com.example.app:/oauth2redirect",
    "com.example.app://callback", "https://xn--bcher-kva.example/cb", "https://192.0.2.1/cb",
    "https://app.example.com/c%C3%A9",
]
BAD_REDIRECTS = [
    "", "/callback", "callback", "//app.example.com/cb", "http://app.example.com/cb",
    "http://10.0.0.1/cb", "http://localhost.evil.com/cb", "https://app.example.com/cb#frag",
    "https://app.example.com/cb#", "javascript:alert(1)", "data:text/html,hi",
    "file:///etc/passwd", "vbscript:x", "myapp:/cb", "https://user:pw@app.example.com/cb",
    "https://app.example.com@evil.com/cb", "https://exa mple.com/cb", "https://bücher.example/cb",
    "https://app.example.com/\u0000", "https://[::1/cb", "https://app.example.com:99999/cb",
    "https://app.example.com:port/cb", "https:///cb", "https:app.example.com", "https://*.example.com/cb",
    "https://app.example.com/%zz", "https://[fe80::1%25eth0]/cb", "x" * 2001,
    "https://app.example.com/" + "a" * 2000, "https://app.example.com/\ud800", 42, None, ["https://a"],
]


@pytest.mark.parametrize("uri", GOOD_REDIRECTS)
def test_https_loopback_and_private_use_redirect_uris_are_accepted(uri: str) -> None:
    assert redirect_uri_error(uri) is None


@pytest.mark.parametrize("uri", BAD_REDIRECTS, ids=lambda u: repr(u)[:40])
def test_other_redirect_uris_are_refused_with_a_reason(uri: object) -> None:
    problem = redirect_uri_error(uri)
    assert isinstance(problem, str) and problem


def test_the_reasons_say_what_to_do() -> None:
    assert "fragment" in (redirect_uri_error("https://a.example/cb#x") or "")
    assert "loopback" in (redirect_uri_error("http://a.example/cb") or "")
    assert "private-use" in (redirect_uri_error("myapp:/cb") or "")
    assert "credentials" in (redirect_uri_error("https://u:p@a.example/cb") or "")


@pytest.mark.parametrize("uri", ["https://api.example.com", "https://api.example.com/v1",
                                 "urn:example:documents", "http://api.internal:8080/",
                                 "https://api.example.com/?tenant=1"])
def test_audiences_are_absolute_uris(uri: str) -> None:
    assert resource_uri_error(uri) is None


@pytest.mark.parametrize("uri", ["api", "/v1", "https://api.example.com#x", "", "https://",
                                 "api.example.com", "https://a b", "urn:é", 7])
def test_other_audiences_are_refused(uri: object) -> None:
    assert resource_uri_error(uri)


@pytest.mark.parametrize("scope", ["documents.read", "a", "x" * 128, "urn:x:y", "a!#[]~", "read:all"])
def test_scope_tokens_follow_rfc_6749(scope: str) -> None:
    assert scope_error(scope) is None


@pytest.mark.parametrize("scope", ["", "a b", 'a"b', "a\\b", "é", "x" * 129, "\t", "a\u0000", 3])
def test_other_scopes_are_refused(scope: object) -> None:
    assert scope_error(scope)


@pytest.mark.parametrize("name", ["", "x" * 201, "a\u0000b", "a\nb", "\ud800", 5, None])
def test_names_are_bounded_printable_text(name: object) -> None:
    assert text_error(name)
    assert text_error("Mobile app – ünïcode ✓") is None


@given(st.one_of(st.text(max_size=300), st.binary().map(lambda b: b.decode("latin-1")),
                 st.from_regex(r"[a-z.+-]{1,12}:[\x21-\x7e]{0,80}", fullmatch=True)))
def test_uri_and_scope_rules_answer_for_any_text(text: str) -> None:
    for rule in (redirect_uri_error, resource_uri_error, scope_error, text_error):
        assert rule(text) is None or isinstance(rule(text), str)


# --- JWK Sets ------------------------------------------------------------------------------------

def test_public_ec_ed25519_and_rsa_keys_are_accepted() -> None:
    keys = [ec_jwk(kid="ec-1", use="sig", alg="ES256"),
            {**OKPKey.generate_key("Ed25519").as_dict(private=False), "alg": "EdDSA"},
            {**RSA_2048.as_dict(private=False), "kid": "rsa", "alg": "RS256"},
            ec_jwk(key_ops=["verify"], ext=True)]
    assert jwks_errors({"keys": keys}) == []


@pytest.mark.parametrize("kind", ["EC", "OKP", "RSA"])
def test_a_private_key_is_refused_naming_its_private_members(kind: str) -> None:
    key = {"EC": ECKey.generate_key("P-256"), "OKP": OKPKey.generate_key("Ed25519"),
           "RSA": RSA_2048}[kind]
    [error] = jwks_errors({"keys": [key.as_dict(private=True)]})
    assert error.field == "jwks.keys[0].d"
    assert "private" in error.message


def test_a_symmetric_key_is_refused() -> None:
    [error] = jwks_errors({"keys": [{"kty": "oct", "k": b64(b"s" * 32)}]})
    assert "private" in error.message


def _p256_off_curve() -> dict[str, Any]:
    jwk = ec_jwk()
    y = bytearray(base64.urlsafe_b64decode(jwk["y"] + "="))
    y[-1] ^= 1
    return {**jwk, "y": b64(bytes(y))}


def _small_rsa() -> dict[str, Any]:
    jwk = RSA_2048.as_dict(private=False)
    n = base64.urlsafe_b64decode(jwk["n"] + "==")
    return {**jwk, "n": b64(n[:128])}  # 1024 bits


BAD_KEYS: list[tuple[str, Any]] = [
    ("not an object", "ES256"),
    ("no kty", {"crv": "P-256", "x": "AA", "y": "AA"}),
    ("unknown kty", {"kty": "EC2"}),
    ("kty not a string", {"kty": ["EC"]}),
    ("P-384", {**ec_jwk(), "crv": "P-384"}),
    ("X25519", {**OKPKey.generate_key("X25519").as_dict(private=False)}),
    ("missing y", {k: v for k, v in ec_jwk().items() if k != "y"}),
    ("off the curve", _p256_off_curve()),
    ("short x", {**ec_jwk(), "x": b64(b"\x01" * 31)}),
    ("padded base64", {**ec_jwk(), "x": ec_jwk()["x"] + "="}),
    ("standard base64", {**ec_jwk(), "x": "+/" + ec_jwk()["x"][2:]}),
    ("number for x", {**ec_jwk(), "x": 12345}),
    ("RSA of 1024 bits", _small_rsa()),
    ("even RSA exponent", {**RSA_2048.as_dict(private=False), "e": b64(b"\x01\x00\x00")}),
    ("RSA exponent 1", {**RSA_2048.as_dict(private=False), "e": b64(b"\x01")}),
    ("huge RSA exponent", {**RSA_2048.as_dict(private=False), "e": b64(b"\x01" * 9)}),
    ("alg of another key type", ec_jwk(alg="RS256")),
    ("alg none", ec_jwk(alg="none")),
    ("HMAC alg", ec_jwk(alg="HS256")),
    ("encryption key", ec_jwk(use="enc")),
    ("key_ops without verify", ec_jwk(key_ops=["encrypt"])),
    ("unknown member", ec_jwk(x5u="https://evil.example/cert")),
    ("long kid", ec_jwk(kid="k" * 129)),
    ("kid with NUL", ec_jwk(kid="a\u0000")),
    ("kid not a string", ec_jwk(kid=5)),
    ("ext not a bool", ec_jwk(ext="yes")),
    ("x5c not a list", ec_jwk(x5c="MIIB")),
]


@pytest.mark.parametrize(("why", "jwk"), BAD_KEYS, ids=[why for why, _ in BAD_KEYS])
def test_a_key_that_is_not_a_usable_public_signature_key_is_refused(why: str, jwk: Any) -> None:
    errors = jwks_errors({"keys": [ec_jwk(), jwk]})
    assert [e.field.split(".")[1] for e in errors] == ["keys[1]"], why  # the key, or its member at fault
    assert errors[0].message


@pytest.mark.parametrize("jwks", [None, [], "keys", {"keys": []}, {"keys": {}}, {"keys": "x"},
                                  {"key": [ec_jwk()]}, {"keys": [ec_jwk()], "extra": 1},
                                  {"keys": [ec_jwk() for _ in range(11)]}])
def test_a_jwks_must_be_a_set_of_1_to_10_keys(jwks: Any) -> None:
    assert jwks_errors(jwks)


def test_kids_are_unique_within_a_set() -> None:
    [error] = jwks_errors({"keys": [ec_jwk(kid="a"), ec_jwk(kid="b"), ec_jwk(kid="a")]})
    assert error.field == "jwks.keys[2].kid"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["keys", "kty", "crv", "x", "y", "n", "e", "kid",
                                                       "alg", "use", "d", "key_ops", "x5c"]),
                                      inner, max_size=6),
                    max_leaves=30))
def test_jwks_errors_answer_for_any_json(value: Any) -> None:
    for candidate in (value, {"keys": value}, {"keys": [value]}):
        errors = jwks_errors(candidate)
        assert all(e.field.startswith("jwks") and e.message for e in errors)


# --- how settings combine --------------------------------------------------------------------------

def test_defaults_follow_the_client_type() -> None:
    confidential = check_client(ClientFields(name="backend"))
    assert (confidential.type, confidential.auth_method, confidential.grant_types) == (
        "confidential", "client_secret_basic", ("client_credentials",))
    public = check_client(ClientFields(name="spa", type="public", redirect_uris=("https://a.example/cb",)))
    assert (public.type, public.auth_method, public.grant_types) == (
        "public", "none", ("authorization_code",))
    derived = check_client(ClientFields(name="cli", auth_method="none",
                                        grant_types=("urn:ietf:params:oauth:grant-type:device_code",)))
    assert derived.type == "public"


def test_lists_lose_duplicates_but_keep_their_order() -> None:
    valid = check_client(ClientFields(name="c", scopes=("b", "a", "b"),
                                      audiences=("https://two.example", "https://one.example",
                                                 "https://two.example"),
                                      grant_types=("client_credentials", "client_credentials")))
    assert valid.scopes == ("b", "a") and valid.grant_types == ("client_credentials",)
    assert valid.audiences == ("https://two.example", "https://one.example")


@pytest.mark.parametrize(("fields", "named"), [
    ({"type": "public", "auth_method": "client_secret_basic", "redirect_uris": ("https://a.example/cb",)},
     ["token_endpoint_auth_method"]),
    ({"type": "confidential", "auth_method": "none"}, ["token_endpoint_auth_method"]),
    ({"auth_method": "tls_client_auth"}, ["token_endpoint_auth_method"]),
    ({"type": "native"}, ["type"]),
    ({"grant_types": ()}, ["grant_types"]),
    ({"grant_types": ("implicit",)}, ["grant_types[0]"]),
    ({"grant_types": ("client_credentials", "password")}, ["grant_types[1]"]),
    ({"grant_types": ("client_credentials", "client_credentials", "nope")}, ["grant_types[2]"]),
    ({"type": "public", "grant_types": ("client_credentials",)}, ["grant_types"]),
    ({"grant_types": ("authorization_code",)}, ["redirect_uris"]),
    ({"redirect_uris": ("https://a.example/cb", "http://a.example/cb")}, ["redirect_uris[1]"]),
    ({"scopes": ("ok", "not ok")}, ["scopes[1]"]),
    ({"audiences": ("https://a.example", "relative")}, ["audiences[1]"]),
    ({"token_format": "paseto"}, ["token_format"]),
    ({"access_token_ttl_seconds": 9}, ["access_token_ttl_seconds"]),
    ({"access_token_ttl_seconds": 86_401}, ["access_token_ttl_seconds"]),
    ({"access_token_ttl_seconds": True}, ["access_token_ttl_seconds"]),
    ({"refresh_token_ttl_seconds": 59}, ["refresh_token_ttl_seconds"]),
    ({"refresh_token_ttl_seconds": 366 * 86_400 + 1}, ["refresh_token_ttl_seconds"]),
    ({"auth_method": "private_key_jwt"}, ["jwks"]),
    ({"jwks": {"keys": [ec_jwk()]}}, ["jwks"]),
    ({"auth_method": "private_key_jwt", "jwks": {"keys": []}}, ["jwks.keys"]),
    ({"name": ""}, ["name"]),
    ({"redirect_uris": "https://a.example/cb"}, ["redirect_uris"]),
    ({"scopes": (["a"], {"b": 1})}, ["scopes[0]", "scopes[1]"]),
])
def test_each_broken_rule_names_its_field(fields: dict[str, Any], named: list[str]) -> None:
    assert fields_errors(**fields) == named


def test_every_broken_rule_is_reported_at_once() -> None:
    assert fields_errors(name="", type="public", grant_types=("implicit", "client_credentials"),
                         scopes=("a b",), token_format="x") == [
        "name", "grant_types[0]", "grant_types", "scopes[0]", "token_format"]


def test_every_supported_grant_type_can_be_registered() -> None:
    grants = ("client_credentials", "authorization_code", "refresh_token",
              "urn:ietf:params:oauth:grant-type:device_code",
              "urn:ietf:params:oauth:grant-type:token-exchange")
    assert fields_errors(grant_types=grants, redirect_uris=("https://a.example/cb",)) == []
    assert fields_errors(type="public", grant_types=grants[1:],
                         redirect_uris=("https://a.example/cb",)) == []
