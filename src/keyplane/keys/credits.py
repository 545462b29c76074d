"""Usage credits: a balance spent by verifications, refilled on a schedule.

A refill sets the balance back to `amount` at each period boundary (midnight UTC for
`daily`, the first of the month for `monthly`, every `interval_seconds` counted from the
key's creation otherwise). The store applies a due refill and the spend in one atomic
statement, so concurrent verifications can never overspend.
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

    async def give_back(self, key_id: str, amount: int, generation: datetime | None) -> None:
        """Add `amount` back unless the balance was set or refilled since `generation`."""
        ...
