"""Dating device log lines: device wall time, age at sending, and wrong clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

from openvisor.cloud.service.logs import device_log_time

RECEIVED = datetime(2026, 6, 1, 12, 0, 0)
RECEIVED_UNIX_US = int((RECEIVED - datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def test_wall_time_used_first() -> None:
    logged = device_log_time(RECEIVED, unix_micros=RECEIVED_UNIX_US - 5_000_000, age_us=1)
    assert logged == RECEIVED - timedelta(seconds=5)


def test_age_dates_back_from_receipt() -> None:
    logged = device_log_time(RECEIVED, unix_micros=None, age_us=2_500_000)
    assert logged == RECEIVED - timedelta(seconds=2.5)


def test_no_time_information() -> None:
    assert device_log_time(RECEIVED, unix_micros=None, age_us=None) is None


def test_negative_age_rejected() -> None:
    assert device_log_time(RECEIVED, unix_micros=None, age_us=-1) is None


def test_wrong_clock_rejected() -> None:
    far_future = RECEIVED_UNIX_US + 2 * 86_400 * 1_000_000
    assert device_log_time(RECEIVED, unix_micros=far_future, age_us=None) is None
    assert device_log_time(RECEIVED, unix_micros=0, age_us=None) is None
    assert device_log_time(RECEIVED, unix_micros=2**63, age_us=None) is None
    assert device_log_time(RECEIVED, unix_micros=-(2**63), age_us=None) is None
