import datetime as dt

from jobsched import Job, Scheduler
from jobsched.clock import ManualClock

START = dt.datetime(2024, 6, 1, 12, 0, 0)


def flaky(failures):
    calls = []

    def action():
        calls.append(1)
        if len(calls) <= failures:
            raise RuntimeError("flaky")

    return action, calls


def test_interval_job_runs_repeatedly():
    clock = ManualClock(START)
    scheduler = Scheduler(clock)
    runs = []
    scheduler.add(Job("tick", lambda: runs.append(clock.now()), interval="90s"))
    for _ in range(3):
        scheduler.run_pending()
        clock.advance(dt.timedelta(seconds=90))
    assert runs == [START, START + dt.timedelta(seconds=90), START + dt.timedelta(seconds=180)]


def test_failed_job_is_retried_after_delay():
    clock = ManualClock(START)
    scheduler = Scheduler(clock)
    action, calls = flaky(1)
    scheduler.add(Job("sync", action, retry_delay="2 min"))
    scheduler.run_pending()
    assert scheduler.upcoming() == [(START + dt.timedelta(minutes=2), "sync")]
    clock.advance(dt.timedelta(minutes=2))
    scheduler.run_pending()
    assert [h[2] for h in scheduler.history] == ["failed", "ok"]


def test_gives_up_after_max_attempts():
    clock = ManualClock(START)
    scheduler = Scheduler(clock)
    action, calls = flaky(10)
    scheduler.add(Job("sync", action, retry_delay="1s", max_attempts=2))
    for _ in range(3):
        scheduler.run_pending()
        clock.advance(dt.timedelta(seconds=1))
    assert len(calls) == 2
    assert scheduler.history[-1][2] == "gave up"
    assert scheduler.upcoming() == []


def test_upcoming_is_sorted():
    scheduler = Scheduler(ManualClock(START))
    scheduler.add(Job("late", lambda: None), at=START + dt.timedelta(hours=1))
    scheduler.add(Job("early", lambda: None), at=START + dt.timedelta(minutes=1))
    assert [name for _, name in scheduler.upcoming()] == ["early", "late"]
