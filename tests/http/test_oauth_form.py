"""The OAuth endpoints' form parser: `parse_qsl`'s answers (RFC 6749 §3.2 rules on top),
whichever way it takes."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyplane.errors import InvalidRequest
from keyplane.http.oauth import MAX_FIELDS, REPEATABLE, parse_form

PURE = settings(max_examples=500, deadline=None)
forms = st.text(alphabet=st.sampled_from("ab_=&%+;2fF\u00e9\x00 "), max_size=60) | st.lists(
    st.tuples(st.sampled_from(["grant_type", "scope", "resource", "client_id", "", "a=b"]),
              st.text(alphabet="abc=%+ ", max_size=5)), max_size=MAX_FIELDS + 2,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))


def expected(text: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """What `parse_qsl` makes of `text` under the form rules; None for a refusal."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    params: dict[str, str] = {}
    resources: list[str] = []
    for name, value in pairs:
        if not value:
            continue
        if name in REPEATABLE:
            resources.append(value)
        elif name in params:
            return None
        else:
            params[name] = value
    return params, tuple(resources)


def check(text: str) -> None:
    want = expected(text)
    if want is None:
        with pytest.raises(InvalidRequest):
            parse_form(text.encode())
        return
    got = parse_form(text.encode())
    assert (dict(got.params), got.resources) == want


@PURE
@given(forms)
def test_a_form_parses_as_parse_qsl_reads_it(text: str) -> None:
    check(text)


@pytest.mark.parametrize("body", [b"", b"a=1", b"a=1&", b"&a=1", b"a", b"=", b"a==1", b"a=1&&b=2",
                                  b"&".join([b"x=1"] * MAX_FIELDS), b"&".join([b"x%d=1" % i for i in range(MAX_FIELDS + 1)])])
def test_edge_forms_parse_as_parse_qsl_reads_them(body: bytes) -> None:
    check(body.decode())
