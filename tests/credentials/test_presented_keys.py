"""PresentedKeys: the stored hashes of keys found before, by digest, bounded."""

from __future__ import annotations

from keyplane.credentials.format import generate_key
from keyplane.credentials.hashing import KeyHasher, PresentedKeys

HASHER = KeyHasher(b"s" * 32)


def test_a_kept_key_is_known_by_its_digest_and_another_is_not() -> None:
    memo = PresentedKeys(HASHER)
    key = generate_key("sk")
    digest, known = memo.seen(key)
    assert known is None
    memo.keep(digest, HASHER.hash(key))
    assert memo.seen(key) == (digest, HASHER.hash(key))
    assert memo.seen(key[:-1] + "x")[1] is None


def test_at_most_size_are_kept_the_oldest_out_first() -> None:
    memo = PresentedKeys(HASHER, size=3)
    keys = [generate_key("sk") for _ in range(4)]
    for key in keys:
        digest, _ = memo.seen(key)
        memo.keep(digest, HASHER.hash(key))
    assert [memo.seen(k)[1] is not None for k in keys] == [False, True, True, True]
