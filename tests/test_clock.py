"""The RFC 3339 renderings of a time agree, whichever form the time comes in."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from keyplane.clock import rfc3339, rfc3339_epoch


@given(st.floats(min_value=0, max_value=4_102_444_800))  # 1970 to 2100
def test_rfc3339_of_epoch_seconds_is_that_of_the_datetime(seconds):
    assert rfc3339_epoch(seconds) == rfc3339(datetime.fromtimestamp(round(seconds, 6), UTC))


@given(st.integers(min_value=1_700_000_000, max_value=1_900_000_000), st.integers(0, 999_999))
def test_rfc3339_of_epoch_seconds_at_microsecond_ties(whole, micros):
    for seconds in (whole + micros / 1e6, whole + (micros + 0.5) / 1e6, whole + (micros + 0.4999) / 1e6):
        assert rfc3339_epoch(seconds) == rfc3339(datetime.fromtimestamp(round(seconds, 6), UTC))


def test_rfc3339_of_epoch_seconds_reads_as_expected():
    assert rfc3339_epoch(datetime(2026, 1, 1, 0, 0, 20, tzinfo=UTC).timestamp()) == "2026-01-01T00:00:20.000Z"
    assert rfc3339_epoch(0.0015) == "1970-01-01T00:00:00.001Z"
