"""Usage credits: a balance spent by verifications, refilled on a schedule.

A refill sets the balance back to `amount` at each period boundary (midnight UTC for
`daily`, the first of the month for `monthly`, every `interval_seconds` counted from the
key's creation otherwise). The store applies a due refill and the spend in one atomic
statement, so concurrent verifications can never overspend.

Rolling a key moves its balance to the new key and points the old one at it
(`Credits.kept_by`): during the grace period both keys spend the one balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from keyplane.keys.model import Refill, StoredKey


def refill_boundary(refill: Refill | None, *, created_at: datetime, now: datetime) -> datetime | None:
    """The start of the refill period `now` falls in; None without a refill."""
    if refill is None:
        return None
    if refill.interval == "daily":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if refill.interval == "monthly":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert refill.interval_seconds is not None
    periods = (now - created_at) // timedelta(seconds=refill.interval_seconds)
    return created_at + periods * timedelta(seconds=refill.interval_seconds)


def balance_of(key: StoredKey) -> tuple[str, datetime]:
    """Where `key`'s balance is kept and when its interval refills count from: the key
    itself and its creation, or, for a key that was rolled, the key it was rolled into
    (both keys spend one balance during the grace period)."""
    credits = key.config.credits
    if credits is not None and credits.kept_by is not None and credits.kept_since is not None:
        return credits.kept_by, credits.kept_since
    return key.id, key.created_at


def key_boundary(key: StoredKey, now: datetime) -> datetime | None:
    """`refill_boundary` of `key`'s credits (None without credits or a refill)."""
    credits = key.config.credits
    if credits is None or credits.refill is None:
        return None
    return refill_boundary(credits.refill, created_at=balance_of(key)[1], now=now)


@dataclass(frozen=True, slots=True)
class Taken:
    """What a spend left: the balance, and its generation — the refill boundary last applied
    (a `PATCH` of the credits sets it too), so a later give-back can tell whether the
    balance it took from still exists."""

    balance: int
    generation: datetime | None


class CreditLedger(Protocol):
    async def spend(self, key: StoredKey, cost: int, now: datetime) -> tuple[bool, int]:
        """Spend `cost` credits of `key`, applying a due refill first: (whether it was spent,
        the balance now). Nothing is spent when too few remain."""
        ...


class CreditStore(CreditLedger, Protocol):
    """Where balances are kept and spent atomically (store/credits.py)."""

    async def take(self, key: StoredKey, amount: int, now: datetime) -> Taken | None:
        """Spend `amount`, as `spend`; None when fewer remain."""
        ...

    async def give_back(self, key_id: str, amount: int, generation: datetime | None) -> int | None:
        """Add `amount` back unless the balance was set or refilled since `generation`:
        the balance then, or None when nothing went back."""
        ...
