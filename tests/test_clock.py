"""The RFC 3339 renderings of a time agree, whichever form the time comes in."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from keyplane.clock import rfc3339, rfc3339_epoch


# Up to 2038 (2**31 s), where a float holds a time to ~0.24 µs: times 0.1 µs off a whole
# microsecond are then clear of the half-way ties, where the two roundings may differ.
@given(st.integers(min_value=0, max_value=2**31 * 10**6))
def test_rfc3339_of_epoch_seconds_is_that_of_the_datetime(micros):
    for seconds in (micros / 1e6, (micros + 0.1) / 1e6, (micros - 0.1) / 1e6):
        assert rfc3339_epoch(seconds) == rfc3339(datetime.fromtimestamp(round(seconds, 6), UTC))


def test_rfc3339_of_epoch_seconds_reads_as_expected():
    assert rfc3339_epoch(datetime(2026, 1, 1, 0, 0, 20, tzinfo=UTC).timestamp()) == "2026-01-01T00:00:20.000Z"
    assert rfc3339_epoch(datetime(2026, 1, 1, 0, 0, 19, 999_999, tzinfo=UTC).timestamp()) == "2026-01-01T00:00:19.999Z"
    assert rfc3339_epoch(0.0015) == "1970-01-01T00:00:00.001Z"
    assert rfc3339_epoch(1_767_225_599.9999996) == "2026-01-01T00:00:00.000Z"  # rounds up into the next second
