import datetime as dt

from timesheet.billing import billable_days, invoice_amount
from timesheet.dates import month_bounds


def test_billable_days_in_month():
    assert billable_days(*month_bounds(2024, 3)) == 21


def test_invoice_amount():
    assert invoice_amount(2024, 2, 100.0) == 2100.0


def test_consecutive_periods_do_not_overlap():
    # billing periods share their boundary day: it must be billed exactly once
    first = billable_days(dt.date(2024, 3, 1), dt.date(2024, 3, 15))
    second = billable_days(dt.date(2024, 3, 15), dt.date(2024, 4, 1))
    assert first + second == billable_days(*month_bounds(2024, 3))
