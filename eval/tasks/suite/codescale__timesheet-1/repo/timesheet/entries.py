"""Time entries from CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    day: dt.date
    hours: float
    note: str = ""


def read_entries(text: str) -> list[Entry]:
    reader = csv.DictReader(io.StringIO(text))
    return [Entry(dt.date.fromisoformat(row["date"]), float(row["hours"]), row.get("note", "")) for row in reader]


def hours_by_day(entries: list[Entry]) -> dict[dt.date, float]:
    totals: dict[dt.date, float] = defaultdict(float)
    for entry in entries:
        totals[entry.day] += entry.hours
    return dict(totals)
