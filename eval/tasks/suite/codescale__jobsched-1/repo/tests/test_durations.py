import datetime as dt

import pytest

from jobsched.durations import parse_duration


def seconds(text):
    return parse_duration(text).total_seconds()


def test_single_units():
    assert [seconds(t) for t in ["90s", "5m", "2h", "1d", "1w"]] == [90, 300, 7200, 86400, 604800]


def test_aliases():
    assert [seconds(t) for t in ["30 sec", "5 min", "5 mins", "2 hrs", "1 hour", "3 days", "10 seconds"]] == [
        30, 300, 300, 7200, 3600, 259200, 10,
    ]


def test_compound():
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("2 hours 15 minutes") == dt.timedelta(minutes=135)


def test_plain_number_is_seconds():
    assert seconds("45") == 45
    assert seconds("1.5") == 1.5


def test_rejects_garbage():
    for text in ["", "soon", "5 parsecs", "1h-30m"]:
        with pytest.raises(ValueError):
            parse_duration(text)
