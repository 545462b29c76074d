"""A user's profile fields: what a name and an email address may be, and how a change to
the address takes back an admin's word that it was verified."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyplane.errors import Invalid
from keyplane.users.model import Profile
from keyplane.users.profile import MAX_EMAIL_LENGTH, changed_profile, display_name, email_address


@given(st.text(max_size=300))
def test_whatever_text_comes_a_name_is_stored_bounded_and_normalised_or_refused_naming_name(text):
    try:
        name = display_name(text)
    except Invalid as exc:
        assert [e.field for e in exc.errors] == ["name"]
        return
    assert 1 <= len(name) <= 200 and name == name.strip()
    assert display_name(name) == name  # stored form is a fixed point


@given(st.one_of(st.emails(), st.text(max_size=300)))
def test_whatever_text_comes_an_address_is_stored_canonical_or_refused_naming_email(text):
    try:
        email = email_address(text)
    except Invalid as exc:
        assert [e.field for e in exc.errors] == ["email"]
        return
    local, _, domain = email.rpartition("@")
    assert email.isascii() and len(email) <= MAX_EMAIL_LENGTH and len(local) <= 64
    assert domain == domain.lower() and local == text.rpartition("@")[0]
    assert email_address(email) == email


@given(st.emails())
def test_every_common_address_within_the_lengths_is_accepted(text):
    local = text.rpartition("@")[0]
    if len(text) <= MAX_EMAIL_LENGTH and len(local) <= 64:
        assert email_address(text) == text.rpartition("@")[0] + "@" + text.rpartition("@")[2].lower()


def test_a_new_address_is_unverified_unless_vouched_for_with_it():
    vouched = Profile(name="Ada", email="ada@example.com", email_verified=True)
    assert changed_profile(vouched, {"name": "Ada King"}).email_verified is True
    assert changed_profile(vouched, {"email": "ADA@EXAMPLE.com"}) == Profile(
        name="Ada", email="ADA@example.com", email_verified=False)  # the local part may differ
    assert changed_profile(vouched, {"email": "ada@Example.COM"}).email_verified is True
    assert changed_profile(vouched, {"email": "x@example.org", "email_verified": True}).email_verified
    assert changed_profile(vouched, {"email": None, "name": None}) == Profile()
    with pytest.raises(Invalid) as refused:
        changed_profile(Profile(), {"email_verified": True})
    assert [e.field for e in refused.value.errors] == ["email_verified"]
