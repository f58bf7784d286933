"""The daily hours report."""

from __future__ import annotations

import datetime as dt

from timesheet.dates import days_between, is_weekday
from timesheet.entries import Entry, hours_by_day


def report_rows(entries: list[Entry], first: dt.date, last: dt.date) -> list[tuple[dt.date, float]]:
    """(day, hours) for each day from `first` to `last`."""
    hours = hours_by_day(entries)
    return [(day, hours.get(day, 0.0)) for day in days_between(first, last)]


def render_report(entries: list[Entry], first: dt.date, last: dt.date) -> str:
    rows = report_rows(entries, first, last)
    lines = []
    for day, hours in rows:
        mark = "" if is_weekday(day) else "  (weekend)"
        lines.append(f"{day.isoformat()}  {day.strftime('%a')}  {hours:5.2f}{mark}")
    lines.append(f"total {sum(hours for _, hours in rows):.2f}")
    return "\n".join(lines)
