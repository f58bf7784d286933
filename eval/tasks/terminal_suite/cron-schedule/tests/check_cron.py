"""Reads /app/crontab (5 time fields, then the command) and compares the times each job fires in one week
with the schedule the task asks for."""
import datetime, sys

def field(spec, low, high):
    values = set()
    for part in spec.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            start, stop = low, high
        elif "-" in rng:
            start, stop = map(int, rng.split("-"))
        else:
            start = stop = int(rng)
        values.update(range(start, stop + 1, int(step) if step else 1))
    return values

def fires(line, times):
    minute, hour, dom, month, dow = line.split()[:5]
    m, h, d, mo, w = field(minute, 0, 59), field(hour, 0, 23), field(dom, 1, 31), field(month, 1, 12), field(dow, 0, 7)
    w = {0 if x == 7 else x for x in w}
    day_any, dow_any = dom == "*", dow == "*"
    out = []
    for t in times:
        cron_dow = (t.weekday() + 1) % 7
        day_ok = (t.day in d and cron_dow in w) if (day_any or dow_any) else (t.day in d or cron_dow in w)
        if t.minute in m and t.hour in h and t.month in mo and day_ok:
            out.append(t)
    return out

start = datetime.datetime(2026, 6, 1)  # a Monday, the first of a month
times = [start + datetime.timedelta(minutes=i) for i in range(8 * 24 * 60)]
want = {
    "/app/jobs/backup.sh": [t for t in times if (t.hour, t.minute) == (2, 30)],
    "/app/jobs/rotate.sh": [t for t in times if t.weekday() < 5 and t.minute % 15 == 0],
    "/app/jobs/report.sh": [t for t in times if t.day == 1 and (t.hour, t.minute) == (9, 0)],
}
try:
    lines = [l for l in open("/app/crontab").read().splitlines() if l.strip() and not l.lstrip().startswith("#")]
except OSError as e:
    sys.exit(f"no crontab: {e}")
got = {}
for line in lines:
    parts = line.split()
    if len(parts) < 6:
        sys.exit(f"not a crontab line: {line!r}")
    try:
        got.setdefault(parts[5], []).extend(fires(line, times))
    except ValueError:
        sys.exit(f"bad time fields: {line!r}")
for job, expected in want.items():
    if sorted(got.get(job, [])) != expected:
        sys.exit(f"{job} fires {len(got.get(job, []))} times in the week, expected {len(expected)}")
if set(got) != set(want):
    sys.exit(f"unexpected jobs: {sorted(set(got) - set(want))}")
