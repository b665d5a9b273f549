"""Lighter scheduling passes for Snakemake 9, applied when a run starts (the `onstart:` handler)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from .locks import write_run_marker


def disable_job_rate_limit(scheduler) -> bool:
    """Turn off Snakemake's job-rate limiter; return whether there was one to turn off.

    For every pass of its scheduling loop, the limiter arms a timer that runs another pass a
    timespan later, so passes multiply with the jobs already done; on thousands of short local
    jobs that costs more than the jobs themselves (see benchmarks/). It exists to keep cluster
    queues from being flooded, so only local runs turn it off.
    """
    if getattr(scheduler, "job_rate_limiter", None) is None:
        return False
    scheduler.job_rate_limiter = None
    return True


class LazyJobList(Sequence):
    """A list computed on first use: Snakemake's list of remaining jobs, which the greedy
    scheduler is handed on every pass but never reads."""

    def __init__(self, compute: Callable[[], list]):
        self._compute = compute
        self._jobs: list | None = None

    @property
    def jobs(self) -> list:
        if self._jobs is None:
            self._jobs = list(self._compute())
        return self._jobs

    def __getitem__(self, index):
        return self.jobs[index]

    def __len__(self) -> int:
        return len(self.jobs)


def lighten_scheduling(scheduler) -> bool:
    """Take the two per-pass walks over every job out of Snakemake's scheduling loop; return
    whether the scheduler was changed.

    On every pass (one per finished job), Snakemake (9.x) lists every job that still has to run
    (``remaining_jobs``), and copies and resets every ready job (``open_jobs``) before it draws
    ``--scheduler-subsample`` of them. On the large grid 9,500 fit jobs are ready at once, so both
    walks made scheduling quadratic in the size of the DAG (minutes). Here ``remaining_jobs`` is
    computed only when read (the ILP scheduler and the end-of-run check for stuck jobs read it, and
    get the full list), and with a subsample set the draw happens first, so only the jobs drawn are
    copied and reset. A dry run still lists every ready job.
    """
    cls = type(scheduler)
    remaining, open_jobs = getattr(cls, "remaining_jobs", None), getattr(cls, "open_jobs", None)
    if not (isinstance(remaining, property) and isinstance(open_jobs, property)) or getattr(cls, "_lightened", False):
        return False

    def drawn_open_jobs(self):
        ready = self.workflow.dag.ready_jobs
        if self.subsample and not self.dryrun and len(ready) > self.subsample:
            return random.sample(tuple(ready), k=self.subsample)
        return open_jobs.fget(self)

    scheduler.__class__ = type(cls.__name__, (cls,), {
        "remaining_jobs": property(lambda self: LazyJobList(lambda: remaining.fget(self))),
        "open_jobs": property(drawn_open_jobs),
        "_lightened": True,
        "__module__": cls.__module__,
    })
    return True


def on_start(workflow, experiment: str) -> None:
    """Record when the run started (for the report and the run summary); unthrottle local scheduling."""
    write_run_marker(experiment)
    scheduler = getattr(workflow, "scheduler", None)
    if scheduler is not None:
        lighten_scheduling(scheduler)
    if workflow.local_exec:
        disable_job_rate_limit(scheduler)
