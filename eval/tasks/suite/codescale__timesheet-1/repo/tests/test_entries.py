import datetime as dt

from timesheet.entries import hours_by_day, read_entries

CSV = "date,hours,note\n2024-03-04,3.5,design\n2024-03-04,2,review\n2024-03-05,8,\n"


def test_read_entries():
    entries = read_entries(CSV)
    assert [(e.day, e.hours, e.note) for e in entries][0] == (dt.date(2024, 3, 4), 3.5, "design")


def test_hours_by_day():
    assert hours_by_day(read_entries(CSV)) == {dt.date(2024, 3, 4): 5.5, dt.date(2024, 3, 5): 8.0}
