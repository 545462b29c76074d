"""Recognition and finding, offline: every kind by its prefix, every look-alike refused,
and candidates found wherever a key can sit in text."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyplane.credentials.format import BASE62, generate_key
from keyplane.keys.model import ADMIN_KEY_PREFIX
from keyplane.leaks.recognise import Recognised, recognise
from keyplane.leaks.scan import find_secrets, redact
from keyplane.oauth.clients import SECRET_PREFIX
from keyplane.oauth.device import DEVICE_CODE_PREFIX
from keyplane.oauth.refresh_tokens import REFRESH_PREFIX
from keyplane.oauth.tokens import OPAQUE_PREFIX


@pytest.mark.parametrize(("prefix", "kind"), [
    ("sk_live", "api_key"), ("key", "api_key"), ("a", "api_key"), ("x" * 20, "api_key"),
    (ADMIN_KEY_PREFIX, "root_key"), (SECRET_PREFIX, "client_secret"),
    (REFRESH_PREFIX, "refresh_token")])
def test_each_kind_is_recognised_by_its_prefix(prefix: str, kind: str) -> None:
    token = generate_key(prefix)
    found = recognise(token)
    assert found == Recognised(kind, hashlib.sha256(token.encode()).hexdigest(), token[:len(prefix) + 5])


@pytest.mark.parametrize("prefix", [OPAQUE_PREFIX, DEVICE_CODE_PREFIX])
def test_short_lived_tokens_are_not_leaks(prefix: str) -> None:
    assert recognise(generate_key(prefix)) is None


@given(st.sampled_from([generate_key(p) for p in ("sk_live", "kp_cs", "kp_root", "kp_rt")]),
       st.integers(min_value=0), st.sampled_from(BASE62))
def test_no_single_character_change_is_recognised_nor_found(token: str, where: int,
                                                            new: str) -> None:
    i = len(token) - 1 - where % 28  # somewhere in the random part or the checksum
    fake = token[:i] + new + token[i + 1:]
    if fake != token:
        assert recognise(fake) is None
        assert list(find_secrets(f"x = '{fake}'\n".encode())) == []


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40),
       st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_a_key_is_found_between_any_separators(before: str, after: str) -> None:
    token = generate_key("sk_live")
    found = list(find_secrets(f"{before}\n{token}\n{after}".encode()))
    assert [(m.line, m.token) for m in found] == [(before.count("\n") + 2, token)]


@pytest.mark.parametrize(("text", "expected"), [
    ("{k}", True), ("'{k}'", True), ("KEY={k};", True), ("Bearer {k}", True),
    ("xyz{k}", True),  # glued on: the longest prefix that checksums is the key's own
    ("{k}x", False), ("{k}_", False), ("{k}0", False),  # part of something longer
    ("{k_body_only}", False),
])
def test_boundaries(text: str, expected: bool) -> None:
    token = generate_key("sk_live")
    data = text.format(k=token, k_body_only=token.rpartition("_")[2]).encode()
    assert [m.token for m in find_secrets(data)] == ([token] if expected else [])


def test_lines_are_counted_across_many_matches() -> None:
    tokens = [generate_key(p) for p in ("a", "kp_cs", "kp_rt", "kp_root")]
    text = "\n".join(f"line {i}" if i % 3 else f"{i}: {tokens[i // 3 % 4]} {tokens[0]}"
                     for i in range(40))
    found = [(m.line, m.token) for m in find_secrets(text.encode())]
    assert found == [(i + 1, t) for i in range(0, 40, 3) for t in (tokens[i // 3 % 4], tokens[0])]


def test_redact_keeps_the_prefix_and_six_characters() -> None:
    token = generate_key("sk_live")
    body = token[8:]
    assert redact(token) == f"sk_live_{body[:4]}…{body[-2:]}"
