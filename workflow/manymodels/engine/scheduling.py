"""What the Snakefile does when a run starts (its `onstart:` handler): record the run, and make
Snakemake's scheduling passes cheap (see :mod:`.internals`)."""

from __future__ import annotations

from .internals import disable_job_rate_limit, lighten_scheduling, reentrant_scheduler_lock, sigint_stops_gracefully
from .locks import write_run_marker


def on_start(workflow, experiment: str) -> None:
    """Record when the run started (for the report and the run summary); unthrottle local scheduling,
    and let a stop request through whatever the scheduler is doing."""
    write_run_marker(experiment)
    scheduler = getattr(workflow, "scheduler", None)
    if scheduler is not None:
        lighten_scheduling(scheduler)
        reentrant_scheduler_lock(scheduler)  # a SIGTERM must not deadlock the run
        sigint_stops_gracefully(scheduler)  # nor a SIGINT end it with a traceback
    if workflow.local_exec:
        disable_job_rate_limit(scheduler)
