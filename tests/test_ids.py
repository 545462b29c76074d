"""Typed, prefixed, time-ordered ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from keyplane.ids import is_any_id, is_id, new_id
from keyplane.keys.model import ADMIN_API_ID

PURE = settings(max_examples=200, deadline=None)

times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2900, 1, 1),
                     timezones=st.just(UTC))


@PURE
@given(times, times)
def test_ids_made_in_different_milliseconds_sort_by_creation_time_as_strings(a: datetime, b: datetime) -> None:
    ms_a, ms_b = (int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1)) for t in (a, b))
    if ms_a != ms_b:
        assert (new_id("key", a) < new_id("key", b)) == (ms_a < ms_b)


@PURE
@given(times)
def test_an_id_one_millisecond_later_sorts_after(at: datetime) -> None:
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    assert new_id("evt", at) < new_id("evt", at + timedelta(milliseconds=1))


def millis_of(made: str) -> int:
    """The creation time an id carries: its first 10 characters are 48 bits of milliseconds."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    value = 0
    for char in made.partition("_")[2][:10]:
        value = value * 32 + alphabet.index(char)
    return value


@PURE
@given(times)
def test_an_id_carries_its_creation_millisecond(at: datetime) -> None:
    assert millis_of(new_id("key", at)) == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_an_id_keeps_its_millisecond_where_floating_point_would_round_it_down() -> None:
    # 1075562890.866 s has no exact float; `timestamp() * 1000` gives ...865.9999.
    at = datetime(2004, 1, 31, 15, 28, 10, 866000, tzinfo=UTC)
    assert millis_of(new_id("key", at)) == 1075562890866
    assert millis_of(new_id("key", at - timedelta(milliseconds=1))) == 1075562890865


def test_ids_sort_in_creation_order_across_a_run_of_milliseconds() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = [new_id("key", start + timedelta(milliseconds=i)) for i in range(2000)]
    assert made == sorted(made)


def test_ids_of_the_same_instant_are_distinct() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert len({new_id("key", at) for _ in range(1000)}) == 1000


def test_an_aware_time_in_any_zone_gives_the_same_time_part() -> None:
    utc = datetime(2026, 1, 1, 12, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert new_id("key", utc)[:14] == new_id("key", paris)[:14]


@PURE
@given(st.from_regex(r"[a-z]{2,8}", fullmatch=True), times)
def test_a_new_id_is_an_id_of_its_prefix(prefix: str, at: datetime) -> None:
    made = new_id(prefix, at)
    assert made.startswith(prefix + "_")
    assert len(made) == len(prefix) + 27
    assert is_id(made, prefix)
    assert is_any_id(made)
    assert not is_id(made, prefix + "x")


def test_is_id_refuses_what_new_id_cannot_make() -> None:
    good = new_id("key", datetime(2026, 1, 1, tzinfo=UTC))
    body = good[4:]
    for bad in (
        "",
        "key_",
        body,
        "api_" + body,
        "key_" + body[:-1],
        "key_" + body + "0",
        "key_" + body + "\n",
        "KEY_" + body,
        "key-" + body,
        "key_" + body.upper(),
        "key_" + body[:-1] + "i",  # not Crockford: i, l, o, u are left out
        "key_" + body[:-1] + "l",
        "key_" + body[:-1] + "o",
        "key_" + body[:-1] + "u",
        "key_" + body[:-1] + "é",
        "key_8" + body[1:],  # more than 128 bits
        "key_z" + body[1:],
    ):
        assert not is_id(bad, "key"), bad


def test_the_admin_api_id_is_a_well_formed_api_id() -> None:
    assert is_id(ADMIN_API_ID, "api")


@PURE
@given(st.text(max_size=40))
def test_any_string_is_an_id_only_when_it_has_the_id_shape(text: str) -> None:
    if is_id(text, "key"):
        assert text.startswith("key_") and len(text) == 30 and text.isascii()


def test_ids_made_in_the_same_millisecond_sort_in_the_order_they_were_made():
    from datetime import UTC, datetime

    from keyplane.ids import new_id

    at = datetime(2026, 3, 1, 12, 0, 0, 500, tzinfo=UTC)
    made = [new_id("evt", at) for _ in range(500)]
    assert made == sorted(made)
    assert len(set(made)) == 500


def _value_of(made: str) -> int:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    value = 0
    for char in made.partition("_")[2]:
        value = value * 32 + alphabet.index(char)
    return value


def test_ids_of_one_millisecond_are_consecutive_and_spelt_as_any_other_across_carries() -> None:
    # Ids of one millisecond share their first characters, kept from one to the next: the
    # last two carry over into them every 1,024 ids.
    from keyplane.ids import id_text

    at = datetime(2026, 3, 1, 12, 0, 0, 7000, tzinfo=UTC)
    made = [new_id("evt", at) for _ in range(3000)]
    values = [_value_of(m) for m in made]
    assert values == list(range(values[0], values[0] + 3000))
    assert made == [f"evt_{id_text(v)}" for v in values]
    other = new_id("key", at)
    assert other == f"key_{id_text(values[-1] + 1)}"
