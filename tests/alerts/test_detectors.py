"""The verification detector as a pure function of batches: thresholds, windows, memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keyplane.alerts.detectors import VerificationDetector
from keyplane.usage.events import UsageEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(code: str, *, ip: str | None = "198.51.100.1", key_id: str | None = None,
          at: datetime = T0) -> UsageEvent:
    return UsageEvent(time=at, key_id=key_id, api_id="api_x" if key_id else None, owner_id=None,
                      code=code, ip=ip, user_agent=None)


def test_nineteen_unknown_keys_are_quiet_and_the_twentieth_reports_the_burst() -> None:
    detector = VerificationDetector(enumeration_threshold=20, window_seconds=60)
    assert detector.observe([event("NOT_FOUND")] * 19) == []
    [signal] = detector.observe([event("MALFORMED", at=T0 + timedelta(seconds=1))])
    assert (signal.type, signal.subject_kind, signal.subject_id, signal.count) == \
        ("key.enumeration", "ip", "198.51.100.1", 20)
    # Later batches of the same burst add what they hold.
    [more] = detector.observe([event("NOT_FOUND", at=T0 + timedelta(seconds=2))] * 5)
    assert more.count == 5


def test_a_slow_trickle_never_crosses_the_threshold() -> None:
    detector = VerificationDetector(enumeration_threshold=20, window_seconds=60)
    for minute in range(30):
        assert detector.observe([event("NOT_FOUND", at=T0 + timedelta(minutes=minute))] * 5) == []


def test_a_burst_across_a_window_boundary_is_still_seen() -> None:
    detector = VerificationDetector(enumeration_threshold=20, window_seconds=60)
    assert detector.observe([event("NOT_FOUND", at=T0 + timedelta(seconds=55))] * 15) == []
    [signal] = detector.observe([event("NOT_FOUND", at=T0 + timedelta(seconds=65))] * 15)
    assert signal.count >= 20


def test_valid_verifications_and_unknown_keys_without_an_address_count_for_nothing() -> None:
    detector = VerificationDetector(enumeration_threshold=2, window_seconds=60)
    assert detector.observe([event("VALID", key_id="key_a")] * 50 + [event("NOT_FOUND", ip=None)] * 50) == []
    assert detector.tracked_addresses == 0


def test_revoked_and_expired_keys_are_summed_by_key_with_their_addresses() -> None:
    detector = VerificationDetector()
    signals = detector.observe([event("REVOKED", key_id="key_a", ip=f"203.0.113.{i % 3}") for i in range(7)]
                               + [event("EXPIRED", key_id="key_b")])
    by_type = {s.type: s for s in signals}
    assert by_type["key.revoked_used"].count == 7 and by_type["key.revoked_used"].subject_id == "key_a"
    assert by_type["key.revoked_used"].details["ips"] == ["203.0.113.0", "203.0.113.1", "203.0.113.2"]
    assert by_type["key.expired_used"].subject_id == "key_b"


def test_an_address_flood_keeps_memory_bounded_and_evicts_the_least_recent() -> None:
    detector = VerificationDetector(enumeration_threshold=3, window_seconds=60, max_addresses=100)
    detector.observe([event("NOT_FOUND", ip="192.0.2.1")] * 2)
    for n in range(10):
        detector.observe([event("NOT_FOUND", ip=f"10.{n}.{i // 250}.{i % 250}") for i in range(1000)])
        assert detector.tracked_addresses <= 100
    # The address seen first was evicted: its count starts again.
    assert detector.observe([event("NOT_FOUND", ip="192.0.2.1")]) == []
