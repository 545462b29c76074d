"""Redirect URI matching (RFC 6749 §3.1.2.3 exact match; RFC 8252 §7.3 loopback ports) and
the plain words of scopes: pure functions, no store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyplane.oauth.authorization import redirect_uri_matches
from keyplane.web.consent import describe_scope

REGISTERED = ("https://app.example.com/cb", "http://127.0.0.1/callback", "http://[::1]:5000/cb",
              "com.example.app:/oauth", "http://localhost:7000/cb")


@pytest.mark.parametrize("uri", [*REGISTERED, "http://127.0.0.1:1/callback",
                                 "http://127.0.0.1:65535/callback", "http://[::1]/cb",
                                 "http://[::1]:49152/cb"])
def test_registered_uris_and_loopback_ports_match(uri):
    assert redirect_uri_matches(uri, REGISTERED)


@pytest.mark.parametrize("uri", [
    "https://app.example.com/cb/", "https://app.example.com/cb?x=1", "https://APP.example.com/cb",
    "https://app.example.com:443/cb", "http://app.example.com/cb", "https://app.example.com/cb#f",
    "http://127.0.0.1:80@127.0.0.1/callback", "http://127.0.0.1:abc/callback",
    "http://127.0.0.1:8080/callback/x", "http://127.0.0.2/callback", "https://127.0.0.1/callback",
    "http://localhost:7001/cb",  # localhost is matched exactly: RFC 8252 §8.3 prefers IP literals
    "com.example.app:/oauth/x", "http://[::1]:5000/cb?x", "",
])
def test_anything_else_does_not(uri):
    assert not redirect_uri_matches(uri, REGISTERED)


@given(st.text(max_size=60))
def test_no_text_matches_unless_registered_or_a_loopback_port_variant(text):
    if redirect_uri_matches(text, REGISTERED):
        assert text in REGISTERED or text.startswith(("http://127.0.0.1:", "http://[::1]"))


@pytest.mark.parametrize("scope, words", [
    ("documents.read", "see your documents"), ("photos.write", "change your photos"),
    ("billing:admin", "administer your billing"), ("profile", "see your name and username"),
    ("openid", "know who you are on this server (your user id)"),
    ("email", "see your email address"), ("newsletter", "use “newsletter”"),
    ("user_data.delete", "delete your user data"),
])
def test_scopes_are_said_in_plain_words(scope, words):
    assert describe_scope(scope) == words
