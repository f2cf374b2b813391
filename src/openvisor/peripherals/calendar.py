"""Calendar arithmetic of the STM32U5 RTC: BCD time and date registers and alarm matching.

Calendar time is a count of seconds since 2000-01-01 00:00:00, the RTC's
reset date. Two BCD year digits cover 2000-2099. Register layouts are those
of RM0456 (RTC_TR, RTC_DR, RTC_ALRMAR).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

EPOCH_2000 = datetime(2000, 1, 1)
UNIX_2000_S = 946_684_800
"""Seconds from the Unix epoch to 2000-01-01 00:00:00 UTC."""
SECONDS_PER_DAY = 86_400
MAX_RESTORED_S = 220_898_707_200
"""Seconds from 2000-01-01 to 9000-01-01: the latest calendar time a saved RTC state may
hold. The years wrap at the two BCD digits, and ``datetime`` stops at year 9999."""
MAX_ALARM_SEARCH_STEPS = 4_096
"""Maximum steps of the alarm search. Each step moves to the next candidate second,
minute, hour or day, so two months of candidates take a few hundred steps."""

# RTC_ALRMAR mask bits: seconds, minutes, hours, date or weekday "don't care".
ALRMAR_MSK1 = 1 << 7
ALRMAR_MSK2 = 1 << 15
ALRMAR_MSK3 = 1 << 23
ALRMAR_MSK4 = 1 << 31
ALRMAR_WDSEL = 1 << 30
ALRMAR_PM = 1 << 22


def _bcd(value: int) -> int:
    return ((value // 10) << 4) | (value % 10)


def _from_bcd(value: int) -> int:
    return ((value >> 4) & 0xF) * 10 + (value & 0xF)


@dataclass(frozen=True)
class CalendarFields:
    """Decoded RTC_TR and RTC_DR fields."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int
    """1 = Monday ... 7 = Sunday, as the RTC's WDU field."""


def datetime_at(seconds: int) -> datetime:
    """Return the calendar date and time ``seconds`` after 2000-01-01 00:00:00."""
    return EPOCH_2000 + timedelta(seconds=seconds)


def encode_time(moment: datetime) -> int:
    """Return RTC_TR for ``moment`` in 24-hour format."""
    return _bcd(moment.hour) << 16 | _bcd(moment.minute) << 8 | _bcd(moment.second)


def encode_date(moment: datetime, weekday: int) -> int:
    """Return RTC_DR for ``moment`` with weekday ``weekday`` (1-7)."""
    return (
        _bcd(moment.year % 100) << 16
        | (weekday & 7) << 13
        | _bcd(moment.month) << 8
        | _bcd(moment.day)
    )


def decode(tr: int, dr: int) -> CalendarFields:
    """Decode RTC_TR and RTC_DR. A 12-hour PM time counts 12 hours on."""
    hour = _from_bcd((tr >> 16) & 0x3F)
    if tr & (1 << 22) and hour < 12:
        hour += 12
    return CalendarFields(
        year=2000 + _from_bcd((dr >> 16) & 0xFF),
        month=_from_bcd((dr >> 8) & 0x1F),
        day=_from_bcd(dr & 0x3F),
        hour=hour,
        minute=_from_bcd((tr >> 8) & 0x7F),
        second=_from_bcd(tr & 0x7F),
        weekday=(dr >> 13) & 7,
    )


def seconds_of(fields: CalendarFields) -> int | None:
    """Return seconds since 2000-01-01 for decoded fields, or None for an invalid date."""
    try:
        moment = datetime(
            fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second
        )
    except ValueError:
        return None
    return int((moment - EPOCH_2000).total_seconds())


def alarm_matches(alarm: int, moment: datetime, weekday: int) -> bool:
    """Tell whether RTC_ALRMAR ``alarm`` matches ``moment`` (sub-seconds are not compared)."""
    if not alarm & ALRMAR_MSK1 and _from_bcd(alarm & 0x7F) != moment.second:
        return False
    if not alarm & ALRMAR_MSK2 and _from_bcd((alarm >> 8) & 0x7F) != moment.minute:
        return False
    if not alarm & ALRMAR_MSK3 and _alarm_hour(alarm) != moment.hour:
        return False
    if not alarm & ALRMAR_MSK4:
        if alarm & ALRMAR_WDSEL:
            return (alarm >> 24) & 0xF == weekday
        return _from_bcd((alarm >> 24) & 0x3F) == moment.day
    return True


def _alarm_hour(alarm: int) -> int:
    hour = _from_bcd((alarm >> 16) & 0x3F)
    if alarm & ALRMAR_PM and hour < 12:
        hour += 12
    return hour


def next_alarm_second(
    alarm: int, after_seconds: int, weekday_of: Callable[[int], int], limit_seconds: int
) -> int | None:
    """Return the first calendar second after ``after_seconds`` that ``alarm`` matches.

    The search jumps from one candidate to the next (the next matching second,
    then minute, hour or day) and gives up after ``limit_seconds`` or
    :data:`MAX_ALARM_SEARCH_STEPS` steps, returning None (an alarm that never
    matches, e.g. date 31 with the calendar in a 30-day month for too long).
    """
    candidate = after_seconds + 1
    end = after_seconds + limit_seconds
    for _ in range(MAX_ALARM_SEARCH_STEPS):
        if candidate > end:
            return None
        moment = datetime_at(candidate)
        if alarm_matches(alarm, moment, weekday_of(candidate)):
            return candidate
        candidate += _skip_to_next_candidate(alarm, moment)
    return None


def _skip_to_next_candidate(alarm: int, moment: datetime) -> int:
    """Return the seconds to the next moment whose first mismatching field could match."""
    second_of_day = moment.hour * 3600 + moment.minute * 60 + moment.second
    if not alarm & ALRMAR_MSK1 and _from_bcd(alarm & 0x7F) != moment.second:
        return (_from_bcd(alarm & 0x7F) - moment.second) % 60 or 60
    if not alarm & ALRMAR_MSK2 and _from_bcd((alarm >> 8) & 0x7F) != moment.minute:
        return 60 - moment.second
    if not alarm & ALRMAR_MSK3 and _alarm_hour(alarm) != moment.hour:
        return 3600 - (second_of_day % 3600)
    return SECONDS_PER_DAY - second_of_day
