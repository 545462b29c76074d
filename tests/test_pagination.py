"""Cursor pagination: opaque cursors, forged ones refused, bounded limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyplane.errors import Invalid
from keyplane.ids import new_id
from keyplane.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    check_limit,
    decode_cursor,
    encode_cursor,
    page_of,
)

PURE = settings(max_examples=200, deadline=None)

ids = st.builds(
    new_id,
    st.sampled_from(["key", "api", "evt", "cli", "usr"]),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2900, 1, 1), timezones=st.just(UTC)),
)


def assert_forged(cursor: str) -> None:
    with pytest.raises(Invalid) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 400
    assert [e.field for e in caught.value.errors] == ["cursor"]


@PURE
@given(ids)
def test_a_cursor_decodes_to_the_id_it_was_made_from(last_id: str) -> None:
    cursor = encode_cursor(last_id)
    assert decode_cursor(cursor) == last_id
    assert last_id not in cursor  # opaque, not the id in clear
    assert "=" not in cursor


def test_no_cursor_means_the_first_page() -> None:
    assert decode_cursor(None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!",
        "!!!!",
        "a",
        "a===",
        "not a cursor",
        "x" * 201,
        "A" * 10_000,
        "ключ",
        "a2V5Xw\x00",
        "a2V5X+",
        "a2V5X/",
        "a2V5X%3D",
        encode_cursor("hello_world"),  # decodes, but to no id
        encode_cursor("key_zzzzzzzzzzzzzzzzzzzzzzzzzz"),
        encode_cursor("' OR 1=1 --"),
        base64.urlsafe_b64encode(b"\xff\xfe_key").decode(),
    ],
)
def test_a_forged_cursor_is_invalid_for_the_cursor_field(cursor: str) -> None:
    assert_forged(cursor)


def test_a_cursor_with_its_padding_or_surrounding_junk_is_not_the_same_cursor() -> None:
    cursor = encode_cursor(new_id("key", datetime(2026, 1, 1, tzinfo=UTC)))
    assert_forged(cursor + "=" * (-len(cursor) % 4 or 4))
    assert_forged(" " + cursor)
    assert_forged(cursor + "\n")
    assert_forged(cursor + "!")
    assert_forged(cursor[:-1])


@PURE
@given(st.text(max_size=300))
def test_any_string_is_either_a_cursor_of_an_id_or_invalid(text: str) -> None:
    try:
        decoded = decode_cursor(text)
    except Invalid as error:
        assert error.status == 400
        assert [e.field for e in error.errors] == ["cursor"]
    else:
        assert decoded is not None
        assert encode_cursor(decoded) == text


@PURE
@given(ids, st.data())
def test_a_tampered_cursor_is_invalid_or_points_at_another_id(last_id: str, data: st.DataObject) -> None:
    cursor = encode_cursor(last_id)
    position = data.draw(st.integers(0, len(cursor) - 1))
    char = data.draw(st.characters(codec="utf-8").filter(lambda c: c != cursor[position]))
    tampered = cursor[:position] + char + cursor[position + 1 :]
    try:
        decoded = decode_cursor(tampered)
    except Invalid:
        return
    assert decoded != last_id


def test_limits_between_one_and_the_maximum_are_accepted() -> None:
    for limit in (1, DEFAULT_LIMIT, MAX_LIMIT):
        assert check_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10**12])
def test_a_limit_out_of_bounds_is_invalid_for_the_limit_field(limit: int) -> None:
    with pytest.raises(Invalid) as caught:
        check_limit(limit)
    assert caught.value.status == 400
    assert [e.field for e in caught.value.errors] == ["limit"]


def test_a_page_of_at_most_limit_rows_has_no_next_cursor() -> None:
    rows = ["key_a", "key_b"]
    page = page_of(rows, 2, lambda r: r)
    assert list(page.items) == rows
    assert page.next_cursor is None
    assert page_of([], 5, lambda r: r).next_cursor is None


@PURE
@given(st.lists(ids, min_size=0, max_size=30, unique=True), st.integers(1, 10))
def test_paging_through_sorted_ids_visits_each_once_in_order(all_ids: list[str], limit: int) -> None:
    all_ids.sort()
    seen: list[str] = []
    after: str | None = None
    for _ in range(len(all_ids) + 2):
        rows = [i for i in all_ids if after is None or i > after][: limit + 1]
        page = page_of(rows, limit, lambda r: r)
        assert len(page.items) <= limit
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor)
    assert seen == all_ids
