"""Exposure response: revoke a key at once and report what it did recently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from keyplane.audit import events
from keyplane.audit.events import Actor
from keyplane.keys.model import StoredKey
from keyplane.keys.service import KeyService
from keyplane.usage.events import Activity
from keyplane.usage.queries import UsageQueries
from keyplane.usage.recorder import UsageRecorder


@dataclass(frozen=True, slots=True)
class ExposureReport:
    key: StoredKey
    activity: Activity


class Exposure:
    def __init__(self, keys: KeyService, recorder: UsageRecorder, usage: UsageQueries) -> None:
        self._keys = keys
        self._recorder = recorder
        self._usage = usage

    async def expose(self, actor: Actor, key_id: str, *, since: datetime | None) -> ExposureReport:
        """Revoke first (nothing waits on the report), then flush this process's buffered
        usage so the report includes the latest verifications, then read the activity.
        Other replicas' buffers reach the store within their flush interval."""
        key = await self._keys.revoke_key(actor, key_id, action=events.KEY_EXPOSE)
        await self._recorder.flush()
        return ExposureReport(key=key, activity=await self._usage.activity(key.id, since=since))
