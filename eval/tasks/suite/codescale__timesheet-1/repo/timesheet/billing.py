"""Invoices: weekdays of a billing period at a day rate."""

from __future__ import annotations

import datetime as dt

from timesheet.dates import month_bounds, weekdays_between


def billable_days(start: dt.date, end: dt.date) -> int:
    """Weekdays in the billing period [start, end)."""
    return len(weekdays_between(start, end))


def invoice_amount(year: int, month: int, day_rate: float) -> float:
    start, end = month_bounds(year, month)
    return billable_days(start, end) * day_rate
