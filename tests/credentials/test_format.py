"""The key format: `<prefix>_<22 base62 random><6 base62 CRC32 checksum>`."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyplane.credentials.format import (
    BASE62,
    CHECKSUM_LENGTH,
    MAX_KEY_LENGTH,
    PREFIX_PATTERN,
    RANDOM_LENGTH,
    START_LENGTH,
    checksum,
    display_start,
    generate_key,
    has_key_shape,
    is_valid_prefix,
    is_well_formed,
    parse_key,
)

prefixes = st.from_regex(PREFIX_PATTERN, fullmatch=True)
keys = prefixes.map(generate_key)
# Any character at all: ASCII, the key alphabet, separators and non-ASCII look-alikes.
characters = st.characters(codec="utf-8") | st.sampled_from(BASE62 + "_-. \n\x00ＡаΟ")

PURE = settings(max_examples=200, deadline=None)


@PURE
@given(prefixes)
def test_a_generated_key_parses_back_to_its_prefix(prefix: str) -> None:
    key = generate_key(prefix)
    parsed = parse_key(key)
    assert parsed is not None
    assert parsed.prefix == prefix
    assert key.startswith(prefix + "_")


@PURE
@given(keys, st.data())
def test_any_single_character_substitution_is_rejected(key: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(key) - 1), label="position")
    replacement = data.draw(characters.filter(lambda c: c != key[position]), label="replacement")
    mistyped = key[:position] + replacement + key[position + 1 :]
    assert parse_key(mistyped) is None


def test_every_substitution_by_a_key_character_is_rejected_at_every_position() -> None:
    key = generate_key("sk_live")
    for position in range(len(key)):
        for replacement in BASE62 + "_":
            if replacement != key[position]:
                assert parse_key(key[:position] + replacement + key[position + 1 :]) is None, (position, replacement)


@PURE
@given(keys, st.data())
def test_a_deleted_character_is_rejected(key: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(key) - 1), label="position")
    assert parse_key(key[:position] + key[position + 1 :]) is None


@PURE
@given(keys, st.data())
def test_an_inserted_character_is_rejected(key: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(key)), label="position")
    inserted = data.draw(characters, label="inserted")
    assert parse_key(key[:position] + inserted + key[position:]) is None


@PURE
@given(keys, st.data())
def test_a_truncated_key_is_rejected(key: str, data: st.DataObject) -> None:
    length = data.draw(st.integers(0, len(key) - 1), label="length")
    assert parse_key(key[:length]) is None


@PURE
@given(keys, st.data())
def test_two_swapped_adjacent_characters_are_rejected(key: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(key) - 2), label="position")
    swapped = key[:position] + key[position + 1] + key[position] + key[position + 2 :]
    if swapped != key:
        assert parse_key(swapped) is None


@PURE
@given(prefixes)
def test_the_random_part_carries_at_least_128_bits(prefix: str) -> None:
    key = generate_key(prefix)
    body = key[len(prefix) + 1 :]
    assert len(body) == RANDOM_LENGTH + CHECKSUM_LENGTH
    assert set(body) <= set(BASE62)
    assert len(set(BASE62)) == 62
    assert RANDOM_LENGTH * math.log2(62) >= 128


def test_generated_keys_use_the_whole_alphabet_and_never_repeat() -> None:
    generated = [generate_key("sk") for _ in range(500)]
    assert len(set(generated)) == len(generated)
    seen = set("".join(k[3 : 3 + RANDOM_LENGTH] for k in generated))
    assert seen == set(BASE62)


@PURE
@given(keys)
def test_the_start_never_holds_more_than_the_prefix_and_four_random_characters(key: str) -> None:
    parsed = parse_key(key)
    assert parsed is not None
    prefix = key[: key.rindex("_")]
    assert parsed.start == display_start(key) == key[: len(prefix) + 1 + START_LENGTH]
    assert len(parsed.start) == len(prefix) + 1 + START_LENGTH


@PURE
@given(st.text(max_size=80))
def test_the_start_of_any_string_is_never_longer_than_a_prefix_and_four_characters(text: str) -> None:
    start = display_start(text)
    assert text.startswith(start)
    prefix = text.rpartition("_")[0]
    if is_valid_prefix(prefix):
        assert len(start) <= len(prefix) + 1 + START_LENGTH
    else:
        assert len(start) <= START_LENGTH


def test_display_start_of_a_malformed_string_does_not_reveal_its_head() -> None:
    secret_looking = "my_database_password_is_hunter2_and_more_x"
    assert display_start(secret_looking) == "my_d"


@PURE
@given(keys)
def test_a_parsed_key_never_shows_the_key_in_its_repr(key: str) -> None:
    parsed = parse_key(key)
    assert parsed is not None
    secret = key[len(parsed.start) :]
    assert secret not in repr(parsed)
    assert secret not in str(parsed)
    assert key not in repr(parsed)


def test_a_string_longer_than_the_maximum_key_length_is_refused() -> None:
    head = "a" * 40 + "_" + "A" * RANDOM_LENGTH
    assert len(head) + CHECKSUM_LENGTH > MAX_KEY_LENGTH
    assert parse_key(head + checksum(head)) is None
    assert parse_key("x" * 10_000) is None


def test_a_key_with_a_correct_checksum_but_an_invalid_prefix_is_refused() -> None:
    for prefix in ("Sk", "sk-live", "sk_", "_sk", "ünï"):
        head = f"{prefix}_{'A' * RANDOM_LENGTH}"
        assert parse_key(head + "000000") is None
        if head.isascii():
            assert parse_key(head + checksum(head)) is None


def test_a_key_with_no_prefix_is_refused() -> None:
    body = "A" * RANDOM_LENGTH
    assert parse_key(body + checksum(body)) is None
    assert parse_key("_" + body + checksum("_" + body)) is None


def test_the_checksum_is_six_base62_digits_of_crc32() -> None:
    assert checksum("") == "000000"
    assert checksum("sk_live_" + "A" * RANDOM_LENGTH) != checksum("sk_live_" + "B" * RANDOM_LENGTH)
    assert len(checksum("x" * 100)) == CHECKSUM_LENGTH
    assert 62**CHECKSUM_LENGTH > 2**32  # every CRC32 value has its own digits


def test_prefixes_are_lower_case_names_of_one_to_twenty_characters() -> None:
    for good in ("sk_live", "kp_root", "a", "sk", "a1", "a_b_c", "x" * 20):
        assert is_valid_prefix(good), good
    for bad in ("Sk", "SK_LIVE", "_x", "x_", "x" * 21, "", "1x", "sk-live", "sk live", "sk_live\n", "ｓｋ"):
        assert not is_valid_prefix(bad), bad


@PURE
@given(prefixes)
def test_every_prefix_the_pattern_produces_is_valid(prefix: str) -> None:
    assert is_valid_prefix(prefix)
    assert 1 <= len(prefix) <= 20


def test_generating_a_key_with_an_invalid_prefix_fails() -> None:
    for bad in ("Sk", "", "x_", "a" * 21):
        with pytest.raises(ValueError):
            generate_key(bad)


@PURE
@given(st.text(max_size=100))
def test_parsing_any_string_returns_none_or_a_key_with_a_valid_checksum(text: str) -> None:
    parsed = parse_key(text)
    if parsed is not None:
        assert is_valid_prefix(parsed.prefix)
        assert checksum(text[:-CHECKSUM_LENGTH]) == text[-CHECKSUM_LENGTH:]


def test_the_checksum_of_known_texts_never_changes() -> None:
    # Every stored key's checksum was computed this way: pinned, so a faster encoding
    # (a table of digit pairs) can't silently change the format.
    assert checksum("") == "000000"
    assert checksum("sk_live_0000000000000000000000") == "0K3vO8"
    assert checksum("kp_at_ABCDEFGHIJKLMNOPQRSTUV") == "3lCHPQ"


def test_well_formed_is_parse_key_without_its_answer() -> None:
    key = generate_key("sk_test")
    for text in (key, key[:-1], key.upper(), "sk_test_" + "0" * 28, "", "_" * 40):
        assert is_well_formed(text) == (parse_key(text) is not None)


@PURE
@given(keys, st.data())
def test_a_key_with_a_typo_in_its_alphabet_keeps_the_shape_of_a_key(key: str, data: st.DataObject) -> None:
    # What `keys get` and the 404s refuse to send or echo: the secret, nearly.
    position = data.draw(st.integers(len(key) - RANDOM_LENGTH - CHECKSUM_LENGTH, len(key) - 1))
    # `keys` draws fresh randomness (generate_key), so the draw must not depend on the key's
    # characters: a shift of 1..61 in the alphabet always changes the character.
    shift = data.draw(st.integers(1, len(BASE62) - 1))
    replacement = BASE62[(BASE62.index(key[position]) + shift) % len(BASE62)]
    mistyped = key[:position] + replacement + key[position + 1 :]
    assert has_key_shape(key) and has_key_shape(mistyped)
    assert not is_well_formed(mistyped)


def test_ids_and_short_strings_do_not_have_the_shape_of_a_key() -> None:
    key = generate_key("sk_live")
    for text in ("key_01m974ak48cf685wr7rkgbr13a", "key_unknown", key[:-1], key + "0", "",
                 "sk_live_" + "0" * 27 + "-", "Sk_live_" + "0" * 28, "_" + "0" * 28):
        assert not has_key_shape(text), text
