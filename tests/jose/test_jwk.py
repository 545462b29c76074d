"""JWKs: our public keys out (standard, public members only), others' keys in (strictly)."""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose_keys import ALGS, jwk_of, kid_of, private_key
from joserfc.jwk import ECKey, OKPKey, RSAKey

from keyplane.errors import Invalid
from keyplane.jose.algorithms import EDDSA, ES256, RS256
from keyplane.jose.jwk import MAX_JWKS_KEYS, public_jwk, public_keys_from_jwks
from keyplane.jose.jws import b64url_encode
from keyplane.jose.jwt import decode_jwt, encode_jwt

MEMBERS = {ES256: {"kty", "crv", "x", "y"}, EDDSA: {"kty", "crv", "x"}, RS256: {"kty", "n", "e"}}


def refusal(jwks: Any) -> list[str]:
    """The fields named by the Invalid that `public_keys_from_jwks(jwks)` raises."""
    with pytest.raises(Invalid) as caught:
        public_keys_from_jwks(jwks)
    return [e.field for e in caught.value.errors]


@pytest.mark.parametrize("alg", ALGS)
def test_a_public_jwk_has_only_public_members_with_kid_alg_and_use(alg: str) -> None:
    jwk = jwk_of(alg)
    assert set(jwk) == MEMBERS[alg] | {"kid", "alg", "use"}
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (kid_of(alg), alg, "sig")
    assert jwk == public_jwk(private_key(alg).public_key(), kid=kid_of(alg), alg=alg)
    # joserfc, an independent implementation, renders the same public members.
    imported = {ES256: ECKey, EDDSA: OKPKey, RS256: RSAKey}[alg].import_key(private_key(alg))
    assert {k: v for k, v in jwk.items() if k in MEMBERS[alg]} == imported.as_dict(private=False)


@pytest.mark.parametrize("alg", ALGS)
def test_a_published_jwk_verifies_tokens_here_and_in_pyjwt(alg: str) -> None:
    token = encode_jwt({"sub": "x", "exp": 2_000_000_000}, private_key(alg), alg, kid=kid_of(alg))
    keys = public_keys_from_jwks({"keys": [jwk_of(alg)]})
    assert decode_jwt(token, keys, algorithms={alg}, typ="JWT", issuer=None, audience=None,
                      now=1_900_000_000)["sub"] == "x"
    assert pyjwt.decode(token, key=pyjwt.PyJWK(jwk_of(alg)).key, algorithms=[alg])["sub"] == "x"


def test_a_jwks_maps_each_kid_to_its_algorithm_and_key() -> None:
    keys = public_keys_from_jwks({"keys": [jwk_of(a) for a in ALGS]})
    assert {kid: alg for kid, (alg, _) in keys.items()} == {kid_of(a): a for a in ALGS}


def test_alg_and_use_may_be_left_out_and_kid_defaults_to_the_thumbprint() -> None:
    bare = {k: v for k, v in jwk_of(ES256).items() if k not in ("alg", "use", "kid")}
    ((kid, (alg, key)),) = public_keys_from_jwks({"keys": [bare]}).items()
    assert alg == ES256 and kid == ECKey.import_key(bare).thumbprint()
    assert isinstance(key, ec.EllipticCurvePublicKey)


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_a_jwk_holding_private_members_is_refused(member: str) -> None:
    leaked = {**jwk_of(ES256), member: "AAAA"}
    assert refusal({"keys": [leaked]}) == [f"jwks.keys[0].{member}"]


@pytest.mark.parametrize("alg", ALGS)
def test_a_private_jwk_exported_by_a_library_is_refused(alg: str) -> None:
    cls = {ES256: ECKey, EDDSA: OKPKey, RS256: RSAKey}[alg]
    private = cls.import_key(private_key(alg)).as_dict(private=True)
    assert refusal({"keys": [private]})[0].startswith("jwks.keys[0].")


@pytest.mark.parametrize("jwk, field", [
    ({"kty": "oct", "k": "c2VjcmV0"}, "jwks.keys[0].k"),
    ({"kty": "oct"}, "jwks.keys[0].kty"),
    ({**jwk_of(ES256), "crv": "P-384"}, "jwks.keys[0].kty"),
    ({"kty": "OKP", "crv": "X25519", "x": jwk_of(EDDSA)["x"]}, "jwks.keys[0].kty"),
    ({**jwk_of(RS256), "crv": "P-256"}, "jwks.keys[0].kty"),
    ({**jwk_of(ES256), "crv": {"P-256": 1}}, "jwks.keys[0].kty"),  # any JSON, never a 500
    ({**jwk_of(ES256), "kty": ["EC"]}, "jwks.keys[0].kty"),
    ({**jwk_of(ES256), "alg": "RS256"}, "jwks.keys[0].alg"),
    ({**jwk_of(RS256), "alg": "HS256"}, "jwks.keys[0].alg"),
    ({**jwk_of(RS256), "alg": "none"}, "jwks.keys[0].alg"),
    ({**jwk_of(ES256), "use": "enc"}, "jwks.keys[0].use"),
    ({**jwk_of(ES256), "key_ops": ["sign"]}, "jwks.keys[0].key_ops"),
    ({**jwk_of(ES256), "kid": ""}, "jwks.keys[0].kid"),
    ({**jwk_of(ES256), "kid": 7}, "jwks.keys[0].kid"),
    ({**jwk_of(ES256), "y": jwk_of(ES256)["x"]}, "jwks.keys[0]"),  # off the curve
    ({**jwk_of(ES256), "x": "not base64!"}, "jwks.keys[0]"),
    ({**jwk_of(ES256), "x": 12}, "jwks.keys[0].x"),
    ({k: v for k, v in jwk_of(ES256).items() if k != "y"}, "jwks.keys[0].y"),
    ("a string", "jwks.keys[0]"),
])
def test_keys_keyplane_cannot_use_are_refused_naming_the_member(jwk: Any, field: str) -> None:
    assert refusal({"keys": [jwk]}) == [field]


def test_an_rsa_key_under_2048_bits_is_refused() -> None:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64url_encode(numbers.n.to_bytes(128, "big")), "e": "AQAB"}
    assert refusal({"keys": [jwk]}) == ["jwks.keys[0]"]


def test_a_jwks_must_be_an_object_with_a_bounded_list_of_unique_kids() -> None:
    for jwks in (None, [], {"keys": {}}, {"key": []}, "jwks"):
        assert refusal(jwks) == ["jwks"]
    assert refusal({"keys": [jwk_of(ES256)] * (MAX_JWKS_KEYS + 1)}) == ["jwks.keys"]
    assert refusal({"keys": [jwk_of(ES256), jwk_of(ES256)]}) == ["jwks.keys[1].kid"]
    assert public_keys_from_jwks({"keys": []}) == {}


def test_unusable_keys_can_be_skipped_in_a_jwks_read_from_elsewhere() -> None:
    jwks = {"keys": [{"kty": "oct", "k": "c2VjcmV0"}, jwk_of(ES256), {**jwk_of(EDDSA), "use": "enc"},
                     jwk_of(ES256)]}
    assert list(public_keys_from_jwks(jwks, skip_unusable=True)) == [kid_of(ES256)]


def test_exporting_a_key_under_the_wrong_algorithm_is_an_error() -> None:
    with pytest.raises(ValueError):
        public_jwk(private_key(ES256), kid="k", alg=RS256)
