"""Cluster execution: what changes when jobs run on Slurm nodes instead of the local pool.

A grouped submission must run as one warm process on its node (the two fixes in :mod:`.internals`,
applied each in the process where it matters).
"""

from __future__ import annotations

from .internals import pass_group_settings_to_slurm_jobs, run_jobs_in_threads


def adapt_cluster_execution(workflow) -> None:
    """Pass group settings to Slurm jobs (main process); run `run:` jobs in threads (node side)."""
    if workflow.is_main_process:
        pass_group_settings_to_slurm_jobs()
    elif workflow.remote_exec:
        run_jobs_in_threads()
