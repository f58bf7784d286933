"""Date ranges. Ranges are half-open, like Python's range(): [start, end)."""

from __future__ import annotations

import datetime as dt

ONE_DAY = dt.timedelta(days=1)


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from `start` up to, but not including, `end`."""
    days = []
    day = start
    while day < end:
        days.append(day)
        day += ONE_DAY
    return days


def is_weekday(day: dt.date) -> bool:
    return day.weekday() < 5


def weekdays_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """The Monday-to-Friday dates of [start, end)."""
    return [day for day in days_between(start, end) if is_weekday(day)]


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    """The half-open range of a month: its first day and the first day of the next month."""
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following
