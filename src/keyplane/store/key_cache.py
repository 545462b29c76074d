"""The keys one process keeps in memory, by hash: exact, never a TTL.

Verification reads a key by the hash of its plaintext; keeping the decoded key saves the
lookup and its decoding (~13 µs) on every later use. The cache is exact because every
change reaches it before an answer could read it:

- on SQLite, `PRAGMA data_version` moves whenever another connection commits (in this
  process or another worker): a moved version forgets everything (`SqlKeyRepository`
  reads it before trusting an entry, at most once a loop turn);
- on PostgreSQL, entries are kept only while the process is told of every change
  (store/change_notices.py: `notice`) and, through Redis, of other replicas' changes
  (`change_published`); a key read while a change was told is not kept (`generation`);
- a change this process writes forgets its key at once (`forget_key`).

A rolled key spends the balance of the key it was rolled into (`Credits.kept_by`): it is
forgotten with that key, and a balance written on the hot connection is copied into both
(`note_balance`: that connection's own commits do not move `data_version`). Unknown
hashes are never kept (no memory for strangers to fill); at most `SIZE` keys, the oldest
out first.
"""

from __future__ import annotations

from dataclasses import replace

from keyplane.ids import is_id
from keyplane.keys.changes import KeyChange
from keyplane.keys.model import StoredKey

SIZE = 10_000


class KeyCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        # Keys by hash; None marks a key found once and not kept yet (SQLite keeps a key
        # from its second use on: keeping it needs a version read before the lookup).
        self.kept: dict[bytes, StoredKey | None] = {}
        self._hash_of: dict[str, bytes] = {}  # key id → hash, for the keys kept
        self._followers: dict[str, set[str]] = {}  # keeper's id → ids of keys spending its balance
        self.read_at: dict[bytes, float] = {}  # PostgreSQL: when a kept key with credits was read
        # Counts the changes told: a key read while one was told may be the row from before it.
        self.generation = 0
        self.listening = False  # PostgreSQL: whether every change is being told

    def keep(self, key_hash: bytes, key: StoredKey | None) -> None:
        """Keep `key` (None: seen once) under `key_hash`, the oldest out when full."""
        kept = self.kept
        if len(kept) >= self.size and key_hash not in kept:
            oldest_hash = next(iter(kept))
            oldest = kept.pop(oldest_hash)
            self.read_at.pop(oldest_hash, None)
            if oldest is not None:
                self._hash_of.pop(oldest.id, None)
        kept[key_hash] = key
        if key is not None:
            self._hash_of[key.id] = key_hash
            credits = key.config.credits
            if credits is not None and credits.kept_by is not None:
                self._followers.setdefault(credits.kept_by, set()).add(key.id)

    def forget_key(self, key_id: str) -> None:
        """A key changed: it goes, and the keys that spend its balance."""
        self.generation += 1
        key_hash = self._hash_of.pop(key_id, None)
        if key_hash is not None:
            self.kept.pop(key_hash, None)
            self.read_at.pop(key_hash, None)
        for follower in self._followers.pop(key_id, ()):
            self.forget_key(follower)

    def forget_all(self) -> None:
        self.generation += 1
        self.kept.clear()
        self._hash_of.clear()
        self._followers.clear()
        self.read_at.clear()

    def note_balance(self, key_id: str, balance: int) -> None:
        """The balance key `key_id` keeps is `balance` now: in it and its followers."""
        self._note_balance(key_id, balance)
        for follower in self._followers.get(key_id, ()):
            self._note_balance(follower, balance)

    def _note_balance(self, key_id: str, balance: int) -> None:
        key_hash = self._hash_of.get(key_id)
        if key_hash is None:
            return
        kept = self.kept.get(key_hash)
        credits = kept.config.credits if kept is not None else None
        if kept is None or credits is None or credits.remaining == balance:
            return
        self.kept[key_hash] = replace(kept, config=replace(kept.config, credits=replace(
            credits, remaining=balance)))

    def set_listening(self, listening: bool) -> None:
        """PostgreSQL: whether this process is told of every key change now (a listener
        that just connected may have missed some, one that lost its connection will)."""
        self.forget_all()
        self.listening = listening

    def notice(self, payload: str) -> None:
        """PostgreSQL told of a change (store/change_notices.py): a key's id, or
        `api:<id>` for an API's roles; other notices are not about keys."""
        if payload.startswith("api:"):
            self.forget_all()  # rare (a role put or deleted): every key of the API, and others
        elif is_id(payload, "key"):
            self.forget_key(payload)

    def change_published(self, change: KeyChange) -> None:
        """The key-change hub's changes, this process's and, through Redis, the other
        replicas': an API's roles or the API itself changed, so every kept key goes; or one
        key changed, and it goes. Both before the change reaches a verifier's stream: a
        verifier told of another replica's revoke asks here at once, and Redis's message
        may come before PostgreSQL's notice, so a kept row would answer VALID (and be
        cached again by the verifier). A local write forgot its key already: harmless."""
        if change.key_id is None:
            self.forget_all()
        else:
            self.forget_key(change.key_id)
