"""Times as the service writes them: read (any digits, any zone) and written (cached by the
second, yet the exact microsecond ``datetime`` gives)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from dagbatch.servicetime import parse_service_time, service_time


def test_service_times_parse_with_seven_digits_and_a_zone() -> None:
    assert parse_service_time("2016-11-21T22:43:31.4733476Z") == datetime(
        2016, 11, 21, 22, 43, 31, 473347, tzinfo=UTC
    )
    assert parse_service_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_service_time("2026-01-01T00:00:00.5+02:00") == datetime(
        2026, 1, 1, 0, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_service_time("not a time") is None and parse_service_time(None) is None


def test_a_time_is_written_the_service_s_way() -> None:
    assert service_time(0.0) == "1970-01-01T00:00:00.000000Z"
    assert service_time(1_764_417_600.25) == "2025-11-29T12:00:00.250000Z"
    # A fraction that rounds up to the next second carries into it.
    assert service_time(1_764_417_600.9999996) == "2025-11-29T12:00:01.000000Z"


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_a_written_time_is_datetime_s_to_the_microsecond(epoch: float) -> None:
    written = service_time(epoch)
    again = service_time(epoch)  # from the cache of its second, the same
    assert written == again
    parsed = parse_service_time(written)
    assert parsed is not None
    exact = datetime.fromtimestamp(epoch, UTC)
    assert abs(parsed - exact) <= timedelta(microseconds=1)
    assert written.endswith("Z") and len(written) == len("2025-11-29T12:00:00.000000Z")
