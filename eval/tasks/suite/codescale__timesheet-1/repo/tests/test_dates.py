import datetime as dt

from timesheet.dates import days_between, month_bounds, weekdays_between


def test_days_between_is_half_open():
    assert days_between(dt.date(2024, 2, 27), dt.date(2024, 3, 1)) == [
        dt.date(2024, 2, 27), dt.date(2024, 2, 28), dt.date(2024, 2, 29),
    ]


def test_days_between_empty():
    assert days_between(dt.date(2024, 1, 5), dt.date(2024, 1, 5)) == []


def test_weekdays():
    assert len(weekdays_between(dt.date(2024, 3, 4), dt.date(2024, 3, 11))) == 5


def test_month_bounds():
    assert month_bounds(2024, 12) == (dt.date(2024, 12, 1), dt.date(2025, 1, 1))
