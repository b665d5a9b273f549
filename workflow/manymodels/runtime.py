"""What the Snakefile does when a run starts (its `onstart:` handler)."""

from __future__ import annotations

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


def on_start(workflow) -> None:
    """Record the run (for stale-lock recovery and cache statistics); unthrottle local scheduling."""
    write_run_marker()
    if workflow.local_exec:
        disable_job_rate_limit(getattr(workflow, "scheduler", None))
