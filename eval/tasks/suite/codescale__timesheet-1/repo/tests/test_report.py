import datetime as dt

from timesheet.entries import read_entries
from timesheet.report import render_report


def test_report_marks_weekends():
    text = render_report([], dt.date(2024, 3, 1), dt.date(2024, 3, 4))
    assert "2024-03-02  Sat   0.00  (weekend)" in text.splitlines()
