from jobsched.jobs import Job
from jobsched.scheduler import Scheduler

__all__ = ["Job", "Scheduler"]
