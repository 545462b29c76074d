"""Verifications sent with an `idempotency_key`: the same request again gets the same answer.

An API that verifies a key, fails to read the answer and asks again (a timeout, a retry
policy) would otherwise be charged twice: a second credit spent, a second rate-limit token,
a second usage record. With the same `idempotency_key`, the retry within
`REPLAY_SECONDS` is answered with the verdict of the first request, and nothing is
charged, counted or recorded again. The same key with another request (another API key,
`api_id`, `permissions`, `cost` or `ip`) is refused: it is a client's bug, not a retry.

Answers are kept by the process that gave them (at most `KEPT` of them, the oldest out
first): a retry that reaches another worker or replica is a new verification. Idempotency
keys are the caller's: one root key's cannot replay another's answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from keyplane.errors import Invalid
from keyplane.keys.model import Verdict

REPLAY_SECONDS = 300.0
KEPT = 10_000


@dataclass(frozen=True, slots=True)
class _Kept:
    request: tuple[object, ...]  # what the answer was for
    verdict: Verdict
    until: float


class Replays:
    """The answers kept for replay, by (caller, idempotency key)."""

    def __init__(self, *, seconds: float = REPLAY_SECONDS, kept: int = KEPT) -> None:
        self._seconds = seconds
        self._max = kept
        self._answers: dict[tuple[str, str], _Kept] = {}

    def answer(self, caller: str, idempotency_key: str, request: tuple[object, ...]) -> Verdict | None:
        """The verdict given to this request before, or None when it is a new one; raises
        Invalid when the key was used for another request."""
        kept = self._answers.get((caller, idempotency_key))
        if kept is None or kept.until <= time.monotonic():
            return None
        if kept.request != request:
            raise Invalid.field("idempotency_key", "was used for another verification request")
        return kept.verdict

    def keep(self, caller: str, idempotency_key: str, request: tuple[object, ...],
             verdict: Verdict) -> None:
        answers = self._answers
        now = time.monotonic()
        while len(answers) >= self._max:
            oldest = next(iter(answers))
            del answers[oldest]
        answers.pop((caller, idempotency_key), None)  # a kept one that expired: to the end
        answers[(caller, idempotency_key)] = _Kept(request, verdict, now + self._seconds)
