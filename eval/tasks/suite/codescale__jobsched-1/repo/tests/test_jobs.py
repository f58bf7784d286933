import pytest

from jobsched.jobs import Job


def test_job_validates_durations():
    with pytest.raises(ValueError):
        Job("x", lambda: None, interval="every day")
    assert Job("y", lambda: None, interval="1m").interval_delta.total_seconds() == 60
