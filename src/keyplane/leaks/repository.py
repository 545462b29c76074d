"""What the leak service needs from storage (store/leaks.py implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredReport:
    token_hash: str
    token_type: str
    label: str
    key_id: str | None


class LeakRepository(Protocol):
    async def get(self, token_hash: str) -> StoredReport | None: ...

    async def remember(self, report: StoredReport, *, url: str | None, at: datetime) -> None: ...

    async def client_by_secret_hash(self, secret_hash: bytes, now: datetime) -> str | None: ...
