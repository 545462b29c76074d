"""What a user's profile fields may be: a display name and an email address (with whether
an admin vouches for it), released by OpenID Connect's `profile` and `email` scopes.

A name is text as people write it: NFC-normalised (one spelling of "é"), no control
characters, no surrounding white space. An email address is the common, unquoted form of
RFC 5322's addr-spec in ASCII (an internationalised domain in its `xn--` form): a dot-atom
local part of at most 64 characters (RFC 5321 §4.5.3.1.1) and a domain name of two or
more labels, at most 254 characters in all (the longest a reverse path can carry, RFC 5321
§4.5.3.1.3 less its brackets). The local part is kept as given (only the receiving domain
may read it case-insensitively), the domain lower-cased. Whoever reads the `email` claim
may mail it, so nothing more exotic is accepted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from keyplane.errors import Invalid
from keyplane.users.model import Profile

MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
PROFILE_FIELDS = ("name", "email", "email_verified")
CLEARABLE_FIELDS = ("name", "email")  # None clears them (`changed_profile`)

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 §3.2.3
_LOCAL_PART = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # RFC 1035 §2.3.1, RFC 1123 §2.1
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


def written_text(value: object, *, field: str, max_length: int) -> str:
    """`value` when it is text as people write a name: 1 to `max_length` characters, no
    control characters or lone surrogates, no surrounding white space; raises Invalid
    (`field`). The rule of a user's name and of a username, before each is normalised."""
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise Invalid.field(field, f"must be 1 to {max_length} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in value):
        raise Invalid.field(field, "must not contain control characters or lone surrogates")
    if value != value.strip():
        raise Invalid.field(field, "must not start or end with white space")
    return value


def display_name(value: object) -> str:
    """The name as stored (NFC); raises Invalid (field `name`)."""
    normalized = unicodedata.normalize("NFC", written_text(value, field="name", max_length=MAX_NAME_LENGTH))
    if len(normalized) > MAX_NAME_LENGTH:  # NFC can lengthen a string (U+FB2C: three)
        raise Invalid.field("name", f"must be at most {MAX_NAME_LENGTH} characters once normalised (NFC)")
    return normalized


def email_address(value: object) -> str:
    """The address as stored (its domain lower-cased); raises Invalid (field `email`)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EMAIL_LENGTH:
        raise Invalid.field("email", f"must be an email address of at most {MAX_EMAIL_LENGTH} characters")
    local, at, domain = value.rpartition("@")
    if not at or not value.isascii() or _LOCAL_PART.fullmatch(local) is None \
            or _DOMAIN.fullmatch(domain) is None or domain.rpartition(".")[2].isdigit():
        raise Invalid.field("email", "must be an email address such as ada@example.com (ASCII; "
                            "an internationalised domain in its xn-- form)")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise Invalid.field("email", f"must have at most {MAX_LOCAL_PART_LENGTH} characters before the @")
    return f"{local}@{domain.lower()}"


def changed_profile(current: Profile, changes: Mapping[str, Any]) -> Profile:
    """`current` with `changes` (any of name, email, email_verified; None clears name or
    email) applied. A new email address is unverified unless `email_verified` comes with
    it. Raises Invalid naming the field."""
    name, email = current.name, current.email
    if "name" in changes:
        name = None if changes["name"] is None else display_name(changes["name"])
    if "email" in changes:
        email = None if changes["email"] is None else email_address(changes["email"])
    verified = current.email_verified and email == current.email
    if "email_verified" in changes:
        verified = changes["email_verified"]
        if not isinstance(verified, bool):
            raise Invalid.field("email_verified", "must be true or false")
    if verified and email is None:
        raise Invalid.field("email_verified", "cannot be true without an email address")
    return Profile(name=name, email=email, email_verified=verified)
