"""recognise(): keyplane's secrets by prefix and checksum; look-alikes are never secrets."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from keyplane.keys.format import BASE62, generate_key
from keyplane.leaks.recognise import recognise


def test_each_kind_is_told_by_its_prefix() -> None:
    for prefix, kind in (("kp_root", "root_key"), ("kp_cs", "client_secret"), ("kp_rt", "refresh_token"),
                         ("sk_live", "api_key"), ("key", "api_key")):
        token = generate_key(prefix)
        found = recognise(token)
        assert found is not None and found.kind == kind
        assert found.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(found)


@given(st.integers(min_value=0, max_value=27), st.sampled_from(BASE62))
def test_a_single_changed_character_is_never_recognised(position: int, replacement: str) -> None:
    token = generate_key("sk_live")
    body_start = len("sk_live_")
    index = body_start + position
    if token[index] == replacement:
        return
    lookalike = token[:index] + replacement + token[index + 1:]
    assert recognise(lookalike) is None


def test_shapes_that_are_not_keys_are_not_recognised() -> None:
    token = generate_key("sk_live")
    for text in ("", "sk_live_", token[:-1], token + "x", "SK_LIVE" + token[7:], "x" * 200,
                 token.replace("_", "-")):
        assert recognise(text) is None
